"""The review queue: crossings a ``hold`` rule stopped until an admin approves or rejects them.

A held outbound crossing is a :class:`~node.models.Delivery` in state ``held``
(its body is the copy the policy would release to that peer) with a
:class:`~node.models.ReviewItem` naming the reasons. Approving puts the delivery
back in the queue (``pending``, due now); rejecting ends it (``dead``, "rejected by
review"). A held inbound item (an :class:`~node.models.InboxItem` in state
``held``) goes back to ``pending`` or ends ``rejected``. Every decision is audited
and the local author is notified (kind ``fedwall.policy``) when the item is held
and when it is decided.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from node.errors import NotFound, ValidationError
from node.models import Account, Delivery, InboxItem, Notification, Post, ReviewItem
from node.policy import Decision, Reason
from node.services import audit, notifications
from node.services.accounts import NODE_ACTOR_USERNAME
from node.site import Site
from node.translatable import translatable

NOTIFICATION_KIND = "fedwall.policy"
REVIEW_STATES = ("held", "approved", "rejected")
REJECTED_ERROR = "rejected by review"


@dataclass(frozen=True)
class ReviewDecision:
    """A decided item, and the notification sent to its author (None for remote authors)."""

    item: ReviewItem
    notification: Notification | None


def reason_dicts(reasons: Decision | Iterable[Reason]) -> list[dict[str, object]]:
    """Reasons as stored on a review item; for a decision, the ones that held it."""
    chosen = reasons.decisive() if isinstance(reasons, Decision) else reasons
    return [
        {"rule": r.rule_id, "code": r.code, "message": r.message, "field": r.field}
        | r.text_fields()
        for r in chosen
    ]


async def _node_actor() -> Account | None:
    return await Account.get_or_none(username=NODE_ACTOR_USERNAME, domain="")


async def _tell_author(post: Post | None, sender: Account | None) -> Notification | None:
    """Notify the local author (from the node's own actor, as delivery does)."""
    author = sender
    if post is not None:
        author = await Account.get_or_none(id=post.author_id)  # type: ignore[attr-defined]
    actor = await _node_actor()
    if author is None or actor is None or not author.is_local:
        return None
    return await notifications.notify(author, NOTIFICATION_KIND, actor, post)


async def hold(
    delivery: Delivery,
    reasons: Decision | Iterable[Reason],
    *,
    post: Post | None = None,
    site: Site | None = None,
) -> ReviewItem:
    """Hold ``delivery`` for review: state ``held``, a review item with ``reasons``, and a
    notification to its author. Holding a delivery that already waits returns its item."""
    async with in_transaction():
        existing = await ReviewItem.get_or_none(delivery_id=delivery.id, state="held")
        if existing is not None:
            return existing
        await Delivery.filter(id=delivery.id).update(state="held", policy_outcome="hold")
        delivery.state = "held"
        # By id: a delivery written with bulk_create is stored but not marked as saved.
        item = await ReviewItem.create(
            direction="outbound",
            peer_domain=delivery.peer_domain,
            post_id=post.id if post is not None else None,
            delivery_id=delivery.id,
            reasons=reason_dicts(reasons),
        )
        sender = await Account.get_or_none(id=delivery.sender_id)  # type: ignore[attr-defined]
        created = await _tell_author(post, sender)
    if site is not None:
        notifications.publish(site, [created])
    return item


async def list_items(state: str | None = "held", limit: int = 100) -> list[ReviewItem]:
    """Review items in ``state`` (None: all), oldest first, with their post and delivery."""
    if state is not None and state not in REVIEW_STATES:
        raise ValidationError(
            translatable("invalid state {state!r}: use one of {choices}"),
            state=state,
            choices=", ".join(REVIEW_STATES),
        )
    query = ReviewItem.all().order_by("id").limit(limit)
    if state is not None:
        query = query.filter(state=state)
    return list(await query.prefetch_related("post", "post__author", "delivery", "inbox_item"))


async def get_item(item_id: int) -> ReviewItem:
    item = await ReviewItem.get_or_none(id=item_id).prefetch_related(
        "post", "post__author", "delivery", "delivery__sender", "inbox_item"
    )
    if item is None:
        raise NotFound(translatable("no review item {id}"), id=item_id)
    return item


async def approve(item_id: int, *, reviewer: str, site: Site | None = None) -> ReviewDecision:
    """Release a held crossing: its delivery (or inbox item) goes back to the queue, due now."""
    return await _decide(item_id, "approved", reviewer, site)


async def reject(item_id: int, *, reviewer: str, site: Site | None = None) -> ReviewDecision:
    """Refuse a held crossing: its delivery ends ``dead`` (inbox item ``rejected``)."""
    return await _decide(item_id, "rejected", reviewer, site)


async def _decide(item_id: int, state: str, reviewer: str, site: Site | None) -> ReviewDecision:
    moment = dt.datetime.now(dt.UTC)
    async with in_transaction() as conn:
        query = ReviewItem.filter(id=item_id)
        if conn.capabilities.dialect == "postgres":
            query = query.select_for_update()  # two reviewers never both decide
        item = await query.first()
        if item is None:
            raise NotFound(translatable("no review item {id}"), id=item_id)
        if item.state != "held":
            raise ValidationError(
                translatable("review item {id} was already {state}"), id=item_id, state=item.state
            )
        item.state, item.decided_by, item.decided_at = state, reviewer, moment
        await item.save(update_fields=["state", "decided_by", "decided_at"])
        delivery_id = item.delivery_id  # type: ignore[attr-defined]
        inbox_item_id = item.inbox_item_id  # type: ignore[attr-defined]
        delivery = await Delivery.get_or_none(id=delivery_id) if delivery_id else None
        if delivery is not None:
            if state == "approved":
                await Delivery.filter(id=delivery.id, state="held").update(
                    state="pending", next_attempt_at=moment, last_error=None
                )
            else:
                await Delivery.filter(id=delivery.id, state="held").update(
                    state="dead", last_error=REJECTED_ERROR
                )
        if inbox_item_id:
            if state == "approved":
                await InboxItem.filter(id=inbox_item_id, state="held").update(state="pending")
            else:
                await InboxItem.filter(id=inbox_item_id, state="held").update(
                    state="rejected", last_error=REJECTED_ERROR, processed_at=moment
                )
        post_id = item.post_id  # type: ignore[attr-defined]
        post = await Post.get_or_none(id=post_id) if post_id else None
        await audit.append(
            f"review.{state}",
            direction=item.direction,
            peer=item.peer_domain,
            object_id=post.uri if post else (delivery.activity_id if delivery else None),
            actor=reviewer,
            label=post.label if post else None,
            decision=state,
            rule_ids=sorted({str(r["rule"]) for r in item.reasons if r.get("rule")}),
            details={
                "review_id": str(item.id),
                "delivery_id": str(delivery_id) if delivery_id else None,
                "inbox_item_id": str(inbox_item_id) if inbox_item_id else None,
            },
        )
        sender = None
        if delivery is not None:
            sender = await Account.get_or_none(id=delivery.sender_id)  # type: ignore[attr-defined]
        created = await _tell_author(post, sender)
    if site is not None:
        notifications.publish(site, [created])
    return ReviewDecision(await get_item(item_id), created)
