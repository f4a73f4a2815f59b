"""The chat pages (conversations of direct messages), through Quart's test client."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from quart import Quart
from quart import typing as quart_typing

import webui.chat
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
    assert response.status_code == 303
    conversation_id = await conversation_of(bob_account)
    post = await Post.get(content_source__contains="Lunch at noon?")
    assert response.headers["Location"].endswith(f"/chat/{conversation_id}?sent={post.id}")

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
    assert response.status_code == 303
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


async def remote_carol(app: Quart) -> Account:
    """carol@lab.example, a person on a peer the node has no agreement with: the boundary
    policy refuses messages to her."""
    remote = await Account.create(
        username="carol", domain="lab.example", display_name="Carol Petit",
        uri="https://lab.example/users/carol", url="https://lab.example/@carol",
    )  # fmt: skip

    async def resolver(username: str, domain: str) -> Account | None:
        return remote if (username, domain) == ("carol", "lab.example") else None

    runtime_of(app).site.resolve_remote = resolver
    return remote


REFUSED_CAROL = "not delivered to carol@lab.example: "


async def test_a_participant_the_policy_refuses_is_named_with_the_reason_after_the_redirect(
    app: Quart, db: Database
) -> None:
    site = runtime_of(app).site
    await remote_carol(app)
    alice, alice_account = await signed_in_client(app, "alice")
    await signed_in_client(app, "bob")
    response = await start_chat(alice, "bob, carol@lab.example", "Budget figures")
    assert response.status_code == 303
    post = await Post.get(content_source__contains="Budget figures")
    assert f"sent={post.id}" in response.headers["Location"]

    page = await text_of(await alice.get(response.headers["Location"]))
    assert page.count(REFUSED_CAROL) == 1
    assert "Budget figures" in page  # the message was sent to the others
    missing = await conversations.undelivered(site, alice_account, post)
    assert [u.account.username for u in missing] == ["carol"]
    for reason in missing[0].reasons:
        assert reason.replace("'", "&#39;").replace('"', "&#34;") in page


async def test_sending_redirects_and_the_policy_notice_shows_on_that_page_only(
    app: Quart, db: Database
) -> None:
    await remote_carol(app)
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob, carol@lab.example", "Budget figures")
    conversation_id = await conversation_of(bob_account)
    csrf = await csrf_of(alice, f"/chat/{conversation_id}")

    response = await alice.post(f"/chat/{conversation_id}", form={"csrf": csrf, "text": "Q3?"})

    assert response.status_code == 303
    post = await Post.get(content_source__contains="Q3?")
    location = response.headers["Location"]
    assert location.endswith(f"/chat/{conversation_id}?sent={post.id}")
    assert await Post.filter(content_source__contains="Q3?").count() == 1
    page = await text_of(await alice.get(location))
    assert page.count(REFUSED_CAROL) == 1 and "Q3?" in page
    # Not on the plain page, nor for someone else following the same address.
    assert REFUSED_CAROL not in await text_of(await alice.get(f"/chat/{conversation_id}"))
    assert REFUSED_CAROL not in await text_of(await bob.get(location))
    # Nor for the author's message given as another conversation's.
    await start_chat(alice, "bob", "Elsewhere")
    other = (
        await ConversationMember.filter(account_id=bob_account.id)
        .exclude(conversation_id=conversation_id)
        .first()
    )
    assert other is not None
    elsewhere = f"/chat/{other.conversation_id}?sent={post.id}"  # type: ignore[attr-defined]
    assert REFUSED_CAROL not in await text_of(await alice.get(elsewhere))


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


async def post_control(
    client: quart_typing.TestClientProtocol, conversation_id: int, control: str, **form: str
) -> quart_typing.TestResponseProtocol:
    """A control's form (``participants``, ``mute``, ``leave``) as the page sends it."""
    csrf = await csrf_of(client, f"/chat/{conversation_id}")
    return await client.post(f"/chat/{conversation_id}/{control}", form={"csrf": csrf, **form})


async def test_an_added_participant_is_listed_and_sees_the_messages_sent_afterwards(
    app: Quart, db: Database
) -> None:
    alice, _ = await signed_in_client(app, "alice")
    _, bob_account = await signed_in_client(app, "bob")
    carol, carol_account = await signed_in_client(app, "carol")
    await start_chat(alice, "bob", "Before carol")
    conversation_id = await conversation_of(bob_account)

    response = await post_control(alice, conversation_id, "participants", handle="carol")

    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.endswith(f"/chat/{conversation_id}?added={carol_account.id}")
    page = await text_of(await alice.get(location))
    participants = page[page.index('class="participants"') :].split("</p>", 1)[0]
    assert "@carol@wall.test" in participants
    assert 'role="status"' in page and "takes part now" in page
    csrf = await csrf_of(alice, f"/chat/{conversation_id}")
    await alice.post(f"/chat/{conversation_id}", form={"csrf": csrf, "text": "Welcome carol"})
    seen = await text_of(await carol.get(f"/chat/{conversation_id}"))
    assert "Welcome carol" in seen and "Before carol" not in seen


async def test_a_remote_participant_is_added_by_resolving_the_handle(
    app: Quart, db: Database
) -> None:
    looked_up = []

    async def resolver(username: str, domain: str) -> Account | None:
        # As a fetch of the actor would: the account is stored when first resolved.
        looked_up.append((username, domain))
        return await Account.create(
            username=username, domain=domain,
            uri=f"https://{domain}/users/{username}", url=f"https://{domain}/@{username}",
        )  # fmt: skip

    runtime_of(app).site.resolve_remote = resolver
    alice, _ = await signed_in_client(app, "alice")
    _, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "Hello")
    conversation_id = await conversation_of(bob_account)

    response = await post_control(alice, conversation_id, "participants", handle="dan@lab.example")

    assert response.status_code == 303
    assert looked_up == [("dan", "lab.example")]
    dan = await Account.get(username="dan", domain="lab.example")
    assert await ConversationMember.exists(conversation_id=conversation_id, account_id=dan.id)
    page = await text_of(await alice.get(response.headers["Location"]))
    assert "@dan@lab.example" in page


async def test_adding_nobody_an_unknown_or_a_present_participant_is_explained(
    app: Quart, db: Database
) -> None:
    alice, _ = await signed_in_client(app, "alice")
    _, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "Hello")
    conversation_id = await conversation_of(bob_account)
    members = await ConversationMember.filter(conversation_id=conversation_id).count()

    for handle, explanation in [
        ("nobody", "Nobody found for nobody"),
        ("bob", "bob already takes part in this conversation."),
        ("alice", "alice already takes part in this conversation."),
        ("not a handle!", "Not a handle: not a handle!"),
    ]:
        refused = await post_control(alice, conversation_id, "participants", handle=handle)
        assert refused.status_code == 422, handle
        page = await text_of(refused)
        assert explanation in page and 'role="alert"' in page, handle
    assert await ConversationMember.filter(conversation_id=conversation_id).count() == members


async def test_muting_marks_the_conversation_and_its_messages_stop_counting_as_unread(
    app: Quart, db: Database
) -> None:
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "First")
    conversation_id = await conversation_of(bob_account)

    response = await post_control(bob, conversation_id, "mute", muted="yes")

    assert response.status_code == 303
    page = await text_of(await bob.get(response.headers["Location"]))
    assert 'role="status">The conversation is muted.' in page
    assert 'id="chat-muted"' in page and ">Unmute</button>" in page
    csrf = await csrf_of(alice, f"/chat/{conversation_id}")
    await alice.post(f"/chat/{conversation_id}", form={"csrf": csrf, "text": "Second"})
    listing = await text_of(await bob.get("/chat"))
    assert 'class="muted-mark">muted<' in listing and "badge chat-unread" not in listing
    assert CHAT_LINK.search(await text_of(await bob.get("/home"))).group(1) == "0"  # type: ignore[union-attr]

    await post_control(bob, conversation_id, "mute", muted="no")
    await alice.post(f"/chat/{conversation_id}", form={"csrf": csrf, "text": "Third"})
    listing = await text_of(await bob.get("/chat"))
    assert "muted-mark" not in listing and "1 unread" in listing
    assert CHAT_LINK.search(await text_of(await bob.get("/home"))).group(1) == "1"  # type: ignore[union-attr]


async def test_leaving_asks_first_then_takes_the_conversation_off_the_list(
    app: Quart, db: Database
) -> None:
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "Stay a while")
    conversation_id = await conversation_of(bob_account)
    page = await text_of(await bob.get(f"/chat/{conversation_id}"))
    assert f'action="/chat/{conversation_id}/leave"' in page  # a button to the question

    unconfirmed = await post_control(bob, conversation_id, "leave")
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["Location"].endswith(f"/chat/{conversation_id}/leave")
    assert "Stay a while" in await text_of(await bob.get("/chat"))
    question = await text_of(await bob.get(f"/chat/{conversation_id}/leave"))
    assert "Yes, leave the conversation" in question and 'name="confirm" value="yes"' in question

    csrf = await csrf_of(bob, f"/chat/{conversation_id}/leave")
    left = await bob.post(f"/chat/{conversation_id}/leave", form={"csrf": csrf, "confirm": "yes"})

    assert left.status_code == 303 and left.headers["Location"].endswith("/chat?done=left")
    listing = await text_of(await bob.get(left.headers["Location"]))
    assert 'role="status">You left the conversation.' in listing
    assert "Stay a while" not in listing
    assert (await bob.get(f"/chat/{conversation_id}")).status_code == 404
    others = await text_of(await alice.get(f"/chat/{conversation_id}"))
    assert "has left" in others


async def send_numbered(
    client: quart_typing.TestClientProtocol, conversation_id: int, numbers: range
) -> list[int]:
    csrf = await csrf_of(client, f"/chat/{conversation_id}")
    for n in numbers:
        form = {"csrf": csrf, "text": f"Message number {n:02d}."}
        assert (await client.post(f"/chat/{conversation_id}", form=form)).status_code == 303
    return [p.id for p in await Post.all().order_by("id")]


def numbers_on(page: str) -> list[int]:
    return [int(n) for n in re.findall(r"Message number (\d+)\.", page)]


OLDER_LINK = re.compile(r'href="([^"]*before=(\d+))"[^>]*>Older messages<')


async def test_older_messages_pages_back_through_exactly_the_earlier_messages(
    app: Quart, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webui.chat, "MESSAGES_SHOWN", 3)
    alice, _ = await signed_in_client(app, "alice")
    _, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "Message number 01.")
    conversation_id = await conversation_of(bob_account)
    await send_numbered(alice, conversation_id, range(2, 8))

    newest = await text_of(await alice.get(f"/chat/{conversation_id}"))
    assert numbers_on(newest) == [5, 6, 7]
    assert "data-live-chat=" in newest and "Newest messages" not in newest
    link = OLDER_LINK.search(newest)
    assert link is not None
    older = await text_of(await alice.get(link.group(1).replace("&amp;", "&")))
    assert numbers_on(older) == [2, 3, 4]
    assert "data-live-chat=" not in older  # live messages are not appended to an old page
    assert "Newest messages" in older
    link = OLDER_LINK.search(older)
    assert link is not None
    oldest = await text_of(await alice.get(link.group(1)))
    assert numbers_on(oldest) == [1]
    assert OLDER_LINK.search(oldest) is None


async def test_older_messages_still_page_back_when_the_first_one_shown_was_deleted(
    app: Quart, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webui.chat, "MESSAGES_SHOWN", 2)
    alice, _ = await signed_in_client(app, "alice")
    _, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "Message number 01.")
    conversation_id = await conversation_of(bob_account)
    await send_numbered(alice, conversation_id, range(2, 6))
    link = OLDER_LINK.search(await text_of(await alice.get(f"/chat/{conversation_id}")))
    assert link is not None

    await Post.filter(id=int(link.group(2))).update(deleted_at=dt.datetime.now(dt.UTC))

    assert numbers_on(await text_of(await alice.get(link.group(1)))) == [2, 3]


async def test_an_older_page_leaves_the_unread_messages_unread(app: Quart, db: Database) -> None:
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    await start_chat(alice, "bob", "Message number 01.")
    conversation_id = await conversation_of(bob_account)
    ids = await send_numbered(alice, conversation_id, range(2, 4))

    await bob.get(f"/chat/{conversation_id}?before={ids[-1]}")

    member = await ConversationMember.get(
        conversation_id=conversation_id, account_id=bob_account.id
    )
    assert member.unread_count == 3


async def test_the_controls_refuse_forms_without_the_csrf_token(app: Quart, db: Database) -> None:
    alice, _ = await signed_in_client(app, "alice")
    bob, bob_account = await signed_in_client(app, "bob")
    await signed_in_client(app, "carol")
    await start_chat(alice, "bob", "Hi")
    conversation_id = await conversation_of(bob_account)
    forms = {
        "participants": {"handle": "carol"},
        "mute": {"muted": "yes"},
        "leave": {"confirm": "yes"},
    }
    for control, form in forms.items():
        url = f"/chat/{conversation_id}/{control}"
        assert (await bob.post(url, form=form)).status_code == 400, control
        forged = await bob.post(url, form={"csrf": "0" * 64, **form})
        assert forged.status_code == 400, control
        foreign = await bob.post(
            url,
            form={"csrf": await csrf_of(bob), **form},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403, control
    member = await ConversationMember.get(
        conversation_id=conversation_id, account_id=bob_account.id
    )
    assert (member.muted, member.left_at) == (False, None)
    assert await ConversationMember.filter(conversation_id=conversation_id).count() == 2


async def test_someone_else_cannot_use_the_controls(app: Quart, db: Database) -> None:
    alice, _ = await signed_in_client(app, "alice")
    _, bob_account = await signed_in_client(app, "bob")
    eve, _ = await signed_in_client(app, "eve")
    await start_chat(alice, "bob", "Private plans")
    conversation_id = await conversation_of(bob_account)
    csrf = await csrf_of(eve)
    for control, form in [
        ("participants", {"handle": "eve"}),
        ("mute", {"muted": "yes"}),
        ("leave", {"confirm": "yes"}),
    ]:
        url = f"/chat/{conversation_id}/{control}"
        response = await eve.post(url, form={"csrf": csrf, **form})
        assert response.status_code == 404, control
    assert (await eve.get(f"/chat/{conversation_id}/leave")).status_code == 404
    assert await ConversationMember.filter(conversation_id=conversation_id).count() == 2
