"""Accounts: the signed-in account, profiles, lookup and search, follows and follow requests."""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q

from node.api.entities import (
    StatusRenderer,
    account_entity,
    credential_account_entity,
    relationships,
)
from node.api.errors import ApiError, record_not_found
from node.api.routing import Call, Paged, Router
from node.models import Account, Follow
from node.services import accounts as account_service
from node.services import follows, timelines
from node.site import Site

router = Router()

SEARCH_LIMIT = 40


def parse_id(raw: str) -> int:
    """A numeric id from the path; anything else is a 404 (as an unknown id is)."""
    if not raw.isdigit() or len(raw) > 20:
        raise record_not_found()
    return int(raw)


async def account_by_id(raw: str) -> Account:
    account = await Account.get_or_none(id=parse_id(raw), disabled=False)
    if account is None:
        raise record_not_found()
    return account


def split_acct(acct: str, site: Site) -> tuple[str, str]:
    """``(username, domain)`` of ``user``, ``@user`` or ``user@domain``; domain "" is local."""
    username, _, domain = acct.strip().lstrip("@").partition("@")
    domain = domain.lower()
    return username, "" if domain in ("", site.domain) else domain


async def find_by_acct(site: Site, acct: str, *, resolve: bool) -> Account | None:
    """The account of a handle; an unknown remote one is looked up by WebFinger if ``resolve``."""
    username, domain = split_acct(acct, site)
    if not username:
        return None
    if not domain:
        return await Account.get_or_none(
            username=username.lower(), domain="", actor_type="Person", disabled=False
        )
    known = await Account.filter(username__iexact=username, domain=domain, disabled=False).first()
    if known is not None or not resolve or site.resolve_remote is None:
        return known
    found = await site.resolve_remote(username, domain)
    return found if isinstance(found, Account) and not found.disabled else None


async def credential(call: Call, account: Account) -> Any:
    pending = await Follow.filter(followee_id=account.id, state="pending").count()
    return credential_account_entity(call.site, account, pending)


@router.get("/api/v1/accounts/verify_credentials", scope=("read:accounts", "profile"))
async def verify_credentials(call: Call) -> Any:
    return await credential(call, call.user)


def _profile_fields(call: Call) -> list[dict[str, str]] | None:
    raw = call.params.get("fields_attributes")  # JSON: a list, or an object keyed by index
    if raw is None:
        # Form encoding: fields_attributes[0][name]=…&fields_attributes[0][value]=…
        grouped: dict[str, dict[str, str]] = {}
        for key, value in call.params.obj("fields_attributes").items():
            index, _, name = key.partition("][")
            grouped.setdefault(index, {})[name] = value
        raw = grouped or None
    if raw is None:
        return None
    items = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ApiError(422, "Validation failed: fields_attributes must be a list of objects")
    return [
        {"name": str(i.get("name", "")), "value": str(i.get("value", ""))}
        for i in items
        if i.get("name") or i.get("value")
    ]


@router.patch("/api/v1/accounts/update_credentials", scope="write:accounts")
async def update_credentials(call: Call) -> Any:
    params = call.params
    locked = params.get("locked")
    account = await account_service.update_profile(
        call.user,
        display_name=params.text("display_name"),
        summary=params.text("note"),
        locked=None if locked is None else params.flag("locked"),
        profile_fields=_profile_fields(call),
    )
    return await credential(call, account)


@router.get("/api/v1/accounts/lookup", access="public", scope="read:accounts")
async def lookup(call: Call) -> Any:
    acct = call.params.text("acct") or ""
    account = await find_by_acct(call.site, acct, resolve=call.viewer is not None)
    if account is None:
        raise record_not_found()
    return account_entity(call.site, account)


@router.get("/api/v1/accounts/relationships", scope=("read:follows", "follow"))
async def relationships_of(call: Call) -> Any:
    ids = [int(i) for i in call.params.strings("id") if i.isdigit()]
    found = {a.id: a for a in await Account.filter(id__in=ids)}
    return await relationships(call.user, [found[i] for i in ids if i in found])


@router.get("/api/v1/accounts/search", scope=("read:accounts",))
async def search(call: Call) -> Any:
    params = call.params
    limit = max(1, min(params.integer("limit", SEARCH_LIMIT) or SEARCH_LIMIT, SEARCH_LIMIT))
    offset = max(0, params.integer("offset", 0) or 0)
    found = await search_accounts(
        call,
        params.text("q") or "",
        resolve=params.flag("resolve"),
        following=params.flag("following"),
        limit=limit,
        offset=offset,
    )
    return [account_entity(call.site, a) for a in found]


async def search_accounts(
    call: Call, query: str, *, resolve: bool, following: bool, limit: int, offset: int
) -> list[Account]:
    """Accounts matching a handle (exact, resolved if asked) or a name prefix."""
    query = query.strip()
    if not query:
        return []
    results: list[Account] = []
    if "@" in query.lstrip("@"):
        exact = await find_by_acct(call.site, query, resolve=resolve and call.viewer is not None)
        results = [exact] if exact is not None and offset == 0 else []
    else:
        term = query.lstrip("@")
        by_name = Account.filter(
            Q(username__istartswith=term) | Q(display_name__icontains=term),
            disabled=False,
            actor_type="Person",
        )
        results = await by_name.order_by("domain", "username").offset(offset).limit(limit)
    if following and call.viewer is not None:
        followed = set(
            await Follow.filter(
                follower_id=call.viewer.id,
                followee_id__in=[a.id for a in results],
                state="accepted",
            ).values_list("followee_id", flat=True)
        )
        results = [a for a in results if a.id in followed]
    return results[:limit]


@router.get("/api/v1/accounts/<account_id>", access="public", scope="read:accounts")
async def get_account(call: Call, account_id: str) -> Any:
    return account_entity(call.site, await account_by_id(account_id))


@router.get("/api/v1/accounts/<account_id>/statuses", access="public", scope="read:statuses")
async def account_statuses(call: Call, account_id: str) -> Any:
    author = await account_by_id(account_id)
    page = call.params.page()
    if call.params.flag("pinned"):
        return Paged([], None, None, page.bounded_limit)
    result = await timelines.wall(call.viewer, author, page)
    statuses = await StatusRenderer(call.site, call.viewer).render(result.items)
    return Paged(statuses, result.next_max_id, result.prev_min_id, page.bounded_limit)


@router.get("/api/v1/accounts/<account_id>/followers", access="public", scope="read:accounts")
async def followers(call: Call, account_id: str) -> Any:
    account = await account_by_id(account_id)
    page = call.params.page()
    result = await follows.followers(account, page)
    items = [account_entity(call.site, a) for a in result.items]
    return Paged(items, result.next_max_id, result.prev_min_id, page.bounded_limit)


@router.get("/api/v1/accounts/<account_id>/following", access="public", scope="read:accounts")
async def following(call: Call, account_id: str) -> Any:
    account = await account_by_id(account_id)
    page = call.params.page()
    result = await follows.following(account, page)
    items = [account_entity(call.site, a) for a in result.items]
    return Paged(items, result.next_max_id, result.prev_min_id, page.bounded_limit)


@router.post("/api/v1/accounts/<account_id>/follow", scope=("write:follows", "follow"))
async def follow(call: Call, account_id: str) -> Any:
    target = await account_by_id(account_id)
    await follows.follow(call.site, call.user, target)
    return (await relationships(call.user, [target]))[0]


@router.post("/api/v1/accounts/<account_id>/unfollow", scope=("write:follows", "follow"))
async def unfollow(call: Call, account_id: str) -> Any:
    target = await account_by_id(account_id)
    await follows.unfollow(call.site, call.user, target)
    return (await relationships(call.user, [target]))[0]


@router.get("/api/v1/follow_requests", scope=("read:follows", "follow"))
async def follow_requests(call: Call) -> Any:
    page = call.params.page()
    result = await follows.pending_requests(call.user, page)
    items = [account_entity(call.site, a) for a in result.items]
    return Paged(items, result.next_max_id, result.prev_min_id, page.bounded_limit)


@router.post("/api/v1/follow_requests/<account_id>/authorize", scope=("write:follows", "follow"))
async def authorize_follow_request(call: Call, account_id: str) -> Any:
    requester = await account_by_id(account_id)
    await follows.accept(call.site, call.user, requester)
    return (await relationships(call.user, [requester]))[0]


@router.post("/api/v1/follow_requests/<account_id>/reject", scope=("write:follows", "follow"))
async def reject_follow_request(call: Call, account_id: str) -> Any:
    requester = await account_by_id(account_id)
    await follows.reject(call.site, call.user, requester)
    return (await relationships(call.user, [requester]))[0]
