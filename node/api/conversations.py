"""Direct conversations: list, mark read, remove from the list."""

from __future__ import annotations

from typing import Any

from node.api.accounts import parse_id
from node.api.entities import Json, StatusRenderer, account_entity
from node.api.routing import Call, Paged, Router
from node.models import Account
from node.services import conversations
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
