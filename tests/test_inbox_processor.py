"""The inbox processor applies received activities in groups, one transaction per group.

Driven in-process, one batch at a time, on SQLite and PostgreSQL: what each
item leaves (state, post, timeline entry, audit entry, counters, live events),
what a failing item leaves (nothing but its failure and its policy decision),
and what the audit chain and the peer counters look like when written in one go.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import types
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction

from federation import handlers
from federation.handlers import HandlerContext
from federation.inbox import InboxProcessor
from node.db import Database
from node.models import (
    Account,
    AuditEntry,
    Follow,
    InboxItem,
    PeerStats,
    Post,
    ReviewItem,
    TimelineEntry,
)
from node.services import audit
from node.services.policy import CrossingCounts, count_crossing
from node.site import Site
from tests.conftest import make_user

PEER = "peer.example"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
POLICY = f"""federation_mode = "allowlist"
labels = ["public", "internal", "confidential", "restricted"]
default_label = "internal"

[[peers]]
domain = "{PEER}"
status = "allowed"
outbound = {{ max_label = "restricted" }}
inbound = {{ max_label = "restricted" }}

[[content_rules]]
id = "hold-merger"
matchers = [{{ type = "keyword", words = ["merger"] }}]
action = "hold"
scope = {{ directions = ["inbound"] }}
"""

Dispatch = Callable[[HandlerContext, dict[str, Any]], Awaitable[str]]


def actor_uri(name: str) -> str:
    return f"https://{PEER}/users/{name}"


def create(n: int, *, by: str = "ann", text: str = "Hello", note: str | None = None) -> dict:
    """A Create of a public Note, as a peer sends it (activity ``n`` of its author)."""
    actor = actor_uri(by)
    obj = {
        "id": note or f"{actor}/notes/{n}",
        "type": "Note",
        "attributedTo": actor,
        "content": f"<p>{text} {n}</p>",
        "to": [PUBLIC],
        "cc": [f"{actor}/followers"],
    }
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/activities/{n}",
        "type": "Create",
        "actor": actor,
        "to": obj["to"],
        "cc": obj["cc"],
        "object": obj,
    }


def delete(n: int, note: str, *, by: str = "ann") -> dict:
    actor = actor_uri(by)
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/activities/{n}",
        "type": "Delete",
        "actor": actor,
        "to": [PUBLIC],
        "object": note,
    }


async def receive(*activities: dict) -> list[InboxItem]:
    """Store activities as the inbox fast path does, in arrival order."""
    items = []
    for activity in activities:
        items.append(
            await InboxItem.create(
                activity_id=activity["id"],
                actor_uri=activity["actor"],
                key_id=f"{activity['actor']}#main-key",
                peer_domain=PEER,
                body=orjson.dumps(activity).decode(),
                state="pending",
            )
        )
    return items


class Directory:
    """Stands in for ActorDirectory: a "fetch" marks the stored actor fresh.

    Records, for each fetch, whether it happened inside a database transaction.
    """

    def __init__(self) -> None:
        self.fetched: list[tuple[str, bool]] = []

    async def resolve_uri(self, uri: str, *, refresh: bool = False) -> Account:
        self.fetched.append((uri, isinstance(Account._meta.db, TransactionalDBClient)))
        account = await Account.get(uri=uri)
        account.fetched_at = dt.datetime.now(dt.UTC)
        await account.save(update_fields=["fetched_at"])
        return account


async def remote_actor(name: str, *, fresh: bool = True) -> Account:
    fetched = dt.datetime.now(dt.UTC) - (dt.timedelta(0) if fresh else dt.timedelta(days=3))
    return await Account.create(
        username=name,
        domain=PEER,
        display_name=name,
        uri=actor_uri(name),
        inbox_url=f"{actor_uri(name)}/inbox",
        followers_url=f"{actor_uri(name)}/followers",
        fetched_at=fetched,
    )


@pytest.fixture
async def reader(db: Database, site: Site) -> Account:
    """A local account following ann and bob on the peer, under a policy admitting the peer."""
    await site.policy.apply(POLICY, "test")
    account = await make_user(site, "reader")
    for name, fresh in (("ann", True), ("bob", False)):
        followee = await remote_actor(name, fresh=fresh)
        await Follow.create(follower=account, followee=followee, state="accepted")
    return account


def processor(
    site: Site, directory: Directory | None = None, dispatch: Dispatch = handlers.dispatch
) -> InboxProcessor:
    return InboxProcessor(
        None,  # type: ignore[arg-type]  # only retry_awaiting_key verifies
        site,
        directory or Directory(),  # type: ignore[arg-type]
        asyncio.Event(),
        dispatch=dispatch,
    )


async def drain(worker: InboxProcessor) -> None:
    while await worker.process_batch():
        pass


async def state_of(item: InboxItem) -> tuple[str, str | None]:
    await item.refresh_from_db()
    return item.state, item.last_error


# ------------------------------------------------------------------ applying


async def test_a_create_from_a_followed_actor_reaches_the_followers_timeline(
    site: Site, reader: Account
) -> None:
    [item] = await receive(create(1))
    await drain(processor(site))
    assert await state_of(item) == ("processed", None)
    post = await Post.get(uri=f"{actor_uri('ann')}/notes/1")
    assert await TimelineEntry.filter(owner_id=reader.id, post_id=post.id).exists()


async def test_each_applied_item_has_its_crossing_in_the_audit_chain(
    site: Site, reader: Account
) -> None:
    items = await receive(*(create(n) for n in range(5)))
    await drain(processor(site))
    crossings = await AuditEntry.filter(kind="crossing").order_by("seq")
    assert [e.object_id for e in crossings] == [i.activity_id for i in items]
    assert {e.decision for e in crossings} == {"allow"}
    assert (await audit.verify_chain()).ok


async def test_a_batch_counts_each_inbound_crossing_once(site: Site, reader: Account) -> None:
    await receive(*(create(n) for n in range(7)))
    await drain(processor(site))
    stats = await PeerStats.get(domain=PEER)
    assert (stats.inbound_allowed, stats.inbound_denied) == (7, 0)


async def test_two_activities_creating_the_same_post_in_one_batch_store_it_once(
    site: Site, reader: Account
) -> None:
    note = f"{actor_uri('ann')}/notes/shared"
    items = await receive(create(1, note=note), create(2, note=note))
    await drain(processor(site))
    assert [await state_of(i) for i in items] == [("processed", None)] * 2
    assert await Post.filter(uri=note).count() == 1


async def test_a_held_item_waits_with_a_review_item_and_no_post(
    site: Site, reader: Account
) -> None:
    [item] = await receive(create(1, text="The merger is on"))
    await drain(processor(site))
    state, error = await state_of(item)
    assert state == "held" and error is not None and error.startswith("policy:")
    assert await ReviewItem.filter(inbox_item_id=item.id, state="held").exists()
    assert not await Post.filter(uri=f"{actor_uri('ann')}/notes/1").exists()


# ------------------------------------------------------------------ failures


def failing_on(activity_id: str) -> Dispatch:
    """The real handlers, except that ``activity_id`` raises once its handler has run."""

    async def dispatch(context: HandlerContext, activity: dict[str, Any]) -> str:
        outcome = await handlers.dispatch(context, activity)
        if activity["id"] == activity_id:
            raise RuntimeError("handler bug after its writes")
        return outcome

    return dispatch


async def test_an_item_whose_handler_raises_ends_failed_with_none_of_its_effects(
    site: Site, reader: Account
) -> None:
    _, bad, _ = await receive(create(1), create(2), create(3))
    await drain(processor(site, dispatch=failing_on(bad.activity_id)))
    assert await state_of(bad) == ("failed", "internal error: RuntimeError")
    assert not await Post.filter(uri=f"{actor_uri('ann')}/notes/2").exists()
    assert await TimelineEntry.filter(owner_id=reader.id).count() == 2


async def test_the_items_around_a_failing_one_are_processed(site: Site, reader: Account) -> None:
    first, bad, last = await receive(create(1), create(2), create(3))
    await drain(processor(site, dispatch=failing_on(bad.activity_id)))
    assert await state_of(first) == ("processed", None)
    assert await state_of(last) == ("processed", None)


async def test_a_failed_item_keeps_its_policy_decision_in_the_audit_log(
    site: Site, reader: Account
) -> None:
    [bad] = await receive(create(1))
    await drain(processor(site, dispatch=failing_on(bad.activity_id)))
    assert await AuditEntry.filter(kind="crossing", object_id=bad.activity_id).exists()


async def test_a_group_that_cannot_commit_is_applied_again_one_item_at_a_time(
    site: Site, reader: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, bad, last = await receive(create(1), create(2), create(3))
    append_many = audit.append_many

    async def refusing(entries: list[audit.NewEntry]) -> list[AuditEntry]:
        if any(e.object_id == bad.activity_id for e in entries):
            raise RuntimeError("cannot write this entry")
        return await append_many(entries)

    monkeypatch.setattr(audit, "append_many", refusing)
    await drain(processor(site))
    assert [await state_of(i) for i in (first, bad, last)] == [
        ("processed", None),
        ("failed", "internal error: RuntimeError"),
        ("processed", None),
    ]
    assert not await Post.filter(uri=f"{actor_uri('ann')}/notes/2").exists()


# ------------------------------------------------------------------ live events


async def test_live_events_are_published_only_after_the_commit(site: Site, reader: Account) -> None:
    await receive(create(1))
    seen_while_applying: list[bool] = []
    async with site.events.subscribe([f"user:{reader.id}"]) as events:

        async def dispatch(context: HandlerContext, activity: dict[str, Any]) -> str:
            outcome = await handlers.dispatch(context, activity)
            seen_while_applying.append(not events.empty())
            return outcome

        await drain(processor(site, dispatch=dispatch))
        assert seen_while_applying == [False]
        event = events.get_nowait()
    post = await Post.get(uri=f"{actor_uri('ann')}/notes/1")
    assert (event.name, event.data) == ("update", {"post_id": post.id})


async def test_an_item_that_was_undone_publishes_no_live_event(site: Site, reader: Account) -> None:
    [bad] = await receive(create(1))
    async with site.events.subscribe([f"user:{reader.id}", "public"]) as events:
        await drain(processor(site, dispatch=failing_on(bad.activity_id)))
        assert events.empty()


# ------------------------------------------------------------------ fetches


async def test_a_fetch_an_item_needs_happens_outside_any_transaction(
    site: Site, reader: Account
) -> None:
    directory = Directory()
    [item] = await receive(create(1, by="bob"))  # bob's stored profile is stale
    await drain(processor(site, directory))
    assert directory.fetched == [(actor_uri("bob"), False)]
    assert await state_of(item) == ("processed", None)


async def test_items_keep_their_arrival_order_across_a_fetch(site: Site, reader: Account) -> None:
    note = f"{actor_uri('bob')}/notes/1"
    created, deleted = await receive(create(1, by="bob"), delete(2, note, by="bob"))
    await drain(processor(site))
    assert await state_of(created) == ("processed", None)
    assert await state_of(deleted) == ("processed", None)
    post = await Post.get(uri=note)
    assert post.deleted_at is not None  # the Delete was applied after the Create


# ------------------------------------------------------------------ audit chain


async def test_append_many_writes_the_chain_that_appending_one_by_one_writes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    frozen = types.SimpleNamespace(
        UTC=dt.UTC, datetime=types.SimpleNamespace(now=lambda tz=None: moment)
    )
    monkeypatch.setattr(audit, "dt", frozen)
    entries = [
        audit.NewEntry("crossing", direction="inbound", peer=PEER, object_id=f"o{n}",
                       decision="allow", rule_ids=["r1"], policy_version=3,
                       details={"reasons": [{"n": n}]})
        for n in range(4)
    ]  # fmt: skip
    columns = ("seq", "created_at", "kind", "peer_domain", "object_id", "details",
               "prev_hash", "entry_hash")  # fmt: skip
    await audit.append("policy.changed", actor="admin")
    await audit.append_many(entries)
    together = await AuditEntry.all().order_by("seq").values_list(*columns)
    await AuditEntry.all().delete()
    await audit.append("policy.changed", actor="admin")
    for e in entries:
        await audit.append(e.kind, direction=e.direction, peer=e.peer, object_id=e.object_id,
                           decision=e.decision, rule_ids=e.rule_ids,
                           policy_version=e.policy_version, details=e.details)  # fmt: skip
    one_by_one = await AuditEntry.all().order_by("seq").values_list(*columns)
    assert together == one_by_one


async def test_append_many_continues_the_chain_and_it_verifies(db: Database) -> None:
    await audit.append("policy.changed", actor="admin")
    rows = await audit.append_many(
        [audit.NewEntry("crossing", object_id=f"o{n}") for n in range(3)]
    )
    await audit.append("policy.changed", actor="admin")
    assert [r.seq for r in rows] == [2, 3, 4]
    status = await audit.verify_chain()
    assert (status.ok, status.entries) == (True, 5)


# The appenders' lock is PostgreSQL's; on SQLite, writers hold the database's write lock.
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_append_many_holds_the_appenders_lock_until_its_transaction_commits(
    db: Database,
) -> None:
    outside = contextvars.copy_context()  # taken before the transaction below

    async def lock_is_free() -> bool:
        async def attempt() -> bool:
            async with in_transaction() as conn:  # another pooled connection
                _, rows = await conn.execute_query("SELECT pg_try_advisory_xact_lock(727274) AS ok")
                return bool(rows[0]["ok"])

        return await asyncio.create_task(attempt(), context=outside)

    async with in_transaction():
        await audit.append_many([audit.NewEntry("crossing", object_id="o")])
        assert not await lock_is_free()
    assert await lock_is_free()


# ------------------------------------------------------------------ counters


CROSSINGS = [("inbound", True), ("inbound", True), ("inbound", False), ("outbound", True)]


async def test_counters_written_per_batch_equal_counting_each_crossing(db: Database) -> None:
    for direction, allowed in CROSSINGS:
        await count_crossing("one.example", direction, allowed)
    counts = CrossingCounts()
    for direction, allowed in CROSSINGS:
        counts.add("batch.example", direction, allowed)
    await counts.flush()
    columns = ("inbound_allowed", "inbound_denied", "outbound_allowed", "outbound_denied")
    one = await PeerStats.filter(domain="one.example").values_list(*columns)
    batch = await PeerStats.filter(domain="batch.example").values_list(*columns)
    assert one == batch == [(2, 1, 1, 0)]


async def test_counters_add_to_what_a_peer_already_has(db: Database) -> None:
    await count_crossing(PEER, "inbound", True)
    counts = CrossingCounts()
    counts.add(PEER, "inbound", True)
    counts.add(PEER, "inbound", True)
    await counts.flush()
    assert (await PeerStats.get(domain=PEER)).inbound_allowed == 3
