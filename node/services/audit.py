"""The append-only, hash-chained audit log of boundary crossings and policy changes.

Each entry stores the hash of the previous entry and the SHA-256 of
``previous hash + canonical JSON of its own content``; :func:`verify_chain`
recomputes the chain and names the first entry that does not match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import RawSQL
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from node.models import AuditEntry
from node.policy import Decision

GENESIS = "0" * 64
_RETRIES = 8


def _canonical(entry: dict[str, Any]) -> bytes:
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)


def entry_content(row: AuditEntry) -> dict[str, Any]:
    """The hashed content of an entry: every column except the hashes."""
    return {
        "seq": row.seq,
        "created_at": row.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "kind": row.kind,
        "direction": row.direction,
        "peer_domain": row.peer_domain,
        "object_id": row.object_id,
        "actor": row.actor,
        "label": row.label,
        "decision": row.decision,
        "rule_ids": list(row.rule_ids),
        "policy_version": row.policy_version,
        "details": row.details,
    }


def naming_rule(query: QuerySet[AuditEntry], rule: str, dialect: str) -> QuerySet[AuditEntry]:
    """The entries of ``query`` whose ``rule_ids`` include ``rule``, filtered by the database."""
    # A quoted SQL literal (quotes doubled; both databases read backslashes literally):
    # Tortoise has no parameters for raw expressions, and JSON containment is spelt
    # differently by each database.
    literal = "'" + rule.replace("\x00", "").replace("'", "''") + "'"
    if dialect == "postgres":
        condition = f'jsonb_exists("audit_entries"."rule_ids", {literal})'
    else:
        condition = (
            f'EXISTS (SELECT 1 FROM json_each("audit_entries"."rule_ids") WHERE value = {literal})'  # noqa: S608
        )
    return query.annotate(names_rule=RawSQL(condition)).filter(names_rule=True)


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(content)).hexdigest()


@dataclass(frozen=True)
class NewEntry:
    """An entry to append: its content, without its place in the chain (seq, time, hashes)."""

    kind: str
    direction: str | None = None
    peer: str | None = None
    object_id: str | None = None
    actor: str | None = None
    label: str | None = None
    decision: str | None = None
    rule_ids: Sequence[str] = ()
    policy_version: int | None = None
    details: dict[str, Any] | None = None


def _chained(entry: NewEntry, seq: int, prev_hash: str) -> AuditEntry:
    """``entry`` as row ``seq`` of the chain, after the entry whose hash is ``prev_hash``."""
    row = AuditEntry(
        seq=seq,
        created_at=dt.datetime.now(dt.UTC),
        kind=entry.kind,
        direction=entry.direction,
        peer_domain=entry.peer,
        object_id=entry.object_id,
        actor=entry.actor,
        label=entry.label,
        decision=entry.decision,
        rule_ids=list(entry.rule_ids),
        policy_version=entry.policy_version,
        details=entry.details or {},
        prev_hash=prev_hash,
        entry_hash="",
    )
    row.entry_hash = chain_hash(row.prev_hash, entry_content(row))
    return row


async def _chain_end(conn: BaseDBAsyncClient) -> tuple[int, str]:
    """The last sequence number and hash, with the appenders' lock held (call in a transaction)."""
    if conn.capabilities.dialect == "postgres":
        # One appender at a time across processes; released at commit.
        await conn.execute_query("SELECT pg_advisory_xact_lock(727274)")
    last = await AuditEntry.all().order_by("-seq").first()
    return (last.seq, last.entry_hash) if last else (0, GENESIS)


async def append(
    kind: str,
    *,
    direction: str | None = None,
    peer: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    label: str | None = None,
    decision: str | None = None,
    rule_ids: Sequence[str] = (),
    policy_version: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry at the end of the chain (safe with several writers)."""
    entry = NewEntry(
        kind, direction, peer, object_id, actor, label, decision, rule_ids, policy_version, details
    )
    return await _append_one(entry)


async def _append_one(entry: NewEntry) -> AuditEntry:
    for _ in range(_RETRIES):
        try:
            async with in_transaction() as conn:
                seq, prev_hash = await _chain_end(conn)
                row = _chained(entry, seq + 1, prev_hash)
                await row.save(force_create=True)
                return row
        except IntegrityError:
            continue  # another writer took this sequence number: read the new end, retry
    raise RuntimeError("could not append to the audit log: too much contention")


async def append_many(entries: Sequence[NewEntry]) -> list[AuditEntry]:
    """Append ``entries``, in order, at the end of the chain in one transaction.

    The chain is the one as many :func:`append` calls would have made (same
    sequence numbers and hashes, only fewer round trips); inside the caller's
    transaction the entries commit with it, and on PostgreSQL the appenders'
    lock is held from here until that commit.
    """
    if not entries:
        return []
    current = AuditEntry._meta.db
    if isinstance(current, TransactionalDBClient):
        # The caller's transaction keeps other appenders out until it commits (the lock
        # taken here, or SQLite's write lock): nobody can take these sequence numbers.
        return await _append_rows(current, entries)
    for _ in range(_RETRIES):
        try:
            async with in_transaction() as conn:
                return await _append_rows(conn, entries)
        except IntegrityError:
            continue  # another writer took these sequence numbers: read the new end, retry
    raise RuntimeError("could not append to the audit log: too much contention")


async def _append_rows(conn: BaseDBAsyncClient, entries: Sequence[NewEntry]) -> list[AuditEntry]:
    seq, prev_hash = await _chain_end(conn)
    rows = []
    for entry in entries:
        row = _chained(entry, seq + 1, prev_hash)
        seq, prev_hash = row.seq, row.entry_hash
        rows.append(row)
    await AuditEntry.bulk_create(rows)
    return rows


def decision_entry(
    decision: Decision, *, object_id: str | None, actor: str | None, label: str | None
) -> NewEntry:
    """The audit entry of a crossing decision, with its reasons (dry-run ones included)."""
    reasons = [
        {
            "rule": reason.rule_id,
            "code": reason.code,
            "message": reason.message,
            "field": reason.field,
            "dry_run": reason.dry_run,
            # What a page needs to show the message in the reader's language.
            **reason.text_fields(),
        }
        for reason in decision.reasons
    ]
    return NewEntry(
        "crossing",
        direction=decision.direction,
        peer=decision.peer,
        object_id=object_id,
        actor=actor,
        label=decision.effective_label or label,
        decision=decision.outcome,
        rule_ids=sorted({r.rule_id for r in decision.reasons if r.rule_id}),
        policy_version=decision.policy_version,
        details={"reasons": reasons},
    )


async def record_decision(
    decision: Decision, *, object_id: str | None, actor: str | None, label: str | None
) -> AuditEntry:
    """Record a crossing decision with its reasons (dry-run ones included)."""
    return await _append_one(
        decision_entry(decision, object_id=object_id, actor=actor, label=label)
    )


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    entries: int
    first_broken: int | None
    message: str


async def verify_chain(batch: int = 1000) -> ChainStatus:
    """Recompute every hash; the first mismatch (or gap) is reported by sequence number."""
    previous = GENESIS
    expected_seq = 1
    count = 0
    async for row in _all_entries(batch):
        if row.seq != expected_seq:
            return ChainStatus(False, count, expected_seq, f"entry {expected_seq} is missing")
        if row.prev_hash != previous:
            return ChainStatus(
                False, count, row.seq, f"entry {row.seq} does not follow entry {row.seq - 1}"
            )
        if chain_hash(row.prev_hash, entry_content(row)) != row.entry_hash:
            return ChainStatus(
                False, count, row.seq, f"entry {row.seq} was altered after it was written"
            )
        previous = row.entry_hash
        expected_seq += 1
        count += 1
    return ChainStatus(True, count, None, f"{count} entries, chain intact")


async def _all_entries(batch: int) -> AsyncIterator[AuditEntry]:
    after = 0
    while True:
        rows = await AuditEntry.filter(seq__gt=after).order_by("seq").limit(batch)
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = rows[-1].seq
