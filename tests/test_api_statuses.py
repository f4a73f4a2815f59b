"""Statuses through the API: posting, errors that change nothing, edits, threads, reactions."""

from __future__ import annotations

import pytest
from quart import Quart

from node.db import Database
from node.models import Post, PostEdit, Share
from tests import api_support
from tests.api_support import ApiClient, user_client

# Fixtures shared by the API tests.
node_key = api_support.node_key
api_app = api_support.api_app


async def post(client: ApiClient, text: str, **fields: str) -> dict[str, object]:
    answer = await client.post("/api/v1/statuses", form={"status": text, **fields})
    assert answer.status == 200, answer.body
    return answer.body


@pytest.mark.parametrize(
    ("sent", "shown", "stored"),
    [
        ("public", "public", "public"),
        ("unlisted", "unlisted", "node"),
        ("private", "private", "followers"),
        ("direct", "direct", "direct"),
        ("node", "unlisted", "node"),
    ],
)
async def test_visibility_is_stored_as_fedwalls_and_shown_as_mastodons(
    api_app: Quart, db: Database, sent: str, shown: str, stored: str
) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "hello", visibility=sent)
    assert status["visibility"] == shown
    fedwall = status["fedwall"]
    assert (fedwall["label"], fedwall["visibility"]) == ("internal", stored)
    # Direct messages also say which participants the policy will not reach (none here).
    assert fedwall.get("undelivered", []) == []
    assert ("undelivered" in fedwall) == (stored == "direct")
    assert (await Post.get(id=int(str(status["id"])))).visibility == stored


async def test_invalid_visibility_is_422_and_creates_nothing(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post("/api/v1/statuses", form={"status": "x", "visibility": "secret"})
    assert answer.status == 422
    assert answer.error is not None and answer.error.startswith("Validation failed")
    assert await Post.all().count() == 0


async def test_over_long_status_is_422_and_creates_nothing(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post("/api/v1/statuses", form={"status": "x" * 501})
    assert answer.status == 422
    assert "too long" in (answer.error or "")
    assert await Post.all().count() == 0


async def test_malformed_json_is_400_and_creates_nothing(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post(
        "/api/v1/statuses",
        data=b'{"status": "hello", ',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 400
    assert set(answer.body) == {"error"}
    assert await Post.all().count() == 0


async def test_json_body_is_accepted_like_a_form(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post(
        "/api/v1/statuses",
        json={"status": "from json", "visibility": "private", "spoiler_text": "cw"},
    )
    assert answer.status == 200
    assert answer.body["visibility"] == "private" and answer.body["spoiler_text"] == "cw"
    assert answer.body["sensitive"] is True


@pytest.mark.parametrize("status_id", ["999999999", "not-a-number"])
async def test_unknown_status_is_404(api_app: Quart, db: Database, status_id: str) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.get(f"/api/v1/statuses/{status_id}")
    assert answer.status == 404 and answer.body == {"error": "Record not found"}


async def test_followers_only_status_is_404_for_others(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, _ = await user_client(api_app, "bob")
    status = await post(alice, "for my followers", visibility="private")
    answer = await bob.get(f"/api/v1/statuses/{status['id']}")
    assert answer.status == 404


async def test_node_only_status_is_hidden_from_anonymous_callers(
    api_app: Quart, db: Database
) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "inside only", visibility="unlisted")
    assert (await ApiClient(api_app).get(f"/api/v1/statuses/{status['id']}")).status == 404


async def test_repeated_idempotency_key_creates_one_status(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    headers = {"Idempotency-Key": "abc-123"}
    first = await alice.post("/api/v1/statuses", form={"status": "once"}, headers=headers)
    second = await alice.post("/api/v1/statuses", form={"status": "once"}, headers=headers)
    assert first.body["id"] == second.body["id"]
    assert await Post.all().count() == 1


async def test_different_idempotency_keys_create_two_statuses(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    for key in ("k1", "k2"):
        await alice.post(
            "/api/v1/statuses", form={"status": "twice"}, headers={"Idempotency-Key": key}
        )
    assert await Post.all().count() == 2


async def test_label_is_accepted_as_form_object_and_shown(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "numbers", **{"fedwall[label]": "confidential"})
    assert status["fedwall"] == {"label": "confidential", "visibility": "public"}


async def test_label_is_accepted_as_json_object(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post(
        "/api/v1/statuses", json={"status": "plans", "fedwall": {"label": "restricted"}}
    )
    assert answer.body["fedwall"]["label"] == "restricted"


async def test_unknown_label_is_422(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post(
        "/api/v1/statuses", form={"status": "x", "fedwall[label]": "top-secret"}
    )
    assert answer.status == 422 and await Post.all().count() == 0


async def test_edits_keep_a_history_oldest_first(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "first draft", visibility="private")
    for text in ("second draft", "final text"):
        edited = await alice.put(f"/api/v1/statuses/{status['id']}", form={"status": text})
        assert edited.status == 200
    assert edited.body["edited_at"] is not None
    assert edited.body["visibility"] == "private"
    history = await alice.get(f"/api/v1/statuses/{status['id']}/history")
    assert [v["content"] for v in history.body] == [
        "<p>first draft</p>",
        "<p>second draft</p>",
        "<p>final text</p>",
    ]
    assert await PostEdit.all().count() == 2


async def test_edit_can_change_the_label(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "text")
    edited = await alice.put(
        f"/api/v1/statuses/{status['id']}", json={"status": "text", "fedwall": {"label": "public"}}
    )
    assert edited.body["fedwall"]["label"] == "public"


async def test_editing_someone_elses_status_is_refused(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, _ = await user_client(api_app, "bob")
    status = await post(alice, "mine")
    answer = await bob.put(f"/api/v1/statuses/{status['id']}", form={"status": "yours"})
    assert answer.status == 403
    assert (await Post.get(id=int(str(status["id"])))).content_source == "mine"


async def test_delete_returns_the_source_and_the_status_is_gone(
    api_app: Quart, db: Database
) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "oops")
    deleted = await alice.delete(f"/api/v1/statuses/{status['id']}")
    assert deleted.status == 200 and deleted.body["text"] == "oops"
    assert (await alice.get(f"/api/v1/statuses/{status['id']}")).status == 404


async def test_context_lists_ancestors_and_descendants(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, _ = await user_client(api_app, "bob")
    root = await post(alice, "question")
    reply = await post(bob, "answer", in_reply_to_id=str(root["id"]))
    assert reply["in_reply_to_id"] == root["id"]
    assert reply["in_reply_to_account_id"] == root["account"]["id"]  # type: ignore[index]
    context = await bob.get(f"/api/v1/statuses/{reply['id']}/context")
    assert [s["id"] for s in context.body["ancestors"]] == [root["id"]]
    around_root = await bob.get(f"/api/v1/statuses/{root['id']}/context")
    assert [s["id"] for s in around_root.body["descendants"]] == [reply["id"]]


async def test_reply_without_visibility_keeps_the_threads_audience(
    api_app: Quart, db: Database
) -> None:
    alice, _ = await user_client(api_app, "alice")
    root = await post(alice, "node talk", visibility="unlisted")
    reply = await post(alice, "more", in_reply_to_id=str(root["id"]))
    assert reply["fedwall"]["visibility"] == "node"  # type: ignore[index]


async def test_reply_to_an_unknown_status_is_404(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post("/api/v1/statuses", form={"status": "hi", "in_reply_to_id": "42"})
    assert answer.status == 404 and await Post.all().count() == 0


async def test_favourite_counts_and_is_reported_for_the_viewer(
    api_app: Quart, db: Database
) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, bob_account = await user_client(api_app, "bob")
    status = await post(alice, "like me")
    liked = await bob.post(f"/api/v1/statuses/{status['id']}/favourite")
    assert liked.body["favourited"] is True and liked.body["favourites_count"] == 1
    by = await alice.get(f"/api/v1/statuses/{status['id']}/favourited_by")
    assert [a["id"] for a in by.body] == [str(bob_account.id)]
    undone = await bob.post(f"/api/v1/statuses/{status['id']}/unfavourite")
    assert undone.body["favourited"] is False and undone.body["favourites_count"] == 0


async def test_reblog_is_a_status_whose_reblog_is_the_original(
    api_app: Quart, db: Database
) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, bob_account = await user_client(api_app, "bob")
    status = await post(alice, "share me")
    reblog = await bob.post(f"/api/v1/statuses/{status['id']}/reblog")
    assert reblog.status == 200
    assert reblog.body["reblog"]["id"] == status["id"]
    assert reblog.body["account"]["id"] == str(bob_account.id)
    share = await Share.get(account_id=bob_account.id)
    assert reblog.body["id"] == str(share.id)
    fetched = await alice.get(f"/api/v1/statuses/{share.id}")
    assert fetched.status == 200 and fetched.body["reblog"]["id"] == status["id"]
    by = await alice.get(f"/api/v1/statuses/{status['id']}/reblogged_by")
    assert [a["id"] for a in by.body] == [str(bob_account.id)]


async def test_unreblog_removes_the_share(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, _ = await user_client(api_app, "bob")
    status = await post(alice, "share me")
    await bob.post(f"/api/v1/statuses/{status['id']}/reblog")
    undone = await bob.post(f"/api/v1/statuses/{status['id']}/unreblog")
    assert undone.body["reblogged"] is False and undone.body["reblogs_count"] == 0
    assert await Share.all().count() == 0


async def test_followers_only_status_cannot_be_reblogged(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "mine only", visibility="private")
    answer = await alice.post(f"/api/v1/statuses/{status['id']}/reblog")
    assert answer.status == 422 and await Share.all().count() == 0


async def test_bookmarks_are_listed_and_flagged(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "keep this")
    marked = await alice.post(f"/api/v1/statuses/{status['id']}/bookmark")
    assert marked.body["bookmarked"] is True
    listed = await alice.get("/api/v1/bookmarks")
    assert [s["id"] for s in listed.body] == [status["id"]]
    await alice.post(f"/api/v1/statuses/{status['id']}/unbookmark")
    assert (await alice.get("/api/v1/bookmarks")).body == []


async def test_favourites_list_the_liked_statuses(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = await post(alice, "nice")
    await alice.post(f"/api/v1/statuses/{status['id']}/favourite")
    listed = await alice.get("/api/v1/favourites")
    assert [s["id"] for s in listed.body] == [status["id"]]


async def test_media_attachments_are_refused_clearly(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post("/api/v1/statuses", form={"status": "pic", "media_ids[]": "1"})
    assert answer.status == 422 and "media" in (answer.error or "")
    assert await Post.all().count() == 0
