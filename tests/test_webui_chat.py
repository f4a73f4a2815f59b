"""The chat pages (conversations of direct messages), through Quart's test client."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from quart import Quart
from quart import typing as quart_typing

from node.app import runtime_of
from node.db import Database
from node.models import Account, ConversationMember, Post
from node.services import conversations
from node.streaming import Event
from tests.test_webui import build_app, csrf_of, node_key, signed_in_client  # noqa: F401  (fixture)
from webui.live import FORWARDED_EVENTS, sse_message

CHAT_LINK = re.compile(r'id="chat-badge"[^>]*>(\d+)<')


@pytest.fixture
async def app(tmp_path: Path, db: Database, node_key: tuple[str, str]) -> AsyncIterator[Quart]:  # noqa: F811
    application = build_app(tmp_path, db, node_key)
    async with application.test_app():
        yield application


async def text_of(response: quart_typing.TestResponseProtocol) -> str:
    return str(await response.get_data(as_text=True))


async def start_chat(
    client: quart_typing.TestClientProtocol, participants: str, text: str
) -> quart_typing.TestResponseProtocol:
    csrf = await csrf_of(client, "/chat")
    form = {"csrf": csrf, "participants": participants, "text": text}
    return await client.post("/chat", form=form)


async def conversation_of(account: Account) -> int:
    member = await ConversationMember.filter(account_id=account.id).first()
    assert member is not None
    return int(member.conversation_id)  # type: ignore[attr-defined]


async def test_start_lists_and_shows_a_conversation_with_several_people(
    app: Quart, db: Database
) -> None:
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    await signed_in_client(app, "carol")

    response = await start_chat(alice, "bob, @carol@wall.test", "Lunch at noon?")
    assert response.status_code == 302
    conversation_id = await conversation_of(bob_account)
    assert response.headers["Location"].endswith(f"/chat/{conversation_id}")

    page = await text_of(await alice.get(f"/chat/{conversation_id}"))
    assert "Lunch at noon?" in page
    assert "@bob@wall.test" in page and "@carol@wall.test" in page
    assert 'id="chat-send"' in page

    listing = await text_of(await bob.get("/chat"))
    assert "Lunch at noon?" in listing
    assert "1 unread" in listing
    assert "alice" in listing and "carol" in listing
    home = await text_of(await bob.get("/home"))
    assert CHAT_LINK.search(home) is not None
    assert CHAT_LINK.search(home).group(1) == "1"  # type: ignore[union-attr]


async def test_sending_appends_in_conversation_order_and_opening_marks_read(
    app: Quart, db: Database
) -> None:
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "First question")
    conversation_id = await conversation_of(bob_account)

    csrf = await csrf_of(bob, f"/chat/{conversation_id}")
    member = await ConversationMember.get(
        conversation_id=conversation_id, account_id=bob_account.id
    )
    assert member.unread_count == 0  # opening the page read it
    response = await bob.post(f"/chat/{conversation_id}", form={"csrf": csrf, "text": "Answer"})
    assert response.status_code == 302
    csrf = await csrf_of(alice, "/chat")
    await alice.post(f"/chat/{conversation_id}", form={"csrf": csrf, "text": "Thanks"})

    listing = await text_of(await bob.get("/chat"))
    assert "1 unread" in listing
    page = await text_of(await bob.get(f"/chat/{conversation_id}"))
    positions = [page.index(t) for t in ("First question", "Answer", "Thanks")]
    assert positions == sorted(positions)
    member = await ConversationMember.get(
        conversation_id=conversation_id, account_id=bob_account.id
    )
    assert member.unread_count == 0
    assert "badge chat-unread" not in await text_of(await bob.get("/chat"))


async def test_forms_without_the_csrf_token_are_refused(app: Quart, db: Database) -> None:
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    refused = await alice.post("/chat", form={"participants": "bob", "text": "Hi"})
    assert refused.status_code == 400
    assert await Post.all().count() == 0

    await start_chat(alice, "bob", "Hi")
    conversation_id = await conversation_of(bob_account)
    refused = await bob.post(f"/chat/{conversation_id}", form={"csrf": "0" * 64, "text": "x"})
    assert refused.status_code == 400
    foreign = await bob.post(
        f"/chat/{conversation_id}",
        form={"csrf": await csrf_of(bob), "text": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert await Post.all().count() == 1


async def test_someone_else_cannot_open_or_write_to_a_conversation(
    app: Quart, db: Database
) -> None:
    alice, _ = await signed_in_client(app, "alice")
    _, bob_account = await signed_in_client(app, "bob")
    eve, _ = await signed_in_client(app, "eve")
    await start_chat(alice, "bob", "Private plans")
    conversation_id = await conversation_of(bob_account)
    post = await Post.get(content_source__contains="Private plans")

    assert (await eve.get(f"/chat/{conversation_id}")).status_code == 404
    assert (await eve.get(f"/chat/{conversation_id}/messages/{post.id}")).status_code == 404
    sent = await eve.post(
        f"/chat/{conversation_id}", form={"csrf": await csrf_of(eve), "text": "let me in"}
    )
    assert sent.status_code == 404
    assert "Private plans" not in await text_of(await eve.get("/chat"))
    assert (await eve.get("/chat/999999")).status_code == 404
    anonymous = await app.test_client().get(f"/chat/{conversation_id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


async def test_unknown_people_and_empty_messages_are_explained(app: Quart, db: Database) -> None:
    alice, _ = await signed_in_client(app, "alice")
    unknown = await start_chat(alice, "nobody", "Hello")
    assert unknown.status_code == 422
    assert "Nobody found for nobody" in await text_of(unknown)
    empty = await start_chat(alice, "", "Hello")
    assert empty.status_code == 422
    assert await Post.all().count() == 0


async def test_a_participant_the_policy_refuses_is_named_with_the_reason(
    app: Quart, db: Database
) -> None:
    site = runtime_of(app).site
    remote = await Account.create(
        username="carol", domain="lab.example", display_name="Carol Petit",
        uri="https://lab.example/users/carol", url="https://lab.example/@carol",
    )  # fmt: skip

    async def resolver(username: str, domain: str) -> Account | None:
        return remote if (username, domain) == ("carol", "lab.example") else None

    site.resolve_remote = resolver
    alice, _ = await signed_in_client(app, "alice")
    await signed_in_client(app, "bob")
    response = await start_chat(alice, "bob, carol@lab.example", "Budget figures")
    assert response.status_code == 200
    page = await text_of(response)
    assert "not delivered to carol@lab.example: " in page
    assert "Budget figures" in page  # the message was sent to the others
    post = await Post.get(content_source__contains="Budget figures")
    missing = await conversations.undelivered(site, await Account.get(username="alice"), post)
    assert [u.account.username for u in missing] == ["carol"]
    for reason in missing[0].reasons:
        assert reason.replace("'", "&#39;").replace('"', "&#34;") in page


async def test_live_fragments_and_the_stream_forward_chat_events(app: Quart, db: Database) -> None:
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "Are you there?")
    conversation_id = await conversation_of(bob_account)
    post = await Post.get(content_source__contains="Are you there?")

    counts = orjson.loads(await (await bob.get("/chat/unread")).get_data())
    assert counts["unread"] == 1
    fragment = await text_of(await bob.get(f"/chat/{conversation_id}/messages/{post.id}"))
    assert f'id="message-{post.id}"' in fragment and "Are you there?" in fragment
    counts = orjson.loads(await (await bob.get("/chat/unread")).get_data())
    assert counts["unread"] == 0  # shown on the open page: read
    listing = await text_of(await bob.get("/chat/list"))
    assert "Are you there?" in listing and "<html" not in listing
    assert (await app.test_client().get("/chat/unread")).status_code == 401

    assert "conversation" in FORWARDED_EVENTS
    message = sse_message(
        Event("conversation", {"post_id": post.id}, (f"direct:{bob_account.id}",))
    )
    assert message.startswith(b"event: conversation\n")
    assert f'"post_id":"{post.id}"'.encode() in message

    # The stream itself: a message to bob reaches his open /live.
    async with bob.request("/live") as connection:
        await connection.send_complete()
        ready = await asyncio.wait_for(connection.receive(), 5)
        assert b"event: ready" in ready
        csrf = await csrf_of(alice, "/chat")
        await alice.post(f"/chat/{conversation_id}", form={"csrf": csrf, "text": "Hello?"})
        received = b""
        while b"event: conversation" not in received:
            received += await asyncio.wait_for(connection.receive(), 5)
        await connection.disconnect()
