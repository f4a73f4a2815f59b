"""Following: requests, approval for locked accounts, unfollowing, lists."""

from __future__ import annotations

from tortoise.expressions import F, Subquery
from tortoise.transactions import in_transaction

from node.errors import NotFound, PermissionDenied, ValidationError
from node.models import Account, Follow, Post, Share, TimelineEntry
from node.services import notifications, outbox
from node.services.pagination import Page, PageRequest, make_page, paginate
from node.site import Site
from node.translatable import translatable

BACKFILL_POSTS = 20


async def adjust_follow_counts(follow: Follow, delta: int) -> None:
    await Account.filter(id=follow.follower_id).update(  # type: ignore[attr-defined]
        following_count=F("following_count") + delta
    )
    await Account.filter(id=follow.followee_id).update(  # type: ignore[attr-defined]
        followers_count=F("followers_count") + delta
    )


async def backfill_timeline(follower: Account, followee: Account) -> None:
    """Put the followee's recent posts on a new local follower's home timeline."""
    if not follower.is_local:
        return
    recent = (
        await Post.filter(
            author_id=followee.id, deleted_at=None, visibility__in=("public", "node", "followers")
        )
        .order_by("-id")
        .limit(BACKFILL_POSTS)
    )
    await TimelineEntry.bulk_create(
        [TimelineEntry(owner_id=follower.id, post_id=p.id, status_id=p.id) for p in recent],
        ignore_conflicts=True,
    )


async def follow(site: Site, follower: Account, target: Account) -> Follow:
    """``follower`` (local) asks to follow ``target``. Idempotent.

    Local unlocked targets accept at once; locked ones get a request; remote
    ones stay pending until their node answers.
    """
    if follower.disabled:
        raise PermissionDenied(translatable("this account is disabled"))
    if follower.id == target.id:
        raise ValidationError(translatable("you cannot follow yourself"))
    if target.disabled:
        raise NotFound(translatable("account not found"))
    existing = await Follow.get_or_none(follower_id=follower.id, followee_id=target.id)
    if existing is not None:
        return existing
    accepted = target.is_local and not target.locked
    async with in_transaction():
        relation = await Follow.create(
            follower=follower, followee=target, state="accepted" if accepted else "pending"
        )
        relation.uri = f"{site.base_url}/follows/{relation.id}"
        await relation.save(update_fields=["uri"])
        if accepted:
            await adjust_follow_counts(relation, +1)
            await backfill_timeline(follower, target)
            await notifications.notify(target, "follow", follower)
        elif target.is_local:
            await notifications.notify(target, "follow_request", follower)
        if not target.is_local:
            await outbox.record("follow.created", follow_id=relation.id)
    if target.is_local:
        site.events.publish("notification", {"account_id": target.id}, [f"user:{target.id}"])
    return relation


async def accept(site: Site, followee: Account, follower: Account) -> Follow:
    """Approve a pending follow request."""
    relation = await Follow.get_or_none(
        follower_id=follower.id, followee_id=followee.id, state="pending"
    )
    if relation is None:
        raise NotFound(translatable("no pending follow request from this account"))
    async with in_transaction():
        relation.state = "accepted"
        await relation.save(update_fields=["state"])
        await adjust_follow_counts(relation, +1)
        await backfill_timeline(follower, followee)
        await notifications.notify(followee, "follow", follower)
        if not follower.is_local and followee.is_local:
            await outbox.record("follow.accepted", follow_id=relation.id)
    return relation


async def reject(site: Site, followee: Account, follower: Account) -> None:
    """Refuse a pending follow request (or remove a follower)."""
    relation = await Follow.get_or_none(follower_id=follower.id, followee_id=followee.id)
    if relation is None:
        raise NotFound(translatable("no follow request from this account"))
    async with in_transaction():
        if not follower.is_local and followee.is_local:
            await outbox.record(
                "follow.rejected",
                follow_uri=relation.uri,
                follower_id=follower.id,
                followee_id=followee.id,
            )
        await remove_follow(relation, follower, followee)


async def remove_follow(relation: Follow, follower: Account, followee: Account) -> None:
    if relation.state == "accepted":
        await adjust_follow_counts(relation, -1)
    await relation.delete()
    if follower.is_local:
        shared_ids = Subquery(Share.filter(account_id=followee.id).values_list("id", flat=True))
        await TimelineEntry.filter(owner_id=follower.id, post__author_id=followee.id).delete()
        await TimelineEntry.filter(owner_id=follower.id, share_id__in=shared_ids).delete()


async def unfollow(site: Site, follower: Account, target: Account) -> None:
    """Stop following (or withdraw a request). Idempotent."""
    relation = await Follow.get_or_none(follower_id=follower.id, followee_id=target.id)
    if relation is None:
        return
    async with in_transaction():
        if not target.is_local:
            await outbox.record(
                "follow.deleted",
                follow_uri=relation.uri,
                follower_id=follower.id,
                followee_id=target.id,
            )
        await remove_follow(relation, follower, target)


async def followers(account: Account, page: PageRequest) -> Page[Account]:
    rows, _ = await paginate(
        Follow.filter(followee_id=account.id, state="accepted").prefetch_related("follower"),
        "id",
        page,
    )
    return make_page([r.follower for r in rows], [r.id for r in rows])


async def following(account: Account, page: PageRequest) -> Page[Account]:
    rows, _ = await paginate(
        Follow.filter(follower_id=account.id, state="accepted").prefetch_related("followee"),
        "id",
        page,
    )
    return make_page([r.followee for r in rows], [r.id for r in rows])


async def pending_requests(account: Account, page: PageRequest) -> Page[Account]:
    rows, _ = await paginate(
        Follow.filter(followee_id=account.id, state="pending").prefetch_related("follower"),
        "id",
        page,
    )
    return make_page([r.follower for r in rows], [r.id for r in rows])


async def state_of(follower: Account, followee: Account) -> str | None:
    """``"accepted"``, ``"pending"`` or None."""
    relation = await Follow.get_or_none(follower_id=follower.id, followee_id=followee.id)
    return relation.state if relation else None
