"""Direct messages and group conversations between real nodes, looked at from the outside.

Four nodes: ``a`` (alice, erin), ``b`` (bob), ``c`` (carol) and ``d`` (dave, who is
in no conversation). Every node allows every other, and dave follows the three
participants, so whatever keeps a message from ``d`` is its addressing, not the
boundary policy. Clients use the Mastodon API and Fedwall's chat extension
(``/api/v1/fedwall/conversations``) with bearer tokens; the nodes' databases are
read from the test process. The module runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import orjson
import pytest
from mastodon import Mastodon, StreamListener

from federation.signatures import load_private_key_pem, sign_request
from node.models import (
    Conversation,
    ConversationMember,
    Delivery,
    Follow,
    InboxItem,
    KeyPair,
    Notification,
    Post,
)
from node.services.conversations import conversation_order
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.multinode import PASSWORD, NodeProcess, wait_for

pytestmark = pytest.mark.multinode

CHAT = "/api/v1/fedwall/conversations"


@dataclass
class Nodes:
    a: NodeProcess
    b: NodeProcess
    c: NodeProcess
    d: NodeProcess
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def all(self) -> tuple[NodeProcess, ...]:
        return (self.a, self.b, self.c, self.d)

    async def token(self, node: NodeProcess, username: str) -> str:
        """A password-grant token of ``username`` on ``node``, made once."""
        key = f"{node.name}:{username}"
        if key not in self.tokens:
            self.tokens[key] = await password_token(node, username)
        return self.tokens[key]

    async def client(self, node: NodeProcess, username: str) -> httpx.AsyncClient:
        """An API client of ``username`` on ``node``."""
        return httpx.AsyncClient(
            base_url=node.url,
            headers={"Authorization": f"Bearer {await self.token(node, username)}"},
            timeout=10,
        )

    def policy(self, node: NodeProcess, extra_terms: dict[str, str] | None = None) -> str:
        """``node`` allows every other node; ``extra_terms`` adds outbound terms per peer."""
        text = (
            'federation_mode = "allowlist"\n'
            'labels = ["public", "internal", "confidential", "restricted"]\n'
            'default_label = "internal"\n'
        )
        for other in self.all:
            if other is node:
                continue
            terms = (extra_terms or {}).get(other.domain, "")
            text += (
                f'\n[[peers]]\ndomain = "{other.domain}"\nstatus = "allowed"\n'
                f'outbound = {{ max_label = "restricted", profile_fields = ["*"]{terms} }}\n'
                'inbound = { max_label = "restricted" }\n'
            )
        return text


async def password_token(node: NodeProcess, username: str) -> str:
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        app = (
            await http.post(
                "/api/v1/apps",
                json={
                    "client_name": "conversation-tests",
                    "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                    "scopes": "read write",
                },
            )
        ).json()
        grant = await http.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": PASSWORD,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "scope": "read write",
            },
        )
        assert grant.status_code == 200, grant.text
        return str(grant.json()["access_token"])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Nodes]:
    root = tmp_path_factory.mktemp(f"conversations-{request.param}")
    urls: list[str | None] = [None] * 4
    if request.param == "postgres":
        urls = [await create_postgres_database("fedwall_conv") for _ in range(4)]
    a, b, c, d = (NodeProcess(name, root, url) for name, url in zip("abcd", urls, strict=True))
    result = Nodes(a, b, c, d)
    try:
        await a.create({"alice": {}, "erin": {}})
        await b.create({"bob": {}})
        await c.create({"carol": {}})
        await d.create({"dave": {}})
        for node in result.all:
            await node.apply_policy(result.policy(node))
            await node.start()
        # dave follows every participant: public posts of theirs do reach d.
        for node, user in ((a, "alice"), (b, "bob"), (c, "carol")):
            browser = await d.browser("dave")
            try:
                await browser.follow(node.handle(user))
            finally:
                await browser.close()
            await wait_for(partial(_accepted, d, d.actor("dave"), node.actor(user)))
        yield result
    finally:
        for node in result.all:
            await node.close()
        for url in urls:
            if url is not None:
                await drop_postgres_database(url)


async def _accepted(node: NodeProcess, follower: str, followee: str) -> bool:
    return await node.query(
        lambda: Follow.filter(
            follower__uri=follower, followee__uri=followee, state="accepted"
        ).exists()
    )


async def drained(node: NodeProcess) -> bool:
    return not await node.query(
        lambda: Delivery.filter(state__in=("pending", "in_flight", "retrying")).exists()
    )


async def all_drained(nodes: Nodes) -> None:
    for node in nodes.all:
        await wait_for(partial(drained, node), timeout=30)


async def start(
    nodes: Nodes, node: NodeProcess, username: str, participants: list[str], text: str
) -> dict[str, Any]:
    async with await nodes.client(node, username) as api:
        response = await api.post(CHAT, json={"participants": participants, "status": text})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def send(
    nodes: Nodes, node: NodeProcess, username: str, conversation_id: str, text: str
) -> dict[str, Any]:
    async with await nodes.client(node, username) as api:
        response = await api.post(f"{CHAT}/{conversation_id}/messages", json={"status": text})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def conversation_of(node: NodeProcess, uri: str) -> Conversation | None:
    """The conversation ``node`` filed the message ``uri`` in, once it has it."""

    async def find() -> Conversation | None:
        post = await Post.get_or_none(uri=uri)
        if post is None:
            return None
        return await Conversation.get_or_none(context=post.context)

    return await node.query(find)


async def arrived_in(node: NodeProcess, uri: str) -> Conversation:
    """The conversation of message ``uri`` on ``node``, once the message arrived there."""
    found = await wait_for(partial(conversation_of, node, uri))
    assert found is not None
    return found


async def arrived(node: NodeProcess, uri: str) -> Post:
    found = await wait_for(partial(node.post_by_uri, uri))
    assert found is not None
    return found


async def member_state(node: NodeProcess, username: str, context: str) -> ConversationMember:
    return await node.query(
        lambda: ConversationMember.get(
            conversation__context=context, account__username=username, account__domain=""
        )
    )


async def stored_uris(node: NodeProcess, context: str) -> list[str]:
    """Messages of the conversation ``node`` stored, in conversation order."""
    rows = await node.query(lambda: Post.filter(context=context, visibility="direct"))
    return [p.uri for p in conversation_order(rows)]


async def signed_get(node: NodeProcess, username: str, url: str) -> httpx.Response:
    pair = await node.query(lambda: KeyPair.get(account__username=username, account__domain=""))
    assert pair.private_pem is not None
    headers = sign_request(
        "GET", url, {"Accept": "application/activity+json"}, b"", pair.key_id,
        load_private_key_pem(pair.private_pem), dt.datetime.now(dt.UTC),  # type: ignore[arg-type]
    )  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(url, headers=headers)


# ---------------------------------------------------------------- grouping and counts


async def test_group_conversation_over_three_nodes_is_one_conversation_on_each(
    nodes: Nodes,
) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    opened = await start(
        nodes, a, "alice", [b.handle("bob"), c.handle("carol")], "Kick-off for the merger plan"
    )
    first = opened["status"]["uri"]
    assert opened["status"]["fedwall"]["undelivered"] == []
    context = (await arrived_in(b, first)).context
    await arrived_in(c, first)
    on_b = await _local_conversation_id(nodes, b, "bob", first)
    reply_b = (await send(nodes, b, "bob", on_b, "Sales is in"))["status"]["uri"]
    await wait_for(partial(_has, c, reply_b))
    on_c = await _local_conversation_id(nodes, c, "carol", first)
    reply_c = (await send(nodes, c, "carol", on_c, "Finance too"))["status"]["uri"]
    sent = [first, reply_b, reply_c]
    for node in (a, b, c):
        await wait_for(partial(_has_all, node, context, sent))
        assert await node.query(lambda: Conversation.filter(context=context).count()) == 1
        assert await stored_uris(node, context) == sent

    # Read markers and unread counts are per member and per node.
    alice = await member_state(a, "alice", context)
    bob = await member_state(b, "bob", context)
    carol = await member_state(c, "carol", context)
    assert (alice.unread_count, bob.unread_count, carol.unread_count) == (2, 2, 2)
    async with await nodes.client(b, "bob") as api:
        first_on_b = await arrived(b, first)
        marked = await api.post(f"{CHAT}/{on_b}/read", json={"last_read_id": str(first_on_b.id)})
        assert marked.json()["fedwall"]["unread_count"] == 1
        listed = (await api.get("/api/v1/conversations")).json()
        assert [x["unread"] for x in listed if x["id"] == on_b] == [True]
        await api.post(f"/api/v1/conversations/{on_b}/read")
        listed = (await api.get("/api/v1/conversations")).json()
        mine = next(x for x in listed if x["id"] == on_b)
        assert mine["unread"] is False
        assert {acct["acct"] for acct in mine["accounts"]} == {
            a.handle("alice"),
            c.handle("carol"),
        }
    assert (await member_state(b, "bob", context)).unread_count == 0
    assert (await member_state(a, "alice", context)).unread_count == 2
    assert (await member_state(c, "carol", context)).unread_count == 2


async def _has(node: NodeProcess, uri: str) -> bool:
    return await node.post_by_uri(uri) is not None


async def _has_all(node: NodeProcess, context: str, uris: list[str]) -> bool:
    return set(uris) <= set(await stored_uris(node, context))


async def _local_conversation_id(nodes: Nodes, node: NodeProcess, user: str, uri: str) -> str:
    return str((await arrived_in(node, uri)).id)


async def test_messages_arriving_out_of_order_join_the_same_conversation(nodes: Nodes) -> None:
    """c is down while a and b talk; the backlog arrives in whatever order the retries run."""
    a, b, c = nodes.a, nodes.b, nodes.c
    opened = await start(nodes, a, "alice", [b.handle("bob"), c.handle("carol")], "Before outage")
    first = opened["status"]["uri"]
    context = (await arrived_in(c, first)).context
    await c.stop()
    try:
        on_a = opened["conversation"]["id"]
        sent = [first]
        on_b = await _local_conversation_id(nodes, b, "bob", first)
        for i in range(3):
            sent.append(
                (await send(nodes, a, "alice", on_a, f"during outage {i}"))["status"]["uri"]
            )
            await wait_for(partial(_has, b, sent[-1]))
            sent.append((await send(nodes, b, "bob", on_b, f"bob answers {i}"))["status"]["uri"])
            await wait_for(partial(_has, a, sent[-1]))
    finally:
        await c.start()
    await wait_for(partial(_has_all, c, context, sent), timeout=40)
    await all_drained(nodes)
    assert await stored_uris(c, context) == sent  # no loss, no duplicates, in order
    assert await c.query(lambda: Conversation.filter(context=context).count()) == 1
    assert (await member_state(c, "carol", context)).unread_count == len(sent)
    async with await nodes.client(c, "carol") as api:
        conversation_id = str((await arrived_in(c, first)).id)
        listed = (await api.get(f"{CHAT}/{conversation_id}/messages", params={"limit": 40})).json()
        assert [s["uri"] for s in reversed(listed)] == sent
        mastodon = (await api.get("/api/v1/conversations")).json()
    shown = next(x for x in mastodon if x["id"] == conversation_id)
    assert shown["last_status"]["uri"] == sent[-1]  # the newest, not the last to arrive


# ---------------------------------------------------------------- policy


async def test_message_blocked_for_one_participant_tells_the_sender_and_reaches_the_others(
    nodes: Nodes,
) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    no_messages = ', kinds = ["posts", "replies", "reactions", "follows", "profile_lookups"]'
    await a.apply_policy(nodes.policy(a, {c.domain: no_messages}))
    try:
        opened = await start(
            nodes, a, "alice", [b.handle("bob"), c.handle("carol")], "Salary review dates"
        )
        undelivered = opened["status"]["fedwall"]["undelivered"]
        assert [(u["account"]["acct"], u["peer"], u["outcome"]) for u in undelivered] == [
            (c.handle("carol"), c.domain, "deny")
        ]
        assert any("direct messages" in reason for reason in undelivered[0]["reasons"])
        uri = opened["status"]["uri"]
        await wait_for(partial(_has, b, uri))
        await wait_for(partial(drained, a))
        assert await c.post_by_uri(uri) is None
        told = await a.query(
            lambda: Notification.filter(
                recipient__username="alice", kind="fedwall.policy", post__uri=uri
            ).exists()
        )
        assert told
    finally:
        await a.apply_policy(nodes.policy(a))


async def test_direct_status_posted_through_the_mastodon_api_names_the_unreached(
    nodes: Nodes,
) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    no_messages = ', kinds = ["posts", "replies", "reactions", "follows", "profile_lookups"]'
    await a.apply_policy(nodes.policy(a, {c.domain: no_messages}))
    try:
        async with await nodes.client(a, "alice") as api:
            text = f"@{b.handle('bob')} @{c.handle('carol')} budget call moved"
            response = await api.post(
                "/api/v1/statuses", json={"status": text, "visibility": "direct"}
            )
        assert response.status_code == 200, response.text
        undelivered = response.json()["fedwall"]["undelivered"]
        assert [(u["account"]["acct"], u["outcome"]) for u in undelivered] == [
            (c.handle("carol"), "deny")
        ]
    finally:
        await a.apply_policy(nodes.policy(a))


async def test_preview_of_a_direct_message_shows_the_refusal_before_sending(nodes: Nodes) -> None:
    a, c = nodes.a, nodes.c
    no_messages = ', kinds = ["posts", "replies"]'
    await a.apply_policy(nodes.policy(a, {c.domain: no_messages}))
    try:
        async with await nodes.client(a, "alice") as api:
            response = await api.post(
                "/api/v1/fedwall/preview",
                json={"status": f"@{c.handle('carol')} lunch?", "visibility": "direct"},
            )
        assert response.status_code == 200, response.text
        peers = {p["peer"]: p for p in response.json()["peers"]}
        assert peers[c.domain]["outcome"] == "deny"
    finally:
        await a.apply_policy(nodes.policy(a))


# ---------------------------------------------------------------- privacy from a fourth node


async def test_fourth_node_never_receives_sees_or_fetches_the_message(nodes: Nodes) -> None:
    a, b, c, d = nodes.a, nodes.b, nodes.c, nodes.d
    secret = "zanzibar"
    opened = await start(
        nodes, a, "alice", [b.handle("bob"), c.handle("carol")], f"Codename {secret} #merger"
    )
    uri = opened["status"]["uri"]
    await wait_for(partial(_has, b, uri))
    await wait_for(partial(_has, c, uri))
    await all_drained(nodes)

    # Never delivered to d: no delivery row for d, nothing in d's inbox, nothing stored.
    assert not await a.query(
        lambda: Delivery.filter(peer_domain=d.domain, body__contains=secret).exists()
    )
    assert not await d.query(lambda: InboxItem.filter(body__contains=secret).exists())
    assert await d.post_by_uri(uri) is None

    # The object URL answers a participant's node, and refuses d and anonymous requests.
    assert (await signed_get(b, "bob", uri)).status_code == 200
    refused = await signed_get(d, "dave", uri)
    assert refused.status_code in (403, 404) and secret not in refused.text
    async with httpx.AsyncClient(timeout=10) as http:
        anonymous = await http.get(uri, headers={"Accept": "application/activity+json"})
    assert anonymous.status_code in (401, 403, 404) and secret not in anonymous.text

    # No timeline, search or collection page shows it, on the participants' nodes or on d.
    for node, user in ((a, "erin"), (b, "bob"), (c, "carol"), (d, "dave")):
        async with await nodes.client(node, user) as api:
            for path, params in (
                ("/api/v1/timelines/public", {}),
                ("/api/v1/timelines/public", {"local": "true"}),
                ("/api/v1/timelines/tag/merger", {}),
                ("/api/v2/search", {"q": secret, "type": "statuses"}),
                ("/api/v1/timelines/home", {}) if node is d else ("/api/v1/timelines/public", {}),
            ):
                found = await api.get(path, params=params)
                assert secret not in found.text, f"{path} on {node.name} shows the message"
    for node, user in ((a, "alice"), (b, "bob"), (c, "carol")):
        outbox = await signed_get(d, "dave", f"{node.actor(user)}/outbox?page=true")
        assert secret not in outbox.text
        assert uri not in outbox.text


async def test_public_reply_or_share_referencing_a_message_teaches_the_fourth_node_nothing(
    nodes: Nodes,
) -> None:
    a, b, c, d = nodes.a, nodes.b, nodes.c, nodes.d
    secret = "kilimanjaro"
    opened = await start(
        nodes, a, "alice", [b.handle("bob"), c.handle("carol")], f"Budget {secret}"
    )
    uri = opened["status"]["uri"]
    on_b = await arrived(b, uri)
    async with await nodes.client(b, "bob") as api:
        share = await api.post(f"/api/v1/statuses/{on_b.id}/reblog")
        assert share.status_code in (403, 404, 422)
        reply = await api.post(
            "/api/v1/statuses",
            json={"status": "Agreed, see you there", "in_reply_to_id": str(on_b.id),
                  "visibility": "public"},
        )  # fmt: skip
        assert reply.status_code == 200, reply.text
    reply_uri = reply.json()["uri"]
    await all_drained(nodes)
    await asyncio.sleep(0.5)  # d may try to fetch the parent it does not know
    await all_drained(nodes)
    reply_on_d = await arrived(d, reply_uri)  # dave follows bob: the public reply reaches d
    assert reply_on_d.in_reply_to_uri == uri
    assert await d.post_by_uri(uri) is None  # d's fetch of the parent was refused
    assert not await d.query(lambda: Post.filter(content_html__contains=secret).exists())
    assert not await d.query(lambda: InboxItem.filter(body__contains=secret).exists())


# ---------------------------------------------------------------- live


async def test_message_from_another_node_reaches_an_open_direct_stream(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    async with (
        await nodes.client(b, "bob") as api,
        api.stream("GET", "/api/v1/streaming/direct", timeout=None) as stream,
    ):
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith(":")  # subscribed
        sent_at = time.monotonic()
        opened = await start(nodes, a, "alice", [b.handle("bob")], "Are you at your desk?")
        event = ""
        async with asyncio.timeout(10):
            async for line in lines:
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "conversation":
                    payload = orjson.loads(line[5:])
                    if payload["last_status"]["uri"] == opened["status"]["uri"]:
                        break
    assert time.monotonic() - sent_at < 10
    assert payload["unread"] is True
    assert [acct["acct"] for acct in payload["accounts"]] == [a.handle("alice")]


async def test_mastodon_py_direct_stream_gets_the_conversation_event_from_another_node(
    nodes: Nodes,
) -> None:
    a, c = nodes.a, nodes.c
    carol = Mastodon(access_token=await nodes.token(c, "carol"), api_base_url=c.url)
    alice = Mastodon(access_token=await nodes.token(a, "alice"), api_base_url=a.url)
    connected, arrived_event = threading.Event(), threading.Event()
    received: list[Any] = []

    class Listener(StreamListener):
        def handle_heartbeat(self) -> None:
            connected.set()

        def on_conversation(self, conversation: Any) -> None:
            received.append(conversation)
            arrived_event.set()

    handle = carol.stream_direct(Listener(), run_async=True, timeout=30)
    try:
        assert connected.wait(10), "the stream did not open"
        posted = alice.status_post(f"@{c.handle('carol')} via Mastodon.py", visibility="direct")
        assert arrived_event.wait(5.0), "no conversation event within 5 s"
    finally:
        # Closing waits for the next read to return (a keep-alive): do it aside.
        threading.Thread(target=handle.close, daemon=True).start()
    assert received[0].last_status.uri == posted.uri
    assert [acct.acct for acct in received[0].accounts] == [a.handle("alice")]


# ---------------------------------------------------------------- membership


async def test_added_participant_sees_only_later_messages_and_leaving_stops_them(
    nodes: Nodes,
) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    opened = await start(nodes, a, "alice", [b.handle("bob")], "Just us two")
    before = opened["status"]["uri"]
    conversation_id = opened["conversation"]["id"]
    async with await nodes.client(a, "alice") as api:
        added = await api.post(
            f"{CHAT}/{conversation_id}/participants", json={"acct": c.handle("carol")}
        )
        assert added.status_code == 200, added.text
        assert {x["acct"] for x in added.json()["accounts"]} == {
            b.handle("bob"),
            c.handle("carol"),
        }
    after = (await send(nodes, a, "alice", conversation_id, "Carol joins"))["status"]["uri"]
    await wait_for(partial(_has, c, after))
    await wait_for(partial(_has, b, after))
    assert await c.post_by_uri(before) is None

    on_c = await _local_conversation_id(nodes, c, "carol", after)
    async with await nodes.client(c, "carol") as api:
        assert (await api.post(f"{CHAT}/{on_c}/mute")).json()["fedwall"]["muted"] is True
        assert (await api.post(f"{CHAT}/{on_c}/leave")).status_code == 200
    on_b = await _local_conversation_id(nodes, b, "bob", after)
    sent = await send(nodes, b, "bob", on_b, "Carol has left")
    recipients = {m["acct"] for m in sent["status"]["mentions"]}
    assert c.handle("carol") in recipients  # b does not know carol left; c keeps her out
    await wait_for(partial(_has, a, sent["status"]["uri"]))
    carol = await member_state(c, "carol", (await arrived_in(c, after)).context)
    assert carol.left_at is not None and carol.unread_count == 0


async def test_edit_and_deletion_of_a_message_reach_every_participant(nodes: Nodes) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    opened = await start(nodes, a, "alice", [b.handle("bob"), c.handle("carol")], "Typo here")
    uri, status_id = opened["status"]["uri"], opened["status"]["id"]
    for node in (b, c):
        await arrived(node, uri)
    async with await nodes.client(a, "alice") as api:
        edited = await api.put(f"/api/v1/statuses/{status_id}", json={"status": "Fixed text"})
        assert edited.status_code == 200, edited.text

    async def shows(node: NodeProcess, text: str) -> bool:
        post = await node.post_by_uri(uri)
        return post is not None and text in post.content_html

    for node in (b, c):
        await wait_for(partial(shows, node, "Fixed text"))
    async with await nodes.client(a, "alice") as api:
        assert (await api.delete(f"/api/v1/statuses/{status_id}")).status_code == 200

    async def deleted(node: NodeProcess) -> bool:
        post = await node.post_by_uri(uri)
        return post is None or post.deleted_at is not None

    for node in (b, c):
        await wait_for(partial(deleted, node))
