"""Streaming: SSE streams and the WebSocket endpoint deliver Mastodon events after commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from quart import Quart

from node.api import api_of
from node.db import Database
from node.models import Account, Post
from node.services import posts
from node.services.posts import Draft
from tests import api_support
from tests.api_support import ApiClient, site_of, token_for, user_client

# Fixtures shared by the API tests.
node_key = api_support.node_key
api_app = api_support.api_app

WAIT = 5.0


@asynccontextmanager
async def sse(app: Quart, path: str, token: str | None = None, **query: str) -> AsyncIterator[Any]:
    """An open SSE stream, once the server said it is subscribed (the ``:)`` comment)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with app.test_client().request(path, headers=headers, query_string=query) as stream:
        await stream.send_complete()
        first = await asyncio.wait_for(stream.receive(), WAIT)
        assert first == b":)\n\n", first
        yield stream
        await stream.disconnect()


async def next_event(stream: Any) -> tuple[str, str]:
    """The next ``(event, data)`` of an SSE stream, skipping keep-alive comments."""
    while True:
        chunk = (await asyncio.wait_for(stream.receive(), WAIT)).decode()
        if chunk.startswith(":"):
            continue
        lines = dict(line.split(": ", 1) for line in chunk.strip().split("\n"))
        return lines["event"], lines["data"]


async def new_post(app: Quart, author: Account, text: str, **draft: Any) -> Post:
    return await posts.create_post(site_of(app), author, Draft(text=text, **draft))


async def test_health_answers_ok(api_app: Quart) -> None:
    answer = await api_app.test_client().get("/api/v1/streaming/health")
    assert answer.status_code == 200 and await answer.get_data() == b"OK"


async def test_user_stream_sends_own_new_status_as_update(api_app: Quart, db: Database) -> None:
    _, alice = await user_client(api_app, "alice")
    token = await token_for(alice)
    async with sse(api_app, "/api/v1/streaming/user", token) as stream:
        post = await new_post(api_app, alice, "hello stream")
        event, data = await next_event(stream)
    assert event == "update"
    status = orjson.loads(data)
    assert status["id"] == str(post.id) and status["content"] == "<p>hello stream</p>"


async def test_user_stream_sends_notifications_with_their_ids(api_app: Quart, db: Database) -> None:
    _, alice = await user_client(api_app, "alice")
    _, bob = await user_client(api_app, "bob")
    async with sse(api_app, "/api/v1/streaming/user/notification", await token_for(alice)) as s:
        await new_post(api_app, bob, "@alice look")
        event, data = await next_event(s)
    notification = orjson.loads(data)
    assert event == "notification" and notification["type"] == "mention"
    assert notification["account"]["acct"] == "bob"


async def test_user_stream_sends_edits_and_deletions(api_app: Quart, db: Database) -> None:
    _, alice = await user_client(api_app, "alice")
    post = await new_post(api_app, alice, "first")
    async with sse(api_app, "/api/v1/streaming/user", await token_for(alice)) as stream:
        await posts.edit_post(site_of(api_app), alice, post.id, "second")
        edited = await next_event(stream)
        await posts.delete_post(site_of(api_app), alice, post.id)
        deleted = await next_event(stream)
    assert edited[0] == "status.update" and orjson.loads(edited[1])["content"] == "<p>second</p>"
    assert deleted == ("delete", str(post.id))


async def test_public_stream_skips_followers_only_posts(api_app: Quart, db: Database) -> None:
    _, alice = await user_client(api_app, "alice")
    async with sse(api_app, "/api/v1/streaming/public") as stream:
        await new_post(api_app, alice, "for followers", visibility="followers")
        public = await new_post(api_app, alice, "for everyone")
        event, data = await next_event(stream)
    assert event == "update" and orjson.loads(data)["id"] == str(public.id)


async def test_local_stream_includes_node_posts_for_the_nodes_people(
    api_app: Quart, db: Database
) -> None:
    _, alice = await user_client(api_app, "alice")
    token = await token_for(alice)
    async with sse(api_app, "/api/v1/streaming/public/local", token) as stream:
        post = await new_post(api_app, alice, "inside news", visibility="node")
        event, data = await next_event(stream)
    assert event == "update" and orjson.loads(data)["id"] == str(post.id)


async def test_hashtag_stream_gets_tagged_public_posts(api_app: Quart, db: Database) -> None:
    _, alice = await user_client(api_app, "alice")
    async with sse(api_app, "/api/v1/streaming/hashtag", tag="sales") as stream:
        await new_post(api_app, alice, "untagged")
        tagged = await new_post(api_app, alice, "numbers #sales")
        _, data = await next_event(stream)
    assert orjson.loads(data)["id"] == str(tagged.id)


async def test_direct_stream_sends_the_conversation(api_app: Quart, db: Database) -> None:
    _, alice = await user_client(api_app, "alice")
    _, bob = await user_client(api_app, "bob")
    async with sse(api_app, "/api/v1/streaming/direct", await token_for(bob)) as stream:
        message = await new_post(api_app, alice, "@bob lunch?", visibility="direct")
        event, data = await next_event(stream)
    conversation = orjson.loads(data)
    assert event == "conversation" and conversation["unread"] is True
    assert conversation["last_status"]["id"] == str(message.id)


async def test_stream_sends_keep_alive_comments(api_app: Quart, db: Database) -> None:
    api_of(api_app).heartbeat_seconds = 0.05
    async with sse(api_app, "/api/v1/streaming/public") as stream:
        chunk = await asyncio.wait_for(stream.receive(), WAIT)
    assert chunk == b":thump\n\n"


async def test_sse_response_is_not_buffered_by_proxies(api_app: Quart, db: Database) -> None:
    async with sse(api_app, "/api/v1/streaming/public") as stream:
        headers = stream.headers
    assert headers is not None
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["X-Accel-Buffering"] == "no"
    assert "no-cache" in headers["Cache-Control"]


async def test_user_stream_without_a_token_is_401(api_app: Quart) -> None:
    answer = await ApiClient(api_app).get("/api/v1/streaming/user")
    assert answer.status == 401 and answer.body == {"error": "The access token is invalid"}


async def test_user_stream_without_read_scope_is_403(api_app: Quart, db: Database) -> None:
    writer, _ = await user_client(api_app, "alice", scopes="write")
    answer = await writer.get("/api/v1/streaming/user")
    assert answer.status == 403


async def test_websocket_subscribes_with_a_subprotocol_token(api_app: Quart, db: Database) -> None:
    _, alice = await user_client(api_app, "alice")
    token = await token_for(alice)
    client = api_app.test_client()
    # Quart's test client drops ``subprotocols``; servers put them in the scope like this.
    async with client.websocket(
        "/api/v1/streaming", scope_base={"subprotocols": [token]}
    ) as socket:
        await socket.send_json({"type": "subscribe", "stream": "user"})
        # The subscription is set up by the server asynchronously: post until it arrives.
        for attempt in range(50):
            await new_post(api_app, alice, f"over websocket {attempt}")
            try:
                frame = orjson.loads(await asyncio.wait_for(socket.receive(), 0.2))
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("no frame arrived")
    assert frame["stream"] == ["user"] and frame["event"] == "update"
    assert orjson.loads(frame["payload"])["content"].startswith("<p>over websocket")


async def test_websocket_reports_an_unknown_stream(api_app: Quart, db: Database) -> None:
    _, alice = await user_client(api_app, "alice")
    token = await token_for(alice)
    client = api_app.test_client()
    async with client.websocket(
        "/api/v1/streaming", query_string={"access_token": token}
    ) as socket:
        await socket.send_json({"type": "subscribe", "stream": "nonsense"})
        message = orjson.loads(await asyncio.wait_for(socket.receive(), WAIT))
    assert message["status"] == 400 and "nonsense" in message["error"]


async def test_websocket_user_stream_needs_a_token(api_app: Quart, db: Database) -> None:
    client = api_app.test_client()
    async with client.websocket("/api/v1/streaming") as socket:
        await socket.send_json({"type": "subscribe", "stream": "user"})
        message = orjson.loads(await asyncio.wait_for(socket.receive(), WAIT))
    assert message == {"error": "The access token is invalid", "status": 401}
