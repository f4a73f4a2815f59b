"""Likes and shares of posts."""

from __future__ import annotations

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from node.errors import ValidationError
from node.models import Account, Follow, Like, Post, Share, TimelineEntry
from node.services import notifications, outbox
from node.services.pagination import Page, PageRequest, make_page, paginate
from node.services.posts import get_visible_post
from node.services.visibility import SHAREABLE_VISIBILITIES
from node.site import Site
from node.translatable import translatable


async def like(site: Site, account: Account, post_id: int) -> Post:
    """``account`` likes a post it can see. Idempotent."""
    post = await get_visible_post(account, post_id)
    if await Like.filter(account_id=account.id, post_id=post.id).exists():
        return post
    async with in_transaction():
        reaction = await Like.create(account=account, post=post)
        if account.is_local:
            reaction.uri = f"{site.base_url}/likes/{reaction.id}"
            await reaction.save(update_fields=["uri"])
        await Post.filter(id=post.id).update(likes_count=F("likes_count") + 1)
        created = await notifications.notify(post.author, "favourite", account, post)
        if account.is_local and post.visibility != "node":
            await outbox.record("like.created", like_id=reaction.id)
    notifications.publish(site, [created])
    post.likes_count += 1
    return post


async def unlike(site: Site, account: Account, post_id: int) -> Post:
    post = await get_visible_post(account, post_id)
    reaction = await Like.get_or_none(account_id=account.id, post_id=post.id)
    if reaction is None:
        return post
    async with in_transaction():
        if account.is_local and post.visibility != "node":
            await outbox.record(
                "like.deleted", like_uri=reaction.uri, account_id=account.id, post_id=post.id
            )
        await reaction.delete()
        await Post.filter(id=post.id, likes_count__gt=0).update(likes_count=F("likes_count") - 1)
    post.likes_count = max(0, post.likes_count - 1)
    return post


async def share(site: Site, account: Account, post_id: int) -> Share:
    """``account`` shares (boosts) a public or node-wide post. Idempotent."""
    post = await get_visible_post(account, post_id)
    if post.visibility not in SHAREABLE_VISIBILITIES:
        raise ValidationError(
            translatable("a {visibility} post cannot be shared"), visibility=post.visibility
        )
    existing = await Share.get_or_none(account_id=account.id, post_id=post.id)
    if existing is not None:
        return existing
    async with in_transaction():
        shared = await Share.create(account=account, post=post)
        if account.is_local:
            shared.uri = f"{site.base_url}/shares/{shared.id}"
            await shared.save(update_fields=["uri"])
        await Post.filter(id=post.id).update(shares_count=F("shares_count") + 1)
        owners = set(
            await Follow.filter(
                followee_id=account.id, state="accepted", follower__domain=""
            ).values_list("follower_id", flat=True)
        )
        if account.is_local:
            owners.add(account.id)
        await TimelineEntry.bulk_create(
            [
                TimelineEntry(owner_id=o, post_id=post.id, share_id=shared.id, status_id=shared.id)
                for o in owners
            ],
            ignore_conflicts=True,
        )
        created = await notifications.notify(post.author, "reblog", account, post)
        if account.is_local and post.visibility != "node":
            await outbox.record("share.created", share_id=shared.id)
    notifications.publish(site, [created])
    site.events.publish(
        "update", {"post_id": post.id, "share_id": shared.id}, [f"user:{o}" for o in owners]
    )
    return shared


async def unshare(site: Site, account: Account, post_id: int) -> None:
    post = await get_visible_post(account, post_id)
    shared = await Share.get_or_none(account_id=account.id, post_id=post.id)
    if shared is None:
        return
    owners = await TimelineEntry.filter(share_id=shared.id).values_list("owner_id", flat=True)
    async with in_transaction():
        if account.is_local and post.visibility != "node":
            await outbox.record(
                "share.deleted", share_uri=shared.uri, account_id=account.id, post_id=post.id
            )
        await shared.delete()
        await Post.filter(id=post.id, shares_count__gt=0).update(shares_count=F("shares_count") - 1)
    # The share was a status of its own on timelines: it disappears from them.
    site.events.publish(
        "delete", {"post_id": post.id, "share_id": shared.id}, [f"user:{o}" for o in owners]
    )


async def liked_by(viewer: Account | None, post_id: int) -> list[Account]:
    post = await get_visible_post(viewer, post_id)
    likes = await Like.filter(post_id=post.id).prefetch_related("account").order_by("id")
    return [reaction.account for reaction in likes]


async def shared_by(viewer: Account | None, post_id: int) -> list[Account]:
    post = await get_visible_post(viewer, post_id)
    shares = await Share.filter(post_id=post.id).prefetch_related("account").order_by("id")
    return [item.account for item in shares]


async def liked_posts(account: Account, page: PageRequest) -> Page[Post]:
    """Posts ``account`` liked that still exist, most recent like first (paged by like id)."""
    query = Like.filter(account_id=account.id, post__deleted_at=None).prefetch_related(
        "post__author"
    )
    rows, _ = await paginate(query, "id", page)
    return make_page([row.post for row in rows], [row.id for row in rows])
