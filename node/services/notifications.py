"""Notifications: follows, follow requests, mentions, likes, shares, replies, edits."""

from __future__ import annotations

from collections.abc import Iterable

from node.errors import NotFound
from node.models import Account, Notification, Post
from node.services.pagination import Page, PageRequest, make_page, paginate
from node.site import Site
from node.translatable import translatable

# Mastodon's notification types that Fedwall produces.
KINDS = (
    "mention", "reblog", "favourite", "follow", "follow_request", "update", "status",
    # Fedwall: the boundary policy stopped or held one of the recipient's posts.
    "fedwall.policy",
)  # fmt: skip


async def notify(
    recipient: Account, kind: str, actor: Account, post: Post | None = None
) -> Notification | None:
    """Create a notification for a local recipient (none for remote ones or to oneself)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if not recipient.is_local or recipient.id == actor.id:
        return None
    return await Notification.create(recipient=recipient, kind=kind, actor=actor, post=post)


def publish(site: Site, created: Iterable[Notification | None]) -> None:
    """After commit: tell each recipient's streams about its new notification."""
    for notification in created:
        if notification is not None:
            recipient_id: int = notification.recipient_id  # type: ignore[attr-defined]
            site.events.publish(
                "notification",
                {"account_id": recipient_id, "notification_id": notification.id},
                [f"user:{recipient_id}"],
            )


async def list_notifications(
    account: Account,
    page: PageRequest,
    types: Iterable[str] = (),
    exclude_types: Iterable[str] = (),
) -> Page[Notification]:
    query = Notification.filter(recipient_id=account.id).prefetch_related("actor", "post")
    types = list(types)
    if types:
        query = query.filter(kind__in=types)
    excluded = list(exclude_types)
    if excluded:
        query = query.exclude(kind__in=excluded)
    rows, _ = await paginate(query, "id", page)
    return make_page(rows, [n.id for n in rows])


async def get_notification(account: Account, notification_id: int) -> Notification:
    found = await Notification.get_or_none(id=notification_id, recipient_id=account.id)
    if found is None:
        raise NotFound(translatable("notification not found"))
    await found.fetch_related("actor", "post")
    return found


async def dismiss(account: Account, notification_id: int) -> None:
    deleted = await Notification.filter(id=notification_id, recipient_id=account.id).delete()
    if not deleted:
        raise NotFound(translatable("notification not found"))


async def clear(account: Account) -> None:
    await Notification.filter(recipient_id=account.id).delete()


async def unread_count(account: Account) -> int:
    return await Notification.filter(recipient_id=account.id, read=False).count()


async def mark_read(account: Account, up_to_id: int | None = None) -> None:
    query = Notification.filter(recipient_id=account.id, read=False)
    if up_to_id is not None:
        query = query.filter(id__lte=up_to_id)
    await query.update(read=True)
