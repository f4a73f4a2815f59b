"""Notifications: list (filtered by type), one, dismiss, clear, unread count."""

from __future__ import annotations

from typing import Any

from node.api.accounts import parse_id
from node.api.entities import notification_entities
from node.api.errors import record_not_found
from node.api.routing import Call, Paged, Router
from node.services import notifications

router = Router()


@router.get("/api/v1/notifications", scope="read:notifications")
async def list_notifications(call: Call) -> Any:
    """Newest first; ``types[]`` keeps only those types, ``exclude_types[]`` drops some."""
    page = call.params.page()
    result = await notifications.list_notifications(
        call.user,
        page,
        types=call.params.strings("types"),
        exclude_types=call.params.strings("exclude_types"),
    )
    items = await notification_entities(call.site, call.user, result.items)
    return Paged(items, result.next_max_id, result.prev_min_id, page.bounded_limit)


@router.get("/api/v1/notifications/unread_count", scope="read:notifications")
async def unread_count(call: Call) -> Any:
    return {"count": await notifications.unread_count(call.user)}


@router.post("/api/v1/notifications/clear", scope="write:notifications")
async def clear(call: Call) -> Any:
    await notifications.clear(call.user)
    return {}


@router.get("/api/v1/notifications/<notification_id>", scope="read:notifications")
async def get_notification(call: Call, notification_id: str) -> Any:
    row = await notifications.get_notification(call.user, parse_id(notification_id))
    items = await notification_entities(call.site, call.user, [row])
    if not items:
        raise record_not_found()
    return items[0]


@router.post("/api/v1/notifications/<notification_id>/dismiss", scope="write:notifications")
async def dismiss(call: Call, notification_id: str) -> Any:
    await notifications.dismiss(call.user, parse_id(notification_id))
    return {}
