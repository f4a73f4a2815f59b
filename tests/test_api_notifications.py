"""Notifications, direct conversations and read markers through the API."""

from __future__ import annotations

from quart import Quart

from node.db import Database
from node.models import ConversationMember, Notification
from tests import api_support
from tests.api_support import ApiClient, user_client

# Fixtures shared by the API tests.
node_key = api_support.node_key
api_app = api_support.api_app


async def mention_and_follow(app: Quart) -> tuple[ApiClient, ApiClient]:
    """Bob follows alice and mentions her; returns (alice, bob)."""
    alice, alice_account = await user_client(app, "alice")
    bob, _ = await user_client(app, "bob")
    await bob.post(f"/api/v1/accounts/{alice_account.id}/follow")
    await bob.post("/api/v1/statuses", form={"status": "@alice hello"})
    return alice, bob


async def test_notifications_list_newest_first_with_statuses(api_app: Quart, db: Database) -> None:
    alice, _ = await mention_and_follow(api_app)
    answer = await alice.get("/api/v1/notifications")
    assert [n["type"] for n in answer.body] == ["mention", "follow"]
    assert answer.body[0]["status"]["content"].startswith("<p>")
    assert answer.body[1]["account"]["acct"] == "bob"
    assert "status" not in answer.body[1]


async def test_notifications_filter_by_types_and_exclude_types(
    api_app: Quart, db: Database
) -> None:
    alice, _ = await mention_and_follow(api_app)
    only = await alice.get("/api/v1/notifications", query=[("types[]", "follow")])
    without = await alice.get("/api/v1/notifications", query=[("exclude_types[]", "follow")])
    assert [n["type"] for n in only.body] == ["follow"]
    assert [n["type"] for n in without.body] == ["mention"]


async def test_one_notification_dismiss_and_clear(api_app: Quart, db: Database) -> None:
    alice, _ = await mention_and_follow(api_app)
    listed = (await alice.get("/api/v1/notifications")).body
    first = listed[0]["id"]
    assert (await alice.get(f"/api/v1/notifications/{first}")).body["id"] == first
    assert (await alice.post(f"/api/v1/notifications/{first}/dismiss")).status == 200
    assert (await alice.get(f"/api/v1/notifications/{first}")).status == 404
    assert (await alice.post("/api/v1/notifications/clear")).status == 200
    assert await Notification.all().count() == 0


async def test_someone_elses_notification_is_404(api_app: Quart, db: Database) -> None:
    alice, bob = await mention_and_follow(api_app)
    first = (await alice.get("/api/v1/notifications")).body[0]["id"]
    assert (await bob.get(f"/api/v1/notifications/{first}")).status == 404
    assert (await bob.post(f"/api/v1/notifications/{first}/dismiss")).status == 404
    assert await Notification.filter(id=int(first)).exists()


async def test_favourite_notifies_the_author(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, _ = await user_client(api_app, "bob")
    status = (await alice.post("/api/v1/statuses", form={"status": "like it?"})).body
    await bob.post(f"/api/v1/statuses/{status['id']}/favourite")
    answer = await alice.get("/api/v1/notifications")
    assert [(n["type"], n["status"]["id"]) for n in answer.body] == [("favourite", status["id"])]


async def direct_message(app: Quart) -> tuple[ApiClient, ApiClient, dict[str, object]]:
    alice, _ = await user_client(app, "alice")
    bob, _ = await user_client(app, "bob")
    sent = await alice.post(
        "/api/v1/statuses", form={"status": "@bob lunch?", "visibility": "direct"}
    )
    assert sent.status == 200
    return alice, bob, sent.body


async def test_direct_message_opens_a_conversation_for_both(api_app: Quart, db: Database) -> None:
    alice, bob, sent = await direct_message(api_app)
    for client, other, unread in ((bob, "alice", True), (alice, "bob", False)):
        conversations = (await client.get("/api/v1/conversations")).body
        assert len(conversations) == 1
        assert conversations[0]["last_status"]["id"] == sent["id"]
        assert [a["acct"] for a in conversations[0]["accounts"]] == [other]
        assert conversations[0]["unread"] is unread


async def test_reply_joins_the_same_conversation_and_counts_unread(
    api_app: Quart, db: Database
) -> None:
    alice, bob, sent = await direct_message(api_app)
    reply = await bob.post(
        "/api/v1/statuses",
        form={"status": "@alice yes", "visibility": "direct", "in_reply_to_id": str(sent["id"])},
    )
    conversations = (await alice.get("/api/v1/conversations")).body
    assert len(conversations) == 1
    assert conversations[0]["last_status"]["id"] == reply.body["id"]
    assert conversations[0]["unread"] is True


async def test_conversation_can_be_marked_read_and_removed(api_app: Quart, db: Database) -> None:
    _, bob, _ = await direct_message(api_app)
    conversation = (await bob.get("/api/v1/conversations")).body[0]
    read = await bob.post(f"/api/v1/conversations/{conversation['id']}/read")
    assert read.body["unread"] is False
    assert (await bob.delete(f"/api/v1/conversations/{conversation['id']}")).status == 200
    assert (await bob.get("/api/v1/conversations")).body == []
    assert await ConversationMember.filter(left_at__isnull=False).count() == 1


async def test_removed_conversation_returns_with_a_new_message(
    api_app: Quart, db: Database
) -> None:
    alice, bob, sent = await direct_message(api_app)
    conversation = (await bob.get("/api/v1/conversations")).body[0]
    await bob.delete(f"/api/v1/conversations/{conversation['id']}")
    await alice.post(
        "/api/v1/statuses",
        form={"status": "@bob still?", "visibility": "direct", "in_reply_to_id": str(sent["id"])},
    )
    assert [c["id"] for c in (await bob.get("/api/v1/conversations")).body] == [conversation["id"]]


async def test_others_cannot_touch_a_conversation(api_app: Quart, db: Database) -> None:
    alice, _, _ = await direct_message(api_app)
    carol, _ = await user_client(api_app, "carol")
    conversation = (await alice.get("/api/v1/conversations")).body[0]
    assert (await carol.post(f"/api/v1/conversations/{conversation['id']}/read")).status == 404
    assert (await carol.get("/api/v1/conversations")).body == []


async def test_markers_are_saved_and_versioned(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    first = await alice.post("/api/v1/markers", form={"home[last_read_id]": "100"})
    assert first.body["home"]["last_read_id"] == "100" and first.body["home"]["version"] == 1
    second = await alice.post(
        "/api/v1/markers", json={"home": {"last_read_id": "120"}, "notifications": {
            "last_read_id": "7"}},
    )  # fmt: skip
    assert second.body["home"]["version"] == 2
    read = await alice.get("/api/v1/markers", query=[("timeline[]", "home")])
    assert set(read.body) == {"home"} and read.body["home"]["last_read_id"] == "120"


async def test_marker_with_a_non_numeric_id_is_422(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.post("/api/v1/markers", form={"home[last_read_id]": "abc"})
    assert answer.status == 422
    assert (await alice.get("/api/v1/markers")).body == {}
