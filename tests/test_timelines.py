"""Walls, home timelines, the node timeline, hashtag timelines and keyset pagination."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from node.db import Database
from node.errors import ValidationError
from node.ids import new_id
from node.models import Account, Post, PostTag
from node.services.accounts import create_local_account
from node.services.follows import follow, unfollow
from node.services.pagination import MAX_LIMIT, PageRequest
from node.services.posts import Draft, create_post, delete_post
from node.services.reactions import share
from node.services.timelines import TimelineItem, home, node_timeline, tag_timeline, wall
from node.site import Site

EVERYTHING = PageRequest(limit=MAX_LIMIT)


async def person(site: Site, username: str, **options: Any) -> Account:
    """A local account without a password (Argon2 is only needed by sign-in tests)."""
    return await create_local_account(site, username, None, **options)


async def remote(username: str) -> Account:
    return await Account.create(
        username=username,
        domain="remote.example",
        uri=f"https://remote.example/users/{username}",
    )


def ids(items: list[TimelineItem]) -> list[int]:
    return [item.post.id for item in items]


async def post(site: Site, author: Account, text: str, visibility: str = "public") -> int:
    return (await create_post(site, author, Draft(text=text, visibility=visibility))).id


async def _insert_posts(author: Account, count: int, visibility: str = "public") -> None:
    """``count`` posts written in one statement: test data for pagination, not for fan-out."""
    created = dt.datetime.now(dt.UTC)
    rows = []
    for n in range(count):
        post_id = new_id()
        rows.append(
            Post(
                id=post_id,
                uri=f"https://wall.test/users/{author.username}/posts/{post_id}",
                author_id=author.id,
                local=True,
                visibility=visibility,
                label="internal",
                content_source=f"post {n}",
                content_html=f"<p>post {n}</p>",
                created_at=created,
            )
        )
    await Post.bulk_create(rows)


async def _newest_first(author: Account) -> list[int]:
    """What a wall of public posts must show, straight from the database."""
    rows = (
        await Post.filter(author_id=author.id, deleted_at=None, visibility="public")
        .order_by("-id")
        .values("id")
    )
    return [row["id"] for row in rows]


# ---------------------------------------------------------------- walls


async def test_wall_shows_the_authors_posts_newest_first(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    first = await post(site, alice, "one")
    await post(site, bob, "not alice's")
    second = await post(site, alice, "two")
    third = await post(site, alice, "three")

    page = await wall(None, alice, EVERYTHING)

    assert ids(page.items) == [third, second, first]


async def test_followers_post_is_on_the_wall_only_for_accepted_followers_and_the_author(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol")
    await follow(site, bob, alice)
    public = await post(site, alice, "for everyone")
    private = await post(site, alice, "for followers", "followers")

    assert ids((await wall(alice, alice, EVERYTHING)).items) == [private, public]
    assert ids((await wall(bob, alice, EVERYTHING)).items) == [private, public]
    assert ids((await wall(carol, alice, EVERYTHING)).items) == [public]
    assert ids((await wall(None, alice, EVERYTHING)).items) == [public]


async def test_followers_post_is_not_on_the_wall_for_a_pending_follower(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice", locked=True)
    bob = await person(site, "bob")
    await follow(site, bob, alice)
    await post(site, alice, "for followers", "followers")

    assert (await wall(bob, alice, EVERYTHING)).items == []


async def test_direct_posts_are_never_on_walls(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await post(site, alice, "@bob just us", "direct")

    assert (await wall(alice, alice, EVERYTHING)).items == []
    assert (await wall(bob, alice, EVERYTHING)).items == []


async def test_node_posts_are_on_the_wall_only_for_signed_in_local_viewers(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    rita = await remote("rita")
    internal = await post(site, alice, "cake in the kitchen", "node")

    assert ids((await wall(bob, alice, EVERYTHING)).items) == [internal]
    assert (await wall(None, alice, EVERYTHING)).items == []
    assert (await wall(rita, alice, EVERYTHING)).items == []


async def test_deleted_posts_are_gone_from_the_wall(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    kept = await post(site, alice, "keep")
    dropped = await post(site, alice, "drop")

    await delete_post(site, alice, dropped)

    assert ids((await wall(alice, alice, EVERYTHING)).items) == [kept]


# ---------------------------------------------------------------- home timeline


async def test_home_shows_own_posts_and_followed_accounts_posts_only(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol")
    await follow(site, alice, bob)
    own = await post(site, alice, "mine")
    followed = await post(site, bob, "bob's")
    followed_private = await post(site, bob, "bob's followers", "followers")
    await post(site, carol, "carol's, not followed")

    page = await home(alice, EVERYTHING)

    assert ids(page.items) == [followed_private, followed, own]
    assert all(item.share is None for item in page.items)


async def test_following_puts_recent_posts_of_the_followee_on_home(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    earlier = await post(site, bob, "before the follow")
    await post(site, bob, "@alice only us", "direct")

    await follow(site, alice, bob)

    assert ids((await home(alice, EVERYTHING)).items) == [earlier]


async def test_unfollowing_removes_the_followees_posts_from_home(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, alice, bob)
    own = await post(site, alice, "mine")
    await post(site, bob, "bob's")

    await unfollow(site, alice, bob)
    await post(site, bob, "after the unfollow")

    assert ids((await home(alice, EVERYTHING)).items) == [own]


async def test_pending_follower_gets_no_posts_on_home(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob", locked=True)
    await follow(site, alice, bob)

    await post(site, bob, "public")
    await post(site, bob, "followers", "followers")

    assert (await home(alice, EVERYTHING)).items == []


async def test_share_by_a_followed_account_appears_once_with_the_sharer(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol")
    await follow(site, alice, bob)
    original = await post(site, carol, "worth sharing")

    shared = await share(site, bob, original)

    page = await home(alice, EVERYTHING)
    assert ids(page.items) == [original]
    item = page.items[0]
    assert item.share is not None
    assert item.share.id == shared.id
    assert item.share.account.id == bob.id
    assert item.status_id == shared.id


async def test_share_of_a_post_already_on_home_does_not_duplicate_it(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol")
    await follow(site, alice, bob)
    await follow(site, alice, carol)
    original = await post(site, carol, "seen already")

    await share(site, bob, original)

    page = await home(alice, EVERYTHING)
    assert ids(page.items) == [original]
    assert page.items[0].share is None


async def test_deleted_post_disappears_from_followers_home(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, alice, bob)
    gone = await post(site, bob, "oops")

    await delete_post(site, bob, gone)

    assert (await home(alice, EVERYTHING)).items == []


# ---------------------------------------------------------------- node and hashtag timelines


async def test_node_timeline_shows_local_public_posts_to_everyone(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    rita = await remote("rita")
    public = await post(site, alice, "public")
    await post(site, alice, "node only", "node")
    await post(site, alice, "followers", "followers")
    await post(site, alice, "@rita direct", "direct")
    await Post.create(
        uri="https://remote.example/notes/1",
        author=rita,
        local=False,
        visibility="public",
        label="public",
        content_html="<p>from afar</p>",
        created_at=dt.datetime.now(dt.UTC),
    )

    assert ids((await node_timeline(None, EVERYTHING)).items) == [public]
    assert ids((await node_timeline(rita, EVERYTHING)).items) == [public]


async def test_node_timeline_adds_node_posts_for_signed_in_local_viewers(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    public = await post(site, alice, "public")
    internal = await post(site, alice, "node only", "node")
    await post(site, alice, "followers", "followers")

    assert ids((await node_timeline(bob, EVERYTHING)).items) == [internal, public]


async def test_hashtag_timeline_finds_tagged_posts_whatever_the_case(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    first = await post(site, alice, "#Release one")
    await post(site, alice, "no tag here, #other")
    second = await post(site, alice, "two #release")

    for query in ("release", "Release", "#RELEASE"):
        assert ids((await tag_timeline(None, query, EVERYTHING)).items) == [second, first]


async def test_hashtag_timeline_respects_visibility(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, bob, alice)
    public = await post(site, alice, "#launch public")
    internal = await post(site, alice, "#launch node", "node")
    await post(site, alice, "#launch followers", "followers")
    await post(site, alice, "#launch @bob direct", "direct")
    assert await PostTag.filter(name="launch").count() == 4

    assert ids((await tag_timeline(None, "launch", EVERYTHING)).items) == [public]
    assert ids((await tag_timeline(bob, "launch", EVERYTHING)).items) == [internal, public]


async def test_deleted_post_leaves_the_node_and_hashtag_timelines(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    gone = await post(site, alice, "#oops")

    await delete_post(site, alice, gone)

    assert (await node_timeline(alice, EVERYTHING)).items == []
    assert (await tag_timeline(alice, "oops", EVERYTHING)).items == []


# ---------------------------------------------------------------- keyset pagination


async def test_following_next_max_id_walks_all_posts_without_gaps_or_repeats(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    await _insert_posts(alice, 45)
    expected = await _newest_first(alice)

    seen: list[int] = []
    sizes: list[int] = []
    request = PageRequest(limit=20)
    while True:
        page = await wall(None, alice, request)
        if not page.items:
            assert (page.next_max_id, page.prev_min_id) == (None, None)
            break
        sizes.append(len(page.items))
        seen.extend(ids(page.items))
        assert page.prev_min_id == page.items[0].post.id
        assert page.next_max_id == page.items[-1].post.id
        request = PageRequest(max_id=page.next_max_id, limit=20)

    assert sizes == [20, 20, 5]
    assert seen == expected


async def test_max_id_returns_the_posts_just_older_than_it(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    await _insert_posts(alice, 45)
    expected = await _newest_first(alice)

    page = await node_timeline(None, PageRequest(max_id=expected[10], limit=7))

    assert ids(page.items) == expected[11:18]


async def test_since_id_returns_the_newest_posts_above_it(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    await _insert_posts(alice, 45)
    expected = await _newest_first(alice)

    page = await wall(None, alice, PageRequest(since_id=expected[30], limit=10))

    assert ids(page.items) == expected[:10]


async def test_min_id_returns_the_posts_immediately_above_it_newest_first(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    await _insert_posts(alice, 45)
    expected = await _newest_first(alice)

    page = await wall(None, alice, PageRequest(min_id=expected[30], limit=10))

    assert ids(page.items) == expected[20:30]
    assert page.prev_min_id == expected[20]


async def test_max_id_and_since_id_together_bound_both_ends(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    await _insert_posts(alice, 45)
    expected = await _newest_first(alice)

    page = await wall(None, alice, PageRequest(max_id=expected[5], since_id=expected[9]))

    assert ids(page.items) == expected[6:9]


async def test_limit_is_kept_between_one_and_the_maximum(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    await _insert_posts(alice, 45)
    expected = await _newest_first(alice)

    for limit, returned in [(100, MAX_LIMIT), (0, 1), (-5, 1), (3, 3)]:
        page = await wall(None, alice, PageRequest(limit=limit))

        assert ids(page.items) == expected[:returned], limit


async def test_home_timeline_pages_by_status_id(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    posted = [await post(site, alice, f"post {n}") for n in range(25)]
    newest_first = posted[::-1]

    first = await home(alice, PageRequest(limit=10))
    second = await home(alice, PageRequest(max_id=first.next_max_id, limit=10))
    third = await home(alice, PageRequest(max_id=second.next_max_id, limit=10))
    newer = await home(alice, PageRequest(min_id=second.prev_min_id, limit=10))

    assert ids(first.items) == newest_first[:10]
    assert ids(second.items) == newest_first[10:20]
    assert ids(third.items) == newest_first[20:]
    assert ids(newer.items) == newest_first[:10]


def test_page_request_parses_query_parameters() -> None:
    request = PageRequest.parse({"max_id": "42", "since_id": "", "min_id": None, "limit": "5"})

    assert request == PageRequest(max_id=42, since_id=None, min_id=None, limit=5)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"max_id": "abc"}, "max_id must be a numeric id"), ({"limit": "ten"}, "limit must be")],
)
def test_page_request_rejects_non_numeric_parameters(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PageRequest.parse(params)
