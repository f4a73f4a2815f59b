"""Fedwall's JSON admin API for the boundary policy, and the author's draft preview.

Admin endpoints live under ``/api/v1/fedwall/admin/`` and need a bearer token of
an admin account with scope ``admin:read`` (reading) or ``admin:write``
(changing). ``POST /api/v1/fedwall/preview`` needs any signed-in user's token
with ``read`` or ``write``. Answers are JSON; errors are ``{"error": "…"}`` with
401 (no or invalid token), 403 (not an admin, or scope missing), 404 (no such
thing), 422 (invalid input; nothing changed; a policy file error also carries
``line`` and ``path``) — or 422 "This method requires an authenticated user" for
app tokens without an account, as on the rest of the API.

The same capabilities as the ``fedwall peer|policy|review|group|audit``
commands, through the same services. Every path is described in the node's
OpenAPI document (added to :data:`node.api.openapi.PATHS` when this module is
imported).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson
from quart import Blueprint, Response, request

from node.api import openapi
from node.api.entities import VISIBILITY_FROM_CLIENT
from node.api.errors import ApiError, invalid_token, outside_scopes, user_required
from node.api.routing import bearer_token, error_response, json_response
from node.errors import FedwallError, NotFound, PermissionDenied
from node.models import Account, PeerRequest, PeerStats, PolicyVersion, ReviewItem
from node.policy import (
    DIRECTIONS,
    KINDS,
    Decision,
    DirectionTerms,
    PeerAgreement,
    PolicyFileError,
    PolicySnapshot,
    Reason,
    evaluate,
    explain,
    parse_policy_file,
)
from node.runtime import Runtime
from node.services import audit, audit_export, groups, peers, reviews, tokens
from node.services.posts import Draft, get_visible_post
from node.services.preview import DraftPreview, preview_draft, sample_crossing

PREFIX = "/api/v1/fedwall/admin"
PREVIEW_PATH = "/api/v1/fedwall/preview"
Json = dict[str, Any]
View = Callable[..., Awaitable[Any]]


# ----------------------------------------------------------------- JSON shapes


def _time(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def terms_json(terms: DirectionTerms) -> Json:
    return {
        "kinds": [k for k in KINDS if k in terms.kinds],
        "max_label": terms.max_label,
        "media": terms.media,
        "profile_fields": sorted(terms.profile_fields),
    }


def agreement_json(agreement: PeerAgreement | None) -> Json | None:
    if agreement is None:
        return None
    return {
        "domain": agreement.domain,
        "status": agreement.status,
        "note": agreement.note,
        "expires": _time(agreement.expires),
        "outbound": terms_json(agreement.outbound),
        "inbound": terms_json(agreement.inbound),
    }


def stats_json(stats: PeerStats | None) -> Json | None:
    if stats is None:
        return None
    return {
        "last_contact_at": _time(stats.last_contact_at),
        "inbound_allowed": stats.inbound_allowed,
        "inbound_denied": stats.inbound_denied,
        "outbound_allowed": stats.outbound_allowed,
        "outbound_denied": stats.outbound_denied,
    }


def request_json(row: PeerRequest | None) -> Json | None:
    if row is None:
        return None
    return {
        "domain": row.domain,
        "state": row.state,
        "attempt_count": row.attempt_count,
        "attempts": row.attempts or [],
        "first_seen_at": _time(row.first_seen_at),
        "last_seen_at": _time(row.last_seen_at),
        "decided_by": row.decided_by,
        "decided_at": _time(row.decided_at),
    }


def change_json(change: peers.PeerChange) -> Json:
    return {
        "domain": change.domain,
        "changed": change.changed,
        "policy_version": change.version,
        "agreement": agreement_json(change.agreement),
    }


def reason_json(reason: Reason) -> Json:
    return {
        "rule": reason.rule_id,
        "code": reason.code,
        "message": reason.message,
        "field": reason.field,
        "matched": reason.matched,
        "dry_run": reason.dry_run,
        "effect": reason.effect,
    }


def decision_json(decision: Decision) -> Json:
    return {
        "peer": decision.peer,
        "direction": decision.direction,
        "outcome": decision.outcome,
        "explanation": explain(decision),
        "effective_label": decision.effective_label,
        "reasons": [reason_json(r) for r in decision.reasons],
        "warnings": [reason_json(r) for r in decision.warnings],
        "transformed": dict(decision.transformed) if decision.transformed is not None else None,
        "policy_version": decision.policy_version,
    }


def review_json(item: ReviewItem) -> Json:
    post = item.post
    delivery = item.delivery
    return {
        "id": str(item.id),
        "state": item.state,
        "direction": item.direction,
        "peer": item.peer_domain,
        "reasons": item.reasons,
        "post": None
        if post is None
        else {
            "id": str(post.id),
            "uri": post.uri,
            "author": post.author.username,
            "label": post.label,
            "visibility": post.visibility,
            "text": post.content_source,
        },
        "delivery": None
        if delivery is None
        else {
            "id": str(delivery.id),
            "state": delivery.state,
            "activity_id": delivery.activity_id,
            "inbox_url": delivery.inbox_url,
            "last_error": delivery.last_error,
        },
        "created_at": _time(item.created_at),
        "decided_by": item.decided_by,
        "decided_at": _time(item.decided_at),
    }


def snapshot_json(snapshot: PolicySnapshot) -> Json:
    return {
        "version": snapshot.version,
        "federation_mode": snapshot.federation_mode,
        "labels": list(snapshot.labels.names),
        "default_label": snapshot.default_label,
        "peers": [agreement_json(a) for a in snapshot.peers.values()],
        "content_rules": [
            {"id": r.id, "action": r.action, "mode": r.mode, "description": r.description}
            for r in snapshot.content_rules
        ],
        "group_rules": [
            {"id": r.id, "effect": r.effect, "mode": r.mode, "description": r.description}
            for r in snapshot.group_rules
        ],
    }


def preview_json(preview: DraftPreview) -> Json:
    return {
        "label": preview.label,
        "visibility": preview.visibility,
        "kind": preview.kind,
        "policy_version": preview.policy_version,
        "node": {
            "domain": preview.local.domain,
            "audience": preview.local.description,
            "accounts": [{"handle": a.handle, "why": a.why} for a in preview.local.accounts],
        },
        "peers": [
            {
                **decision_json(p.decision),
                "audience": [{"handle": a.handle, "why": a.why} for a in p.audience],
            }
            for p in preview.peers
        ],
        "warnings": [reason_json(r) for r in preview.warnings],
        "unresolved_mentions": list(preview.unresolved),
    }


# ----------------------------------------------------------------- request helpers


class Body:
    """The JSON object of a request, with typed getters that answer 422 for wrong types."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ApiError(422, f"{name} must be a string")
        return value

    def flag(self, name: str, default: bool | None = None) -> bool | None:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ApiError(422, f"{name} must be true or false")
        return value

    def texts(self, name: str) -> list[str] | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError(422, f"{name} must be a list of strings")
        return value


async def _body() -> Body:
    if not await request.get_data():
        return Body({})
    data = await request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise ApiError(422, "the request body must be a JSON object")
    return Body(data)


async def _account(scopes: tuple[str, ...], admin: bool) -> Account:
    grant = await tokens.grant_for(bearer_token())
    if grant is None:
        raise invalid_token()
    if grant.account is None:
        raise user_required()
    if not any(grant.allows(scope) for scope in scopes):
        raise outside_scopes()
    if admin and not grant.account.is_admin:
        raise ApiError(403, "This action requires an admin account")
    return grant.account


def _domain_error(error: FedwallError) -> ApiError:
    if isinstance(error, NotFound):
        return ApiError(404, error.message)
    if isinstance(error, PermissionDenied):
        return ApiError(403, error.message)
    return ApiError(422, error.message)


def _file_error(error: PolicyFileError) -> Response:
    body = {"error": str(error), "line": error.line, "path": error.path, "problem": error.message}
    return json_response(body, 422)


def _state(value: str | None, default: str) -> str | None:
    state = value or default
    return None if state == "all" else state


def _iso(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(422, f"{name} must be an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _int(value: str | None, name: str, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(422, f"{name} must be a number") from None


def _actor(account: Account) -> str:
    return f"api:{account.username}"


# ----------------------------------------------------------------- the blueprint


def build_blueprint(runtime: Runtime) -> Blueprint:
    """The admin API and the preview endpoint of one node."""
    bp = Blueprint("fedwall_admin", __name__)
    site = runtime.site
    store = site.policy

    def route(path: str, method: str, scopes: tuple[str, ...], admin: bool = True) -> Any:
        def decorate(handler: View) -> View:
            async def view(**kwargs: Any) -> Response:
                try:
                    account = await _account(scopes, admin)
                    reply = await handler(account, **kwargs)
                except ApiError as error:
                    return error_response(error)
                except PolicyFileError as error:
                    return _file_error(error)
                except FedwallError as error:
                    return error_response(_domain_error(error))
                if isinstance(reply, Response):
                    return reply
                return json_response(reply)

            view.__name__ = handler.__name__
            bp.add_url_rule(path, handler.__name__, view, methods=[method])
            return handler

        return decorate

    reading, writing = ("admin:read",), ("admin:write",)

    # --- peers ----------------------------------------------------------------------

    @route(f"{PREFIX}/peers", "GET", reading)
    async def list_peers(account: Account) -> Any:
        snapshot = await store.current()
        rows = await peers.list_peers(store)
        return {
            "federation_mode": snapshot.federation_mode,
            "policy_version": snapshot.version,
            "peers": [
                {
                    "domain": r.domain,
                    "status": r.status,
                    "agreement": agreement_json(r.agreement),
                    "stats": stats_json(r.stats),
                    "request": request_json(r.request),
                }
                for r in rows
            ],
        }

    @route(f"{PREFIX}/peers/<domain>", "GET", reading)
    async def show_peer(account: Account, domain: str) -> Any:
        details = await peers.show(store, domain)
        return {
            "domain": details.domain,
            "effective": details.effective,
            "federation_mode": details.federation_mode,
            "policy_version": details.policy_version,
            "agreement": agreement_json(details.agreement),
            "blocked_by": details.blocked_by.domain if details.blocked_by else None,
            "stats": stats_json(details.stats),
            "request": request_json(details.request),
        }

    @route(f"{PREFIX}/peers/<domain>/allow", "POST", writing)
    async def allow_peer(account: Account, domain: str) -> Any:
        body = await _body()
        change = await peers.allow(
            store,
            domain,
            author=_actor(account),
            note=body.text("note"),
            expires=_iso(body.text("expires"), "expires"),
        )
        return change_json(change)

    @route(f"{PREFIX}/peers/<domain>/block", "POST", writing)
    async def block_peer(account: Account, domain: str) -> Any:
        body = await _body()
        change = await peers.block(store, domain, author=_actor(account), note=body.text("note"))
        return change_json(change)

    @route(f"{PREFIX}/peers/<domain>/limit", "POST", writing)
    async def limit_peer(account: Account, domain: str) -> Any:
        body = await _body()
        direction = body.text("direction", "both")
        if direction not in ("both", *DIRECTIONS):
            raise ApiError(422, "direction must be both, outbound or inbound")
        kinds = body.texts("kinds")
        fields = body.texts("profile_fields")
        terms = peers.TermsChange(
            kinds=peers.parse_kinds(kinds) if kinds is not None else None,
            max_label=body.text("max_label"),
            media=body.flag("media"),
            profile_fields=frozenset(fields) if fields is not None else None,
        )
        change = await peers.limit(
            store,
            domain,
            terms,
            author=_actor(account),
            directions=DIRECTIONS if direction == "both" else (direction,),  # type: ignore[arg-type]
            note=body.text("note"),
        )
        return change_json(change)

    @route(f"{PREFIX}/peer_requests", "GET", reading)
    async def list_requests(account: Account) -> Any:
        rows = await peers.list_requests(_state(request.args.get("state"), "pending"))
        return [request_json(r) for r in rows]

    @route(f"{PREFIX}/peer_requests/<domain>/approve", "POST", writing)
    async def approve_request(account: Account, domain: str) -> Any:
        change = await peers.approve_request(store, domain, author=_actor(account))
        return change_json(change)

    @route(f"{PREFIX}/peer_requests/<domain>/deny", "POST", writing)
    async def deny_request(account: Account, domain: str) -> Any:
        body = await _body()
        change = await peers.deny_request(
            store, domain, author=_actor(account), block_peer=bool(body.flag("block", False))
        )
        row = await PeerRequest.get_or_none(domain=peers.check_domain(domain))
        return {"request": request_json(row), "block": change_json(change) if change else None}

    # --- policy ---------------------------------------------------------------------

    @route(f"{PREFIX}/policy", "GET", reading)
    async def show_policy(account: Account) -> Any:
        snapshot = await store.current()
        row = await PolicyVersion.get_or_none(version=snapshot.version)
        return {
            "version": snapshot.version,
            "source": row.source if row else await store.source(),
            "author": row.author if row else None,
            "comment": row.comment if row else None,
            "created_at": _time(row.created_at) if row else None,
            "policy": snapshot_json(snapshot),
        }

    @route(f"{PREFIX}/policy/versions", "GET", reading)
    async def policy_versions(account: Account) -> Any:
        rows = await PolicyVersion.all().order_by("-version")
        return [
            {
                "version": r.version,
                "author": r.author,
                "comment": r.comment,
                "created_at": _time(r.created_at),
            }
            for r in rows
        ]

    @route(f"{PREFIX}/policy/validate", "POST", reading)
    async def validate_policy(account: Account) -> Any:
        source = (await _body()).text("source")
        if source is None:
            raise ApiError(422, "source (the policy file's text) is required")
        try:
            snapshot = parse_policy_file(source, 0)
        except PolicyFileError as error:
            problem = {"line": error.line, "path": error.path, "message": error.message}
            return {"valid": False, "error": str(error), "problem": problem, "warnings": []}
        missing = await groups.missing_groups(snapshot)
        warnings = [
            f"group {name!r} (used by {', '.join(rules)}) does not exist on this node yet"
            for name, rules in sorted(missing.items())
        ]
        return {"valid": True, "error": None, "problem": None, "warnings": warnings}

    @route(f"{PREFIX}/policy", "PUT", writing)
    async def apply_policy(account: Account) -> Any:
        body = await _body()
        source = body.text("source")
        if source is None:
            raise ApiError(422, "source (the policy file's text) is required")
        comment = body.text("comment") or "applied through the admin API"
        snapshot = await store.apply(source, _actor(account), comment)
        return {"version": snapshot.version, "policy": snapshot_json(snapshot)}

    @route(f"{PREFIX}/policy/test", "POST", reading)
    async def test_policy(account: Account) -> Any:
        body = await _body()
        crossing = await sample_crossing(
            text=body.text("text") or "",
            peer=body.text("peer") or "",
            label=body.text("label"),
            author=body.text("author"),
            recipients=body.texts("recipients") or (),
            kind=body.text("kind") or "posts",
            direction=body.text("direction") or "outbound",
            summary=body.text("summary"),
            media=bool(body.flag("media", False)),
        )
        return decision_json(evaluate(await store.current(), crossing))

    # --- reviews --------------------------------------------------------------------

    @route(f"{PREFIX}/reviews", "GET", reading)
    async def list_reviews(account: Account) -> Any:
        limit = _int(request.args.get("limit"), "limit", 100) or 100
        items = await reviews.list_items(_state(request.args.get("state"), "held"), limit)
        return [review_json(item) for item in items]

    def review_id(value: str) -> int:
        if not value.isdigit():
            raise NotFound(f"no review item {value}")
        return int(value)

    @route(f"{PREFIX}/reviews/<item_id>/approve", "POST", writing)
    async def approve_review(account: Account, item_id: str) -> Any:
        result = await reviews.approve(review_id(item_id), reviewer=_actor(account), site=site)
        return review_json(result.item)

    @route(f"{PREFIX}/reviews/<item_id>/reject", "POST", writing)
    async def reject_review(account: Account, item_id: str) -> Any:
        result = await reviews.reject(review_id(item_id), reviewer=_actor(account), site=site)
        return review_json(result.item)

    # --- groups ---------------------------------------------------------------------

    @route(f"{PREFIX}/groups", "GET", reading)
    async def list_groups(account: Account) -> Any:
        return [
            {
                "name": g.name,
                "description": g.description,
                "source": g.source,
                "member_count": g.member_count,
            }
            for g in await groups.list_groups()
        ]

    @route(f"{PREFIX}/groups", "POST", writing)
    async def create_group(account: Account) -> Any:
        body = await _body()
        group = await groups.create_group(
            body.text("name") or "",
            description=body.text("description") or "",
            actor=_actor(account),
        )
        return {"name": group.name, "description": group.description, "source": group.source}

    async def group_json(name: str) -> Json:
        group = await groups.get_group(name)
        members = await groups.members(name)
        return {
            "name": group.name,
            "description": group.description,
            "source": group.source,
            "members": [m.username for m in members],
        }

    @route(f"{PREFIX}/groups/<name>", "GET", reading)
    async def show_group(account: Account, name: str) -> Any:
        return await group_json(name)

    @route(f"{PREFIX}/groups/<name>/members", "POST", writing)
    async def add_members(account: Account, name: str) -> Any:
        usernames = (await _body()).texts("usernames") or []
        await groups.add_members(name, usernames, actor=_actor(account))
        return await group_json(name)

    @route(f"{PREFIX}/groups/<name>/members/<username>", "DELETE", writing)
    async def remove_member(account: Account, name: str, username: str) -> Any:
        await groups.remove_members(name, [username], actor=_actor(account))
        return await group_json(name)

    # --- audit ----------------------------------------------------------------------

    @route(f"{PREFIX}/audit", "GET", reading)
    async def list_audit(account: Account) -> Any:
        args = request.args
        return await audit_export.page(
            before=_int(args.get("before"), "before"),
            limit=_int(args.get("limit"), "limit", 50) or 50,
            peer=args.get("peer") or None,
            kind=args.get("kind") or None,
            since=_iso(args.get("since"), "since"),
        )

    @route(f"{PREFIX}/audit/verify", "GET", reading)
    async def verify_audit(account: Account) -> Any:
        status = await audit.verify_chain()
        return {
            "ok": status.ok,
            "entries": status.entries,
            "first_broken": status.first_broken,
            "message": status.message,
        }

    @route(f"{PREFIX}/audit/export", "GET", reading)
    async def export_audit(account: Account) -> Any:
        entries = audit_export.export(
            _iso(request.args.get("since"), "since"), request.args.get("peer") or None
        )

        async def lines() -> AsyncIterator[bytes]:
            runtime.db.activate()  # the body is produced after the handler returned
            async for entry in entries:
                yield orjson.dumps(entry) + b"\n"

        return Response(lines(), content_type="application/x-ndjson")

    # --- the author's preview -------------------------------------------------------

    @route(PREVIEW_PATH, "POST", ("read", "write"), admin=False)
    async def preview(account: Account) -> Any:
        body = await _body()
        raw_visibility = (body.text("visibility") or "").lower()
        reply_to = _int(body.text("in_reply_to_id"), "in_reply_to_id")
        if raw_visibility:
            visibility = VISIBILITY_FROM_CLIENT.get(raw_visibility)
            if visibility is None:
                raise ApiError(422, f"invalid visibility {raw_visibility!r}")
        elif reply_to is not None:
            # As when posting: a reply keeps its thread's audience.
            visibility = (await get_visible_post(account, reply_to)).visibility
        else:
            visibility = "public"
        fedwall = body.data.get("fedwall")
        label = body.text("label")
        if label is None and isinstance(fedwall, dict) and isinstance(fedwall.get("label"), str):
            label = fedwall["label"]
        attachments = body.data.get("attachments") or []
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise ApiError(422, "attachments must be a list of objects")
        draft = Draft(
            text=body.text("status") or body.text("text") or "",
            visibility=visibility,
            label=label,
            summary=body.text("spoiler_text") or "",
            sensitive=bool(body.flag("sensitive", False)),
            language=body.text("language"),
            in_reply_to_id=reply_to,
            attachments=tuple({str(k): str(v) for k, v in a.items()} for a in attachments),
        )
        result = await preview_draft(site, account, draft, mentions=body.texts("mentions") or ())
        return preview_json(result)

    return bp


# ----------------------------------------------------------------- OpenAPI


def _operation(summary: str, scope: str, body: Json | None = None, **extra: Any) -> Json:
    error = {
        "description": "401 no or invalid token; 403 not an admin or scope missing; "
        "404 not found; 422 invalid input (nothing changed)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    operation: Json = {
        "summary": summary,
        "tags": ["fedwall admin"] if scope.startswith("admin") else ["fedwall"],
        "x-mastodon-compatible": False,
        "security": [{"OAuth2": [scope]}],
        "responses": {"200": {"description": "OK (JSON)"}, "4XX": error},
        **extra,
    }
    if body is not None:
        operation["requestBody"] = {
            "content": {"application/json": {"schema": {"type": "object", "properties": body}}}
        }
    return operation


def _path_params(*names: str) -> list[Json]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


_TERMS_BODY = {
    "direction": {"type": "string", "enum": ["both", "outbound", "inbound"]},
    "max_label": {"type": "string"},
    "kinds": {"type": "array", "items": {"type": "string", "enum": list(KINDS)}},
    "media": {"type": "boolean"},
    "profile_fields": {"type": "array", "items": {"type": "string"}},
    "note": {"type": "string"},
}
_STRING = {"type": "string"}
_DOMAIN = _path_params("domain")

openapi.PATHS.update(
    {
        f"{PREFIX}/peers": {
            "get": _operation("Peers: agreements, traffic, requests", "admin:read")
        },
        f"{PREFIX}/peers/{{domain}}": {
            "get": _operation("One peer: effective status, agreement, traffic", "admin:read",
                              parameters=_DOMAIN)
        },
        f"{PREFIX}/peers/{{domain}}/allow": {
            "post": _operation("Allow a peer (default terms if it has none)", "admin:write",
                               {"note": _STRING, "expires": _STRING}, parameters=_DOMAIN)
        },
        f"{PREFIX}/peers/{{domain}}/block": {
            "post": _operation("Block a peer", "admin:write", {"note": _STRING},
                               parameters=_DOMAIN)
        },
        f"{PREFIX}/peers/{{domain}}/limit": {
            "post": _operation("Allow a peer with restricted terms", "admin:write", _TERMS_BODY,
                               parameters=_DOMAIN)
        },
        f"{PREFIX}/peer_requests": {
            "get": _operation("Peering requests (?state=pending|approved|denied|all)",
                              "admin:read")
        },
        f"{PREFIX}/peer_requests/{{domain}}/approve": {
            "post": _operation("Approve a peering request (allows the peer)", "admin:write",
                               parameters=_DOMAIN)
        },
        f"{PREFIX}/peer_requests/{{domain}}/deny": {
            "post": _operation("Deny a peering request, optionally blocking the peer",
                               "admin:write", {"block": {"type": "boolean"}}, parameters=_DOMAIN)
        },
        f"{PREFIX}/policy": {
            "get": _operation("The policy in force: TOML source and summary", "admin:read"),
            "put": _operation("Validate and store a new policy version", "admin:write",
                              {"source": _STRING, "comment": _STRING}),
        },
        f"{PREFIX}/policy/versions": {"get": _operation("Stored policy versions", "admin:read")},
        f"{PREFIX}/policy/validate": {
            "post": _operation("Validate a policy file (problem with line and path)",
                               "admin:read", {"source": _STRING})
        },
        f"{PREFIX}/policy/test": {
            "post": _operation(
                "Decide one crossing with the policy in force", "admin:read",
                {"text": _STRING, "peer": _STRING, "label": _STRING, "author": _STRING,
                 "kind": {"type": "string", "enum": list(KINDS)},
                 "direction": {"type": "string", "enum": list(DIRECTIONS)},
                 "summary": _STRING, "media": {"type": "boolean"},
                 "recipients": {"type": "array", "items": _STRING}},
            )
        },
        f"{PREFIX}/reviews": {
            "get": _operation("Review queue (?state=held|approved|rejected|all)", "admin:read")
        },
        f"{PREFIX}/reviews/{{item_id}}/approve": {
            "post": _operation("Release a held crossing", "admin:write",
                               parameters=_path_params("item_id"))
        },
        f"{PREFIX}/reviews/{{item_id}}/reject": {
            "post": _operation("Refuse a held crossing", "admin:write",
                               parameters=_path_params("item_id"))
        },
        f"{PREFIX}/groups": {
            "get": _operation("Groups with member counts", "admin:read"),
            "post": _operation("Create a local group", "admin:write",
                               {"name": _STRING, "description": _STRING}),
        },
        f"{PREFIX}/groups/{{name}}": {
            "get": _operation("A group and its members", "admin:read",
                              parameters=_path_params("name"))
        },
        f"{PREFIX}/groups/{{name}}/members": {
            "post": _operation("Add local users to a group", "admin:write",
                               {"usernames": {"type": "array", "items": _STRING}},
                               parameters=_path_params("name"))
        },
        f"{PREFIX}/groups/{{name}}/members/{{username}}": {
            "delete": _operation("Remove a user from a group", "admin:write",
                                 parameters=_path_params("name", "username"))
        },
        f"{PREFIX}/audit": {
            "get": _operation("Audit entries, newest first (?before=SEQ&limit=&peer=&kind=&since=)",
                              "admin:read")
        },
        f"{PREFIX}/audit/verify": {
            "get": _operation("Verify the hash chain; names the first broken entry", "admin:read")
        },
        f"{PREFIX}/audit/export": {
            "get": _operation("Audit entries as JSON lines (?since=ISO&peer=DOMAIN)", "admin:read")
        },
        PREVIEW_PATH: {
            "post": _operation(
                "Preview a draft: per peer node, the policy's decision, reasons and audience "
                "(scope read or write; the same decision function as delivery)",
                "read",
                {"status": _STRING, "visibility": _STRING, "label": _STRING,
                 "spoiler_text": _STRING, "in_reply_to_id": _STRING,
                 "mentions": {"type": "array", "items": _STRING},
                 "attachments": {"type": "array", "items": {"type": "object"}},
                 "sensitive": {"type": "boolean"}, "language": _STRING},
            )
        },
    }
)  # fmt: skip
