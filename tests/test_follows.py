"""Following: immediate accepts, requests to locked accounts, approval, refusal, unfollowing."""

from __future__ import annotations

from typing import Any

import pytest

from node.db import Database
from node.errors import NotFound, PermissionDenied, ValidationError
from node.models import Account, Follow, Notification, OutboxEvent, TimelineEntry
from node.services.accounts import create_local_account, set_disabled
from node.services.follows import (
    accept,
    follow,
    followers,
    following,
    pending_requests,
    reject,
    state_of,
    unfollow,
)
from node.services.pagination import PageRequest
from node.services.posts import Draft, create_post
from node.services.reactions import share
from node.site import Site


async def person(site: Site, username: str, **options: Any) -> Account:
    """A local account without a password (Argon2 is only needed by sign-in tests)."""
    return await create_local_account(site, username, None, **options)


async def counts(account: Account) -> tuple[int, int]:
    """``(followers_count, following_count)`` as stored."""
    fresh = await Account.get(id=account.id)
    return fresh.followers_count, fresh.following_count


async def notifications_of(account: Account) -> list[tuple[str, int]]:
    rows = await Notification.filter(recipient_id=account.id).order_by("id")
    return [(n.kind, n.actor_id) for n in rows]  # type: ignore[attr-defined]


async def test_following_an_unlocked_account_is_accepted_at_once_and_notified(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")

    relation = await follow(site, alice, bob)

    assert relation.state == "accepted"
    assert relation.uri == f"https://wall.test/follows/{relation.id}"
    assert await state_of(alice, bob) == "accepted"
    assert await counts(alice) == (0, 1)
    assert await counts(bob) == (1, 0)
    assert await notifications_of(bob) == [("follow", alice.id)]


async def test_following_twice_changes_nothing(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    first = await follow(site, alice, bob)

    second = await follow(site, alice, bob)

    assert second.id == first.id
    assert await Follow.all().count() == 1
    assert await counts(bob) == (1, 0)
    assert len(await notifications_of(bob)) == 1


async def test_following_a_locked_account_makes_a_pending_request(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob", locked=True)

    relation = await follow(site, alice, bob)

    assert relation.state == "pending"
    assert await state_of(alice, bob) == "pending"
    assert await counts(alice) == (0, 0)
    assert await counts(bob) == (0, 0)
    assert await notifications_of(bob) == [("follow_request", alice.id)]
    assert [a.id for a in (await pending_requests(bob, PageRequest())).items] == [alice.id]


async def test_accepting_a_request_makes_the_follow_count(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob", locked=True)
    await follow(site, alice, bob)

    relation = await accept(site, bob, alice)

    assert relation.state == "accepted"
    assert (await Follow.get(id=relation.id)).state == "accepted"
    assert await counts(alice) == (0, 1)
    assert await counts(bob) == (1, 0)
    assert await notifications_of(bob) == [("follow_request", alice.id), ("follow", alice.id)]
    assert (await pending_requests(bob, PageRequest())).items == []


async def test_accepting_backfills_the_followers_home_timeline(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob", locked=True)
    earlier = await create_post(site, bob, Draft(text="members only", visibility="followers"))
    await follow(site, alice, bob)
    assert not await TimelineEntry.filter(owner_id=alice.id).exists()

    await accept(site, bob, alice)

    entries = await TimelineEntry.filter(owner_id=alice.id).values_list("post_id", flat=True)
    assert entries == [earlier.id]


async def test_rejecting_a_request_removes_it(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob", locked=True)
    await follow(site, alice, bob)

    await reject(site, bob, alice)

    assert await Follow.all().count() == 0
    assert await state_of(alice, bob) is None
    assert await counts(alice) == (0, 0)
    assert await counts(bob) == (0, 0)


async def test_accepting_without_a_request_is_not_found(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob", locked=True)

    with pytest.raises(NotFound, match="no pending follow request"):
        await accept(site, bob, alice)

    assert await Follow.all().count() == 0


async def test_accepting_an_accepted_follow_again_is_not_found_and_counts_once(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, alice, bob)

    with pytest.raises(NotFound):
        await accept(site, bob, alice)

    assert await counts(bob) == (1, 0)


async def test_removing_an_accepted_follower_updates_both_counts(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, alice, bob)

    await reject(site, bob, alice)

    assert await Follow.all().count() == 0
    assert await counts(alice) == (0, 0)
    assert await counts(bob) == (0, 0)


async def test_unfollowing_removes_the_follow_and_updates_both_counts(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, alice, bob)

    await unfollow(site, alice, bob)

    assert await state_of(alice, bob) is None
    assert await counts(alice) == (0, 0)
    assert await counts(bob) == (0, 0)


async def test_unfollowing_removes_the_followees_posts_and_shares_from_home(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol")
    await follow(site, alice, bob)
    own = await create_post(site, alice, Draft(text="mine"))
    await create_post(site, bob, Draft(text="bob's"))
    carols = await create_post(site, carol, Draft(text="carol's"))
    await share(site, bob, carols.id)
    assert await TimelineEntry.filter(owner_id=alice.id).count() == 3

    await unfollow(site, alice, bob)

    remaining = await TimelineEntry.filter(owner_id=alice.id).values_list("post_id", flat=True)
    assert remaining == [own.id]
    assert await TimelineEntry.filter(owner_id=bob.id).count() == 2


async def test_withdrawing_a_pending_request_leaves_counts_alone(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob", locked=True)
    await follow(site, alice, bob)

    await unfollow(site, alice, bob)

    assert await Follow.all().count() == 0
    assert await counts(alice) == (0, 0)
    assert await counts(bob) == (0, 0)


async def test_unfollowing_someone_not_followed_changes_nothing(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")

    await unfollow(site, alice, bob)

    assert await counts(alice) == (0, 0)
    assert await counts(bob) == (0, 0)


async def test_following_oneself_is_rejected(db: Database, site: Site) -> None:
    alice = await person(site, "alice")

    with pytest.raises(ValidationError, match="cannot follow yourself"):
        await follow(site, alice, alice)

    assert await Follow.all().count() == 0
    assert await counts(alice) == (0, 0)


async def test_disabled_account_cannot_follow(db: Database, site: Site) -> None:
    await person(site, "alice")
    bob = await person(site, "bob")
    alice = await set_disabled("alice")

    with pytest.raises(PermissionDenied):
        await follow(site, alice, bob)

    assert await Follow.all().count() == 0


async def test_disabled_account_cannot_be_followed(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    await person(site, "bob")
    bob = await set_disabled("bob")

    with pytest.raises(NotFound):
        await follow(site, alice, bob)

    assert await Follow.all().count() == 0
    assert await Notification.all().count() == 0


async def test_following_a_remote_account_stays_pending_and_records_an_outbox_event(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    rita = await Account.create(
        username="rita", domain="remote.example", uri="https://remote.example/users/rita"
    )

    relation = await follow(site, alice, rita)

    assert relation.state == "pending"
    events = [(e.kind, e.payload) for e in await OutboxEvent.all()]
    assert events == [("follow.created", {"follow_id": relation.id})]
    assert await Notification.all().count() == 0


async def test_local_follows_record_no_outbox_event(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")

    await follow(site, alice, bob)
    await unfollow(site, alice, bob)

    assert await OutboxEvent.all().count() == 0


async def test_follower_and_following_lists_show_accepted_follows_only(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol", locked=True)
    await follow(site, alice, bob)
    await follow(site, alice, carol)
    await follow(site, carol, bob)

    assert [a.id for a in (await following(alice, PageRequest())).items] == [bob.id]
    assert [a.id for a in (await followers(bob, PageRequest())).items] == [carol.id, alice.id]
    assert (await followers(carol, PageRequest())).items == []
