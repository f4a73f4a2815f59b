"""Conversations on one node: ordering, read markers, mute, leave, adding a participant."""

from __future__ import annotations

import datetime as dt

from node.db import Database
from node.models import Account, ConversationMember, Post
from node.services import conversations
from node.services.accounts import create_local_account
from node.services.conversations import conversation_order
from node.site import Site

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def message(uri: str, seconds: int, reply_to: str | None = None) -> Post:
    return Post(uri=uri, created_at=T0 + dt.timedelta(seconds=seconds), in_reply_to_uri=reply_to)


def test_a_reply_comes_after_what_it_answers_even_when_stamped_earlier() -> None:
    # Peers publish times to the second: a fast reply can carry an earlier stamp.
    root = message("a/1", 10)
    reply = message("b/2", 9, reply_to="a/1")
    later = message("c/3", 11, reply_to="b/2")
    other = message("c/4", 9)
    for arrival in ([later, reply, root, other], [root, other, reply, later]):
        assert [p.uri for p in conversation_order(arrival)] == ["c/4", "a/1", "b/2", "c/3"]


def test_a_reply_whose_parent_is_unknown_is_ordered_by_time() -> None:
    orphan = message("b/2", 5, reply_to="gone/1")
    assert conversation_order([message("a/3", 6), orphan])[0] is orphan


async def people(site: Site, *names: str) -> list[Account]:
    return [await create_local_account(site, name, None) for name in names]


async def member(account: Account, post: Post) -> ConversationMember:
    return await ConversationMember.get(conversation__context=post.context, account_id=account.id)


async def test_read_marker_counts_only_what_was_received_after_it(db: Database, site: Site) -> None:
    alice, bob = await people(site, "alice", "bob")
    first = await conversations.start(site, alice, ["bob"], "one")
    conversation_id = (await member(bob, first)).conversation_id  # type: ignore[attr-defined]
    await conversations.send(site, alice, conversation_id, "two")
    await conversations.send(site, alice, conversation_id, "three")
    assert (await member(bob, first)).unread_count == 3
    view = await conversations.mark_read_up_to(bob, conversation_id, first.id)
    assert (view.member.unread_count, view.member.last_read_id) == (2, first.id)
    assert (await member(alice, first)).unread_count == 0


async def test_send_addresses_every_participant_and_stays_in_the_conversation(
    db: Database, site: Site
) -> None:
    alice, bob, carol = await people(site, "alice", "bob", "carol")
    first = await conversations.start(site, alice, ["bob", "carol"], "hello")
    conversation_id = (await member(bob, first)).conversation_id  # type: ignore[attr-defined]
    answer = await conversations.send(site, bob, conversation_id, "hi all")
    assert answer.context == first.context
    mentioned = {m.account_id for m in await answer.mentions.all()}  # type: ignore[attr-defined]
    assert mentioned == {alice.id, carol.id}
    listed = await conversations.messages(carol, conversation_id)
    assert [p.id for p in listed] == [first.id, answer.id]


async def test_added_participant_sees_only_later_messages(db: Database, site: Site) -> None:
    alice, _, carol = await people(site, "alice", "bob", "carol")
    first = await conversations.start(site, alice, ["bob"], "before")
    conversation_id = (await member(alice, first)).conversation_id  # type: ignore[attr-defined]
    await conversations.add_participant(alice, conversation_id, carol)
    after = await conversations.send(site, alice, conversation_id, "after")
    assert [p.id for p in await conversations.messages(carol, conversation_id)] == [after.id]
    assert (await member(carol, first)).unread_count == 1


async def test_muted_conversation_does_not_count_unread(db: Database, site: Site) -> None:
    alice, bob = await people(site, "alice", "bob")
    first = await conversations.start(site, alice, ["bob"], "one")
    conversation_id = (await member(bob, first)).conversation_id  # type: ignore[attr-defined]
    await conversations.mark_read(bob, conversation_id)
    await conversations.set_muted(bob, conversation_id, True)
    await conversations.send(site, alice, conversation_id, "two")
    assert (await member(bob, first)).unread_count == 0


async def test_who_left_is_no_longer_addressed_nor_brought_back(db: Database, site: Site) -> None:
    alice, bob, carol = await people(site, "alice", "bob", "carol")
    first = await conversations.start(site, alice, ["bob", "carol"], "one")
    conversation_id = (await member(bob, first)).conversation_id  # type: ignore[attr-defined]
    await conversations.leave(carol, conversation_id)
    later = await conversations.send(site, alice, conversation_id, "two")
    mentioned = {m.account_id for m in await later.mentions.all()}  # type: ignore[attr-defined]
    assert mentioned == {bob.id}
    gone = await member(carol, first)
    assert gone.left_at is not None and gone.unread_count == 0
