"""Timelines and Mastodon's pagination: max_id, since_id, min_id, limit and Link headers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from quart import Quart

from node.db import Database
from node.models import Account, Post, TimelineEntry
from node.services.posts import Draft, create_post
from tests import api_support
from tests.api_support import Answer, ApiClient, site_of, user_client

# Fixtures shared by the API tests.
node_key = api_support.node_key
api_app = api_support.api_app

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(answer: Answer) -> dict[str, str]:
    """``rel -> path?query`` of the Link header."""
    found = {}
    for url, rel in LINK.findall(answer.headers.get("Link", "")):
        parts = urlsplit(url)
        found[rel] = f"{parts.path}?{parts.query}"
    return found


async def many_posts(app: Quart, author: Account, count: int, visibility: str = "public") -> None:
    for number in range(count):
        draft = Draft(text=f"post {number}", visibility=visibility)
        await create_post(site_of(app), author, draft)


async def test_home_timeline_pages_down_and_up_match_the_database(
    api_app: Quart, db: Database
) -> None:
    alice, account = await user_client(api_app, "alice")
    await many_posts(api_app, account, 100)
    expected = [
        str(i)
        for i in await TimelineEntry.filter(owner_id=account.id)
        .order_by("-status_id")
        .values_list("status_id", flat=True)
    ]
    assert len(expected) == 100

    down: list[list[str]] = []
    path = "/api/v1/timelines/home?limit=40"
    while path:
        answer = await alice.get(path)
        down.append([s["id"] for s in answer.body])
        path = links(answer).get("next", "")
    assert [len(p) for p in down] == [40, 40, 20]
    assert [i for page in down for i in page] == expected

    up: list[list[str]] = []
    path = f"/api/v1/timelines/home?limit=40&min_id={expected[-1]}"
    while path:
        answer = await alice.get(path)
        if not answer.body:
            break
        up.append([s["id"] for s in answer.body])
        path = links(answer).get("prev", "")
    assert [i for page in reversed(up) for i in page] == expected[:-1]


async def test_link_header_has_next_and_prev_like_mastodon(api_app: Quart, db: Database) -> None:
    alice, account = await user_client(api_app, "alice")
    await many_posts(api_app, account, 5)
    answer = await alice.get("/api/v1/timelines/home", query={"limit": "2"})
    ids = [s["id"] for s in answer.body]
    assert answer.headers["Link"] == (
        f'<http://wall.test/api/v1/timelines/home?limit=2&max_id={ids[-1]}>; rel="next", '
        f'<http://wall.test/api/v1/timelines/home?limit=2&min_id={ids[0]}>; rel="prev"'
    )


async def test_partial_last_page_has_no_next_link(api_app: Quart, db: Database) -> None:
    alice, account = await user_client(api_app, "alice")
    await many_posts(api_app, account, 3)
    answer = await alice.get("/api/v1/timelines/home", query={"limit": "5"})
    assert len(answer.body) == 3
    assert set(links(answer)) == {"prev"}


async def test_empty_page_has_no_link_header(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.get("/api/v1/timelines/home")
    assert answer.body == [] and "Link" not in answer.headers


async def test_since_id_gives_the_newest_and_min_id_the_next_ones(
    api_app: Quart, db: Database
) -> None:
    alice, account = await user_client(api_app, "alice")
    await many_posts(api_app, account, 6)
    all_ids = [s["id"] for s in (await alice.get("/api/v1/timelines/home")).body]
    oldest = all_ids[-1]
    since = await alice.get("/api/v1/timelines/home", query={"since_id": oldest, "limit": "2"})
    after = await alice.get("/api/v1/timelines/home", query={"min_id": oldest, "limit": "2"})
    assert [s["id"] for s in since.body] == all_ids[:2]
    assert [s["id"] for s in after.body] == all_ids[-3:-1]


async def test_limit_is_capped_at_40(api_app: Quart, db: Database) -> None:
    alice, account = await user_client(api_app, "alice")
    await many_posts(api_app, account, 45)
    answer = await alice.get("/api/v1/timelines/home", query={"limit": "100"})
    assert len(answer.body) == 40


async def test_non_numeric_max_id_is_422(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.get("/api/v1/timelines/home", query={"max_id": "abc"})
    assert answer.status == 422


async def test_account_statuses_page_like_the_wall(api_app: Quart, db: Database) -> None:
    _, account = await user_client(api_app, "alice")
    await many_posts(api_app, account, 30)
    first = await ApiClient(api_app).get(f"/api/v1/accounts/{account.id}/statuses?limit=25")
    second = await ApiClient(api_app).get(links(first)["next"])
    expected = [
        str(i)
        for i in await Post.filter(author_id=account.id)
        .order_by("-id")
        .values_list("id", flat=True)
    ]
    assert [s["id"] for s in first.body + second.body] == expected


async def test_local_timeline_shows_node_posts_to_the_nodes_people_only(
    api_app: Quart, db: Database
) -> None:
    alice, account = await user_client(api_app, "alice")
    await many_posts(api_app, account, 1, visibility="public")
    await many_posts(api_app, account, 1, visibility="node")
    signed_in = await alice.get("/api/v1/timelines/public", query={"local": "true"})
    anonymous = await ApiClient(api_app).get("/api/v1/timelines/public", query={"local": "true"})
    assert [s["visibility"] for s in signed_in.body] == ["unlisted", "public"]
    assert [s["visibility"] for s in anonymous.body] == ["public"]


async def test_federated_timeline_holds_public_posts_only(api_app: Quart, db: Database) -> None:
    alice, account = await user_client(api_app, "alice")
    await many_posts(api_app, account, 1, visibility="node")
    await many_posts(api_app, account, 1, visibility="followers")
    await many_posts(api_app, account, 1, visibility="public")
    answer = await alice.get("/api/v1/timelines/public")
    remote_only = await alice.get("/api/v1/timelines/public", query={"remote": "true"})
    assert [s["visibility"] for s in answer.body] == ["public"]
    assert remote_only.body == []


async def test_tag_timeline_finds_tagged_posts(api_app: Quart, db: Database) -> None:
    alice, account = await user_client(api_app, "alice")
    await create_post(site_of(api_app), account, Draft(text="numbers are in #Sales"))
    await create_post(site_of(api_app), account, Draft(text="unrelated"))
    answer = await alice.get("/api/v1/timelines/tag/sales")
    assert [s["tags"][0]["name"] for s in answer.body] == ["sales"]


async def test_direct_message_appears_in_no_timeline(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, _ = await user_client(api_app, "bob")
    sent = await alice.post(
        "/api/v1/statuses", form={"status": "@bob psst", "visibility": "direct"}
    )
    assert sent.status == 200
    for client in (alice, bob):
        for path in ("/api/v1/timelines/home", "/api/v1/timelines/public"):
            assert (await client.get(path)).body == []
        local = await client.get("/api/v1/timelines/public", query={"local": "true"})
        assert local.body == []
