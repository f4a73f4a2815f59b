"""Applying what other nodes tell us: their posts, follows, reactions and deletions.

The federation layer verifies and interprets activities, then calls these
functions; they keep the same invariants as the local services (counters,
timelines, notifications, live events, outbox) for changes that originate
elsewhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from node.models import (
    Account,
    Follow,
    Like,
    Mention,
    Post,
    PostEdit,
    PostTag,
    Share,
    TimelineEntry,
)
from node.services import conversations, notifications, outbox
from node.services.follows import adjust_follow_counts, backfill_timeline, remove_follow
from node.services.posts import fan_out, mark_deleted, publish_created
from node.site import Site


@dataclass(frozen=True)
class RemoteNote:
    """A post as another node described it, already sanitised and resolved."""

    uri: str
    url: str | None
    visibility: str
    label: str
    content_html: str
    summary: str = ""
    sensitive: bool = False
    language: str | None = None
    in_reply_to_uri: str | None = None
    context: str | None = None
    attachments: Sequence[dict[str, str]] = ()
    published: dt.datetime | None = None
    updated: dt.datetime | None = None
    mentioned: Sequence[Account] = ()
    tags: Sequence[str] = field(default_factory=tuple)


async def store_remote_post(site: Site, author: Account, note: RemoteNote) -> Post:
    """Store a post by a remote author (idempotent on its uri) and surface it locally."""
    existing = await Post.get_or_none(uri=note.uri)
    if existing is not None:
        return existing
    return await insert_remote_post(site, author, note)


async def insert_remote_post(
    site: Site, author: Account, note: RemoteNote, *, followers: Collection[int] | None = None
) -> Post:
    """:func:`store_remote_post` for a caller that has just found no post with that uri.

    ``followers``: the author's accepted local followers, when the caller has read them.
    Called inside a transaction, it writes in that transaction, without a savepoint
    of its own: a caller that survives an exception from here must undo its own
    work too (the inbox processor rolls back the activity's savepoint).
    """
    parent = await Post.get_or_none(uri=note.in_reply_to_uri) if note.in_reply_to_uri else None
    mentioned = {a.id: a for a in note.mentioned if a.id != author.id}
    in_callers = isinstance(Post._meta.db, TransactionalDBClient)
    async with contextlib.nullcontext() if in_callers else in_transaction():
        post = await Post.create(
            uri=note.uri,
            url=note.url,
            author=author,
            local=False,
            visibility=note.visibility,
            label=note.label,
            content_html=note.content_html,
            summary=note.summary,
            sensitive=note.sensitive or bool(note.summary),
            language=note.language,
            in_reply_to=parent,
            in_reply_to_uri=note.in_reply_to_uri,
            thread_root_id=(parent.thread_root_id or parent.id) if parent else None,  # type: ignore[attr-defined]
            context=note.context or (parent.context if parent else None),
            attachments=[dict(a) for a in note.attachments],
            created_at=note.published or dt.datetime.now(dt.UTC),
            edited_at=note.updated,
        )
        # An empty bulk_create still builds its statement: most posts mention and tag nobody.
        if mentioned:
            await Mention.bulk_create([Mention(post_id=post.id, account_id=i) for i in mentioned])
        if note.tags:
            await PostTag.bulk_create([PostTag(post_id=post.id, name=t[:100]) for t in note.tags])
        await Account.filter(id=author.id).update(posts_count=F("posts_count") + 1)
        if parent is not None:
            await Post.filter(id=parent.id).update(replies_count=F("replies_count") + 1)
        owners = await fan_out(post, author, followers=followers)
        created = [
            await notifications.notify(account, "mention", author, post)
            for account in mentioned.values()
        ]
        members: list[int] = []
        if post.visibility == "direct":
            members = await conversations.record(post, author, list(mentioned.values()))
    publish_created(site, post, owners, note.tags)
    notifications.publish(site, created)
    conversations.publish(site, post, members)
    return post


async def update_remote_post(site: Site, post: Post, note: RemoteNote) -> Post:
    """Apply an edit made on the author's node; the previous version goes to history."""
    async with in_transaction():
        await PostEdit.create(
            post=post,
            content_source=post.content_source,
            content_html=post.content_html,
            summary=post.summary,
            sensitive=post.sensitive,
            created_at=post.edited_at or post.created_at,
        )
        post.content_html = note.content_html
        post.summary = note.summary
        post.sensitive = note.sensitive or bool(note.summary)
        post.label = note.label
        post.attachments = [dict(a) for a in note.attachments]
        post.edited_at = note.updated or dt.datetime.now(dt.UTC)
        await post.save()
        await PostTag.filter(post_id=post.id).delete()
        await PostTag.bulk_create([PostTag(post_id=post.id, name=t[:100]) for t in note.tags])
    owners = await TimelineEntry.filter(post_id=post.id).values_list("owner_id", flat=True)
    keys = [f"user:{o}" for o in owners] + [f"post:{post.id}", "public"]
    site.events.publish("status.update", {"post_id": post.id}, keys)
    return post


async def delete_remote_post(site: Site, post: Post) -> None:
    owners = await TimelineEntry.filter(post_id=post.id).values_list("owner_id", flat=True)
    async with in_transaction():
        await mark_deleted(post)
    site.events.publish("delete", {"post_id": post.id}, [f"user:{o}" for o in owners] + ["public"])


async def receive_follow(site: Site, follower: Account, target: Account, uri: str) -> Follow:
    """A remote actor asks to follow a local account; accepted at once unless it is locked."""
    existing = await Follow.get_or_none(follower_id=follower.id, followee_id=target.id)
    if existing is not None:
        if existing.uri != uri:
            existing.uri = uri
            await existing.save(update_fields=["uri"])
        if existing.state == "accepted":
            async with in_transaction():
                # They asked again (they may have lost our Accept): answer again.
                await outbox.record("follow.accepted", follow_id=existing.id)
        return existing
    accepted = not target.locked
    async with in_transaction():
        relation = await Follow.create(
            follower=follower, followee=target, state="accepted" if accepted else "pending", uri=uri
        )
        if accepted:
            await adjust_follow_counts(relation, +1)
            await notifications.notify(target, "follow", follower)
            await outbox.record("follow.accepted", follow_id=relation.id)
        else:
            await notifications.notify(target, "follow_request", follower)
    site.events.publish("notification", {"account_id": target.id}, [f"user:{target.id}"])
    return relation


async def follow_accepted(site: Site, relation: Follow) -> None:
    """The remote followee accepted a local account's follow."""
    if relation.state == "accepted":
        return
    async with in_transaction():
        relation.state = "accepted"
        await relation.save(update_fields=["state"])
        await adjust_follow_counts(relation, +1)
        follower = await Account.get(id=relation.follower_id)  # type: ignore[attr-defined]
        followee = await Account.get(id=relation.followee_id)  # type: ignore[attr-defined]
        await backfill_timeline(follower, followee)


async def follow_ended(site: Site, relation: Follow) -> None:
    """A follow ended on the other side (rejected, or undone by the remote follower)."""
    follower = await Account.get(id=relation.follower_id)  # type: ignore[attr-defined]
    followee = await Account.get(id=relation.followee_id)  # type: ignore[attr-defined]
    async with in_transaction():
        await remove_follow(relation, follower, followee)


async def receive_like(site: Site, account: Account, post: Post, uri: str) -> None:
    if await Like.filter(account_id=account.id, post_id=post.id).exists():
        return
    async with in_transaction():
        await Like.create(account=account, post=post, uri=uri)
        await Post.filter(id=post.id).update(likes_count=F("likes_count") + 1)
        author = await Account.get(id=post.author_id)  # type: ignore[attr-defined]
        created = await notifications.notify(author, "favourite", account, post)
    notifications.publish(site, [created])


async def remove_like(site: Site, like: Like) -> None:
    async with in_transaction():
        await Post.filter(id=like.post_id, likes_count__gt=0).update(  # type: ignore[attr-defined]
            likes_count=F("likes_count") - 1
        )
        await like.delete()


async def receive_share(site: Site, account: Account, post: Post, uri: str) -> Share:
    existing = await Share.get_or_none(account_id=account.id, post_id=post.id)
    if existing is not None:
        return existing
    async with in_transaction():
        shared = await Share.create(account=account, post=post, uri=uri)
        await Post.filter(id=post.id).update(shares_count=F("shares_count") + 1)
        owners = set(
            await Follow.filter(
                followee_id=account.id, state="accepted", follower__domain=""
            ).values_list("follower_id", flat=True)
        )
        await TimelineEntry.bulk_create(
            [
                TimelineEntry(owner_id=o, post_id=post.id, share_id=shared.id, status_id=shared.id)
                for o in owners
            ],
            ignore_conflicts=True,
        )
        author = await Account.get(id=post.author_id)  # type: ignore[attr-defined]
        created = await notifications.notify(author, "reblog", account, post)
    notifications.publish(site, [created])
    site.events.publish(
        "update", {"post_id": post.id, "share_id": shared.id}, [f"user:{o}" for o in owners]
    )
    return shared


async def remove_share(site: Site, shared: Share) -> None:
    async with in_transaction():
        await Post.filter(id=shared.post_id, shares_count__gt=0).update(  # type: ignore[attr-defined]
            shares_count=F("shares_count") - 1
        )
        await shared.delete()


async def remove_actor(site: Site, account: Account) -> None:
    """A remote actor deleted itself: its posts become tombstones, its relations end."""
    for post in await Post.filter(author_id=account.id, deleted_at=None):
        await delete_remote_post(site, post)
    async with in_transaction():
        for relation in await Follow.filter(follower_id=account.id):
            await remove_follow(relation, account, await Account.get(id=relation.followee_id))  # type: ignore[attr-defined]
        for relation in await Follow.filter(followee_id=account.id):
            await remove_follow(relation, await Account.get(id=relation.follower_id), account)  # type: ignore[attr-defined]
        await Like.filter(account_id=account.id).delete()
        await Share.filter(account_id=account.id).delete()
        account.disabled = True
        await account.save(update_fields=["disabled"])
