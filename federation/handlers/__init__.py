"""Inbound activity handlers: one module per activity family, one dispatch table.

Each handler returns an outcome string: ``"processed"``, or ``"unhandled: …"``
/ ``"rejected: …"`` with a reason. An activity type without a handler ends as
unhandled, never as an exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from federation.handlers import actors, follows, notes, reactions
from federation.handlers.context import HandlerContext
from federation.vocabulary import as_list

Handler = Callable[[HandlerContext, dict[str, Any]], Awaitable[str]]

HANDLERS: dict[str, Handler] = {
    "Follow": follows.handle_follow,
    "Accept": follows.handle_accept,
    "Reject": follows.handle_reject,
    "Create": notes.handle_create,
    "Update": notes.handle_update,
    "Delete": notes.handle_delete,
    "Announce": reactions.handle_announce,
    "Like": reactions.handle_like,
    "Undo": reactions.handle_undo,
    "Move": actors.handle_unsupported,
}


async def dispatch(context: HandlerContext, activity: dict[str, Any]) -> str:
    """Route a normalised, verified activity to its handler."""
    for kind in as_list(activity.get("type")):
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            return await handler(context, activity)
    return f"unhandled: activity type {activity.get('type')!r} is not supported"


__all__ = ["HANDLERS", "HandlerContext", "dispatch"]
