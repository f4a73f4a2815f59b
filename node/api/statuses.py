"""Statuses: post, read, edit (with history), delete, threads, favourites, reblogs, bookmarks.

A reblog is a status of its own: its id is the Share's id and its ``reblog``
is the original. Every endpoint taking a status id accepts either.

Fedwall extension: the classification label, sent as ``fedwall[label]`` (form)
or ``{"fedwall": {"label": …}}`` (JSON) on create and edit, and shown on every
status as ``"fedwall": {"label": …, "visibility": …}``.
"""

from __future__ import annotations

from typing import Any

from quart import request
from tortoise.exceptions import IntegrityError

from node.api.accounts import parse_id
from node.api.entities import (
    VISIBILITY_FROM_CLIENT,
    StatusRenderer,
    account_entity,
    fk,
    iso,
)
from node.api.errors import ApiError, record_not_found
from node.api.routing import Call, Paged, Params, Router
from node.models import Account, Like, Post, Share
from node.services import bookmarks, posts, reactions
from node.services.content import html_to_text
from node.services.pagination import make_page, paginate
from node.services.visibility import is_visible

router = Router()

MAX_IDEMPOTENCY_KEY = 200
MAX_LANGUAGE = 16


async def find_status(viewer: Account | None, raw_id: str) -> Post | Share:
    """The post or share with this id that ``viewer`` may see; else 404."""
    status_id = parse_id(raw_id)
    post = await Post.get_or_none(id=status_id)
    if post is not None:
        if await is_visible(post, viewer):
            return post
        raise record_not_found()
    share = await Share.get_or_none(id=status_id)
    if share is not None:
        shared = await Post.get_or_none(id=fk(share, "post"))
        if shared is not None and await is_visible(shared, viewer):
            return share
    raise record_not_found()


async def find_post(viewer: Account | None, raw_id: str) -> Post:
    """Like :func:`find_status`, a reblog standing for the post it shares."""
    found = await find_status(viewer, raw_id)
    if isinstance(found, Share):
        return await Post.get(id=fk(found, "post"))
    return found


async def render(call: Call, item: Post | Share) -> Any:
    return await StatusRenderer(call.site, call.viewer).one(item)


def _label(params: Params) -> str | None:
    label = params.obj("fedwall").get("label")
    if label is None or label == "":
        return None
    if not isinstance(label, str):
        raise ApiError(422, "Validation failed: fedwall.label must be a string")
    return label


def _language(params: Params) -> str | None:
    language = params.text("language") or None
    if language is not None and len(language) > MAX_LANGUAGE:
        raise ApiError(422, "Validation failed: Language is not a valid language code")
    return language


def _refuse_unsupported(params: Params) -> None:
    if params.strings("media_ids"):
        raise ApiError(422, "Validation failed: media attachments are not supported by this node")
    if params.obj("poll") or params.get("poll"):
        raise ApiError(422, "Validation failed: polls are not supported by this node")
    if params.text("scheduled_at"):
        raise ApiError(422, "Validation failed: scheduled posts are not supported by this node")


@router.post("/api/v1/statuses", scope="write:statuses")
async def create(call: Call) -> Any:
    """Post a status; a repeated ``Idempotency-Key`` returns the first status instead."""
    params = call.params
    _refuse_unsupported(params)
    parent: Post | None = None
    reply_to = params.text("in_reply_to_id")
    if reply_to:
        parent = await find_post(call.user, reply_to)
    raw_visibility = (params.text("visibility") or "").lower()
    if raw_visibility:
        visibility = VISIBILITY_FROM_CLIENT.get(raw_visibility)
        if visibility is None:
            raise ApiError(
                422,
                f"Validation failed: Visibility {raw_visibility!r} is not one of "
                "public, unlisted, private, direct",
            )
    else:
        # Like Mastodon's default of not widening a reply: a reply keeps its thread's audience.
        visibility = parent.visibility if parent is not None else "public"
    draft = posts.Draft(
        text=params.text("status") or "",
        visibility=visibility,
        label=_label(params),
        summary=params.text("spoiler_text") or "",
        sensitive=params.flag("sensitive"),
        language=_language(params),
        in_reply_to_id=parent.id if parent is not None else None,
    )
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(422, "Validation failed: Idempotency-Key is too long")
    try:
        post = await posts.create_post(call.site, call.user, draft, idempotency_key=key)
    except IntegrityError:
        # A concurrent request with the same key won; answer with its status.
        earlier = await posts.idempotent_post(call.user, key) if key else None
        if earlier is None:
            raise
        post = earlier
    if post.visibility != "direct":
        return await render(call, post)
    from node.api.conversations import undelivered_json

    # A message the boundary policy stops for some participants says so at once.
    status = await StatusRenderer(call.site, call.user).one(post)
    status.setdefault("fedwall", {})["undelivered"] = await undelivered_json(call, post)
    return status


@router.get("/api/v1/statuses", access="public", scope="read:statuses")
async def several(call: Call) -> Any:
    """``GET /api/v1/statuses?id[]=…``: the visible ones among the ids, in the order asked."""
    found = []
    for raw in call.params.strings("id")[:40]:
        try:
            found.append(await find_status(call.viewer, raw))
        except ApiError:
            continue
    return await StatusRenderer(call.site, call.viewer).render(found)


@router.get("/api/v1/statuses/<status_id>", access="public", scope="read:statuses")
async def get_status(call: Call, status_id: str) -> Any:
    return await render(call, await find_status(call.viewer, status_id))


@router.delete("/api/v1/statuses/<status_id>", scope="write:statuses")
async def delete(call: Call, status_id: str) -> Any:
    """Delete a status (or undo a reblog); answers the status with its source for redrafting."""
    found = await find_status(call.user, status_id)
    if isinstance(found, Share):
        if fk(found, "account") != call.user.id:
            raise ApiError(403, "This action is not allowed")
        entity = await render(call, found)
        await reactions.unshare(call.site, call.user, fk(found, "post") or 0)
        return entity
    entity = await render(call, found)
    entity["text"] = found.content_source or html_to_text(found.content_html)
    await posts.delete_post(call.site, call.user, found.id)
    return entity


@router.put("/api/v1/statuses/<status_id>", scope="write:statuses")
async def edit(call: Call, status_id: str) -> Any:
    """Edit text, content warning, sensitivity, language or label; visibility never changes."""
    params = call.params
    _refuse_unsupported(params)
    post = await find_post(call.user, status_id)
    text = params.text("status")
    sensitive = params.get("sensitive")
    updated = await posts.edit_post(
        call.site,
        call.user,
        post.id,
        post.content_source if text is None else text,
        summary=params.text("spoiler_text"),
        sensitive=None if sensitive is None else params.flag("sensitive"),
        label=_label(params),
        language=_language(params),
    )
    return await render(call, updated)


@router.get("/api/v1/statuses/<status_id>/history", access="public", scope="read:statuses")
async def history(call: Call, status_id: str) -> Any:
    """Every version of the status, oldest first, the current one last."""
    post = await find_post(call.viewer, status_id)
    earlier = await posts.edit_history(call.viewer, post.id)
    author = await Account.get(id=fk(post, "author"))
    account = account_entity(call.site, author)

    def version(content: str, summary: str, sensitive: bool, at: Any) -> dict[str, Any]:
        return {
            "content": content,
            "spoiler_text": summary,
            "sensitive": sensitive,
            "created_at": iso(at),
            "account": account,
            "poll": None,
            "media_attachments": [],
            "emojis": [],
        }

    versions = [version(e.content_html, e.summary, e.sensitive, e.created_at) for e in earlier]
    versions.append(
        version(post.content_html, post.summary, post.sensitive, post.edited_at or post.created_at)
    )
    return versions


@router.get("/api/v1/statuses/<status_id>/source", scope="read:statuses")
async def source(call: Call, status_id: str) -> Any:
    post = await find_post(call.user, status_id)
    return {
        "id": str(post.id),
        "text": post.content_source or html_to_text(post.content_html),
        "spoiler_text": post.summary,
    }


@router.get("/api/v1/statuses/<status_id>/context", access="public", scope="read:statuses")
async def context(call: Call, status_id: str) -> Any:
    post = await find_post(call.viewer, status_id)
    ancestors, _, descendants = await posts.thread(call.viewer, post.id)
    renderer = StatusRenderer(call.site, call.viewer)
    return {
        "ancestors": await renderer.render(ancestors),
        "descendants": await renderer.render(descendants),
    }


@router.post("/api/v1/statuses/<status_id>/favourite", scope="write:favourites")
async def favourite(call: Call, status_id: str) -> Any:
    post = await find_post(call.user, status_id)
    return await render(call, await reactions.like(call.site, call.user, post.id))


@router.post("/api/v1/statuses/<status_id>/unfavourite", scope="write:favourites")
async def unfavourite(call: Call, status_id: str) -> Any:
    post = await find_post(call.user, status_id)
    return await render(call, await reactions.unlike(call.site, call.user, post.id))


@router.post("/api/v1/statuses/<status_id>/reblog", scope="write:statuses")
async def reblog(call: Call, status_id: str) -> Any:
    """Share the status; answers the reblog (a status whose ``reblog`` is the original)."""
    post = await find_post(call.user, status_id)
    return await render(call, await reactions.share(call.site, call.user, post.id))


@router.post("/api/v1/statuses/<status_id>/unreblog", scope="write:statuses")
async def unreblog(call: Call, status_id: str) -> Any:
    post = await find_post(call.user, status_id)
    await reactions.unshare(call.site, call.user, post.id)
    return await render(call, await Post.get(id=post.id))


@router.post("/api/v1/statuses/<status_id>/bookmark", scope="write:bookmarks")
async def bookmark(call: Call, status_id: str) -> Any:
    post = await find_post(call.user, status_id)
    return await render(call, await bookmarks.bookmark(call.user, post.id))


@router.post("/api/v1/statuses/<status_id>/unbookmark", scope="write:bookmarks")
async def unbookmark(call: Call, status_id: str) -> Any:
    post = await find_post(call.user, status_id)
    return await render(call, await bookmarks.unbookmark(call.user, post.id))


async def _reactors(call: Call, model: type[Like] | type[Share], status_id: str) -> Paged:
    post = await find_post(call.viewer, status_id)
    page = call.params.page()
    rows, _ = await paginate(
        model.filter(post_id=post.id, account__disabled=False).prefetch_related("account"),
        "id",
        page,
    )
    result = make_page([account_entity(call.site, r.account) for r in rows], [r.id for r in rows])
    return Paged(result.items, result.next_max_id, result.prev_min_id, page.bounded_limit)


@router.get("/api/v1/statuses/<status_id>/favourited_by", access="public", scope="read:accounts")
async def favourited_by(call: Call, status_id: str) -> Any:
    return await _reactors(call, Like, status_id)


@router.get("/api/v1/statuses/<status_id>/reblogged_by", access="public", scope="read:accounts")
async def reblogged_by(call: Call, status_id: str) -> Any:
    return await _reactors(call, Share, status_id)
