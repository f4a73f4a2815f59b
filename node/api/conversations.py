"""Direct conversations: list, mark read, remove from the list (Mastodon), and
Fedwall's chat extension under ``/api/v1/fedwall/conversations`` (start with several
participants, send, add a participant, leave, mute, read marker), documented in
:data:`node.api.openapi.PATHS`."""

from __future__ import annotations

from typing import Any

from node.api import openapi
from node.api.accounts import parse_id
from node.api.entities import Json, StatusRenderer, account_entity
from node.api.errors import ApiError
from node.api.routing import Call, Paged, Router
from node.errors import ValidationError
from node.models import Account, Post
from node.services import conversations, posts
from node.services.content import Handle
from node.services.conversations import ConversationView
from node.site import Site

router = Router()


async def conversation_entity(site: Site, viewer: Account, view: ConversationView) -> Json:
    """Mastodon's Conversation entity as ``viewer`` sees it."""
    last = view.last_post
    return {
        "id": str(view.conversation.id),
        "unread": view.unread,
        "accounts": [account_entity(site, a) for a in view.others],
        "last_status": await StatusRenderer(site, viewer).one(last) if last else None,
    }


@router.get("/api/v1/conversations", scope="read:statuses")
async def list_conversations(call: Call) -> Any:
    page = call.params.page()
    result = await conversations.list_for(call.user, page)
    items = [await conversation_entity(call.site, call.user, v) for v in result.items]
    return Paged(items, result.next_max_id, result.prev_min_id, page.bounded_limit)


@router.post("/api/v1/conversations/<conversation_id>/read", scope="write:conversations")
async def mark_read(call: Call, conversation_id: str) -> Any:
    view = await conversations.mark_read(call.user, parse_id(conversation_id))
    return await conversation_entity(call.site, call.user, view)


@router.delete("/api/v1/conversations/<conversation_id>", scope="write:conversations")
async def remove(call: Call, conversation_id: str) -> Any:
    await conversations.remove(call.user, parse_id(conversation_id))
    return {}


# ---------------------------------------------------------------- Fedwall chat extension

PREFIX = "/api/v1/fedwall/conversations"


async def chat_entity(site: Site, viewer: Account, view: ConversationView) -> Json:
    """The Conversation entity plus the viewer's own state (read marker, unread count, mute)."""
    entity = await conversation_entity(site, viewer, view)
    entity["fedwall"] = {
        "unread_count": view.member.unread_count,
        "last_read_id": str(view.member.last_read_id),
        "muted": view.member.muted,
    }
    return entity


async def undelivered_json(call: Call, post: Post) -> list[Json]:
    """The participants a new direct message will not reach, and why (``fedwall.undelivered``)."""
    missing = await conversations.undelivered(call.site, call.user, post)
    return [
        {
            "account": account_entity(call.site, u.account),
            "peer": u.peer,
            "outcome": u.outcome,
            "reasons": list(u.reasons),
        }
        for u in missing
    ]


async def _sent(call: Call, post: Post) -> Json:
    """The new message's status, with the participants it will not reach and why."""
    status = await StatusRenderer(call.site, call.user).one(post)
    status.setdefault("fedwall", {})["undelivered"] = await undelivered_json(call, post)
    view = await conversations.find_for_post(call.user, post)
    return {
        "conversation": await chat_entity(call.site, call.user, view) if view else None,
        "status": status,
    }


def _text(call: Call) -> str:
    text = call.params.text("status") or ""
    if not text.strip():
        raise ApiError(422, "Validation failed: status can't be blank")
    return text


def _label(call: Call) -> str | None:
    label = call.params.obj("fedwall").get("label")
    return label if isinstance(label, str) else None


@router.post(PREFIX, scope="write:conversations")
async def start(call: Call) -> Any:
    handles = call.params.strings("participants")
    try:
        post = await conversations.start(call.site, call.user, handles, _text(call), _label(call))
    except ValidationError as error:
        raise ApiError(422, f"Validation failed: {error}") from None
    return await _sent(call, post)


@router.get(f"{PREFIX}/<conversation_id>", scope="read:statuses")
async def show(call: Call, conversation_id: str) -> Any:
    view = await conversations.get_for(call.user, parse_id(conversation_id))
    return await chat_entity(call.site, call.user, view)


@router.get(f"{PREFIX}/<conversation_id>/messages", scope="read:statuses")
async def list_messages(call: Call, conversation_id: str) -> Any:
    """Newest first, in conversation order; ``max_id`` pages back from a message."""
    page = call.params.page()
    found = await conversations.messages(
        call.user, parse_id(conversation_id), before_id=page.max_id, limit=page.bounded_limit
    )
    items = await StatusRenderer(call.site, call.user).render(list(reversed(found)))
    next_max = found[0].id if len(found) == page.bounded_limit else None
    return Paged(items, next_max, None, page.bounded_limit)


@router.post(f"{PREFIX}/<conversation_id>/messages", scope="write:conversations")
async def send(call: Call, conversation_id: str) -> Any:
    post = await conversations.send(
        call.site, call.user, parse_id(conversation_id), _text(call), _label(call)
    )
    return await _sent(call, post)


@router.post(f"{PREFIX}/<conversation_id>/participants", scope="write:conversations")
async def add_participant(call: Call, conversation_id: str) -> Any:
    handle = (call.params.text("acct") or "").strip().lstrip("@")
    username, _, domain = handle.partition("@")
    if not username:
        raise ApiError(422, "Validation failed: acct is required")
    found = await posts.resolve_handles(
        call.site, [Handle(username.lower(), domain.lower() or None)]
    )
    if not found:
        raise ApiError(404, "Record not found")
    (account,) = found.values()
    await conversations.add_participant(call.user, parse_id(conversation_id), account)
    view = await conversations.get_for(call.user, parse_id(conversation_id))
    return await chat_entity(call.site, call.user, view)


@router.post(f"{PREFIX}/<conversation_id>/leave", scope="write:conversations")
async def leave(call: Call, conversation_id: str) -> Any:
    await conversations.leave(call.user, parse_id(conversation_id))
    return {}


@router.post(f"{PREFIX}/<conversation_id>/mute", scope="write:conversations")
async def mute(call: Call, conversation_id: str) -> Any:
    view = await conversations.set_muted(call.user, parse_id(conversation_id), True)
    return await chat_entity(call.site, call.user, view)


@router.post(f"{PREFIX}/<conversation_id>/unmute", scope="write:conversations")
async def unmute(call: Call, conversation_id: str) -> Any:
    view = await conversations.set_muted(call.user, parse_id(conversation_id), False)
    return await chat_entity(call.site, call.user, view)


@router.post(f"{PREFIX}/<conversation_id>/read", scope="write:conversations")
async def read_up_to(call: Call, conversation_id: str) -> Any:
    """Move the read marker to ``last_read_id`` (default: the newest message)."""
    raw = call.params.text("last_read_id")
    if raw:
        view = await conversations.mark_read_up_to(
            call.user, parse_id(conversation_id), parse_id(raw)
        )
    else:
        view = await conversations.mark_read(call.user, parse_id(conversation_id))
    return await chat_entity(call.site, call.user, view)


def _operation(summary: str, scope: str, body: Json | None = None) -> Json:
    operation: Json = {
        "summary": summary,
        "tags": ["fedwall"],
        "x-mastodon-compatible": False,
        "security": [{"OAuth2": [scope]}],
        "parameters": [
            {
                "name": "conversation_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        "responses": {
            "200": {"description": "OK (JSON)"},
            "4XX": {"description": "401 no token; 404 not a member; 422 invalid input"},
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "content": {"application/json": {"schema": {"type": "object", "properties": body}}}
        }
    return operation


_MESSAGE = {
    "status": {"type": "string"},
    "fedwall": {"type": "object", "properties": {"label": {"type": "string"}}},
}
_SENT = (
    "Answers {conversation, status}; status.fedwall.undelivered lists the participants the "
    "message will not reach (account, peer, outcome deny|hold, reasons)"
)
_start = _operation(
    f"Start a conversation with several participants. {_SENT}",
    "write:conversations",
    {**_MESSAGE, "participants": {"type": "array", "items": {"type": "string"}}},
)
del _start["parameters"]
openapi.PATHS.update(
    {
        PREFIX: {"post": _start},
        f"{PREFIX}/{{conversation_id}}": {
            "get": _operation(
                "One conversation with the viewer's unread count, read marker and mute",
                "read:statuses",
            )
        },
        f"{PREFIX}/{{conversation_id}}/messages": {
            "get": _operation(
                "The messages, newest first in conversation order (max_id pages back)",
                "read:statuses",
            ),
            "post": _operation(
                f"Send a message to every participant still in it. {_SENT}",
                "write:conversations",
                _MESSAGE,
            ),
        },
        f"{PREFIX}/{{conversation_id}}/participants": {
            "post": _operation(
                "Add a participant (user or user@domain); they see later messages only",
                "write:conversations",
                {"acct": {"type": "string"}},
            )
        },
        f"{PREFIX}/{{conversation_id}}/leave": {
            "post": _operation("Leave: later messages no longer address you", "write:conversations")
        },
        f"{PREFIX}/{{conversation_id}}/mute": {
            "post": _operation("Mute: messages no longer count as unread", "write:conversations")
        },
        f"{PREFIX}/{{conversation_id}}/unmute": {
            "post": _operation("Unmute", "write:conversations")
        },
        f"{PREFIX}/{{conversation_id}}/read": {
            "post": _operation(
                "Move the read marker (last_read_id, default the newest message)",
                "write:conversations",
                {"last_read_id": {"type": "string"}},
            )
        },
    }
)
