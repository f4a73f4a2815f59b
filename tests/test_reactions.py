"""Likes and shares: counts, idempotency, notifications, undoing, what may be shared."""

from __future__ import annotations

from typing import Any

import pytest

from node.db import Database
from node.errors import NotFound, ValidationError
from node.models import Account, Like, Notification, OutboxEvent, Post, Share, TimelineEntry
from node.services.accounts import create_local_account
from node.services.follows import follow
from node.services.posts import Draft, create_post
from node.services.reactions import like, liked_by, share, shared_by, unlike, unshare
from node.site import Site


async def person(site: Site, username: str, **options: Any) -> Account:
    """A local account without a password (Argon2 is only needed by sign-in tests)."""
    return await create_local_account(site, username, None, **options)


async def counters(post: Post) -> tuple[int, int]:
    """``(likes_count, shares_count)`` as stored."""
    fresh = await Post.get(id=post.id)
    return fresh.likes_count, fresh.shares_count


async def notifications_of(account: Account) -> list[tuple[str, int, int | None]]:
    rows = await Notification.filter(recipient_id=account.id).order_by("id")
    return [(n.kind, n.actor_id, n.post_id) for n in rows]  # type: ignore[attr-defined]


async def outbox_kinds() -> list[str]:
    return [event.kind for event in await OutboxEvent.all().order_by("id")]


# ---------------------------------------------------------------- likes


async def test_like_counts_and_notifies_the_author(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="nice work, team"))

    liked = await like(site, bob, post.id)

    assert liked.likes_count == 1
    assert await counters(post) == (1, 0)
    assert [a.id for a in await liked_by(None, post.id)] == [bob.id]
    assert await notifications_of(alice) == [("favourite", bob.id, post.id)]


async def test_liking_twice_counts_once(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="nice"))

    await like(site, bob, post.id)
    await like(site, bob, post.id)

    assert await Like.all().count() == 1
    assert await counters(post) == (1, 0)
    assert len(await notifications_of(alice)) == 1


async def test_unlike_removes_the_like_and_the_count(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="nice"))
    await like(site, bob, post.id)

    await unlike(site, bob, post.id)

    assert await Like.all().count() == 0
    assert await counters(post) == (0, 0)


async def test_unliking_a_post_not_liked_changes_nothing(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="nice"))

    await unlike(site, bob, post.id)

    assert await counters(post) == (0, 0)
    assert await outbox_kinds() == ["post.created"]


async def test_liking_own_post_counts_without_notifying(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="proud of this"))

    await like(site, alice, post.id)

    assert await counters(post) == (1, 0)
    assert await notifications_of(alice) == []


async def test_liking_a_post_one_cannot_see_is_not_found(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    carol = await person(site, "carol")
    post = await create_post(site, alice, Draft(text="followers", visibility="followers"))

    with pytest.raises(NotFound):
        await like(site, carol, post.id)

    assert await Like.all().count() == 0
    assert await counters(post) == (0, 0)


async def test_liking_and_unliking_a_public_post_record_outbox_events(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="nice"))

    await like(site, bob, post.id)
    await unlike(site, bob, post.id)

    assert await outbox_kinds() == ["post.created", "like.created", "like.deleted"]


async def test_liking_a_node_post_records_no_outbox_event(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="internal", visibility="node"))

    await like(site, bob, post.id)
    await unlike(site, bob, post.id)

    assert await outbox_kinds() == []


# ---------------------------------------------------------------- shares


async def test_share_counts_notifies_and_reaches_the_sharers_followers(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol")
    await follow(site, carol, bob)
    post = await create_post(site, alice, Draft(text="announcement"))

    shared = await share(site, bob, post.id)

    assert shared.uri == f"https://wall.test/shares/{shared.id}"
    assert await counters(post) == (0, 1)
    assert [a.id for a in await shared_by(None, post.id)] == [bob.id]
    assert await notifications_of(alice) == [("reblog", bob.id, post.id)]
    entry = await TimelineEntry.get(owner_id=carol.id, post_id=post.id)
    assert (entry.share_id, entry.status_id) == (shared.id, shared.id)  # type: ignore[attr-defined]


async def test_sharing_twice_counts_once(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="announcement"))

    first = await share(site, bob, post.id)
    second = await share(site, bob, post.id)

    assert second.id == first.id
    assert await Share.all().count() == 1
    assert await counters(post) == (0, 1)
    assert len(await notifications_of(alice)) == 1


async def test_unshare_removes_the_share_its_count_and_its_timeline_entries(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol")
    await follow(site, carol, bob)
    post = await create_post(site, alice, Draft(text="announcement"))
    await share(site, bob, post.id)

    await unshare(site, bob, post.id)

    assert await Share.all().count() == 0
    assert await counters(post) == (0, 0)
    assert await TimelineEntry.filter(share_id__not_isnull=True).count() == 0
    assert not await TimelineEntry.filter(owner_id=carol.id).exists()
    assert await outbox_kinds() == ["post.created", "share.created", "share.deleted"]


async def test_node_post_may_be_shared_without_an_outbox_event(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="internal", visibility="node"))

    await share(site, bob, post.id)

    assert await counters(post) == (0, 1)
    assert await outbox_kinds() == []


async def test_followers_only_post_cannot_be_shared(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, bob, alice)
    post = await create_post(site, alice, Draft(text="for followers", visibility="followers"))
    timeline_before = await TimelineEntry.all().count()

    with pytest.raises(ValidationError, match="a followers post cannot be shared"):
        await share(site, bob, post.id)

    assert await Share.all().count() == 0
    assert await counters(post) == (0, 0)
    assert await TimelineEntry.all().count() == timeline_before
    assert await notifications_of(alice) == [("follow", bob.id, None)]


async def test_direct_post_cannot_be_shared_even_by_its_recipient(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="@bob between us", visibility="direct"))

    with pytest.raises(ValidationError, match="cannot be shared"):
        await share(site, bob, post.id)

    assert await Share.all().count() == 0


async def test_sharing_a_post_one_cannot_see_is_not_found(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    carol = await person(site, "carol")
    post = await create_post(site, alice, Draft(text="@bob between us", visibility="direct"))

    with pytest.raises(NotFound):
        await share(site, carol, post.id)

    assert await Share.all().count() == 0
