"""Reading the audit log: pages for the admin API, and a full export as JSON-ready dicts.

Each dict is one entry with every column, hashes included, so that an exported
file can be checked against the chain (:func:`node.services.audit.chain_hash`
over the entry without its two hash fields).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from tortoise.queryset import QuerySet

from node.models import AuditEntry
from node.services.audit import entry_content

EXPORT_BATCH = 1000
MAX_PAGE = 200


def entry_dict(row: AuditEntry) -> dict[str, Any]:
    """One entry as plain JSON data (``created_at`` in ISO 8601, UTC)."""
    return {**entry_content(row), "prev_hash": row.prev_hash, "entry_hash": row.entry_hash}


def _filtered(
    since: dt.datetime | None, peer: str | None, kind: str | None = None
) -> QuerySet[AuditEntry]:
    query = AuditEntry.all()
    if since is not None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        query = query.filter(created_at__gte=since)
    if peer is not None:
        query = query.filter(peer_domain=peer.strip().lower())
    if kind is not None:
        query = query.filter(kind=kind)
    return query


async def export(
    since: dt.datetime | None = None, peer: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every entry written at or after ``since`` and concerning ``peer`` (when given), in
    chain order, read in batches so that a large log never sits in memory at once."""
    after = 0
    while True:
        rows = (
            await _filtered(since, peer).filter(seq__gt=after).order_by("seq").limit(EXPORT_BATCH)
        )
        for row in rows:
            yield entry_dict(row)
        if len(rows) < EXPORT_BATCH:
            return
        after = rows[-1].seq


async def page(
    *,
    before: int | None = None,
    limit: int = 50,
    peer: str | None = None,
    kind: str | None = None,
    since: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Newest entries first, older than sequence number ``before`` when given."""
    query = _filtered(since, peer, kind)
    if before is not None:
        query = query.filter(seq__lt=before)
    rows = await query.order_by("-seq").limit(max(1, min(limit, MAX_PAGE)))
    return [entry_dict(row) for row in rows]
