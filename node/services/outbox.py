"""The transactional outbox: changes to federate, written with the change itself.

Call :func:`record` inside the transaction that makes the change; the
federation worker reads unprocessed events in id order. A crash after commit
can therefore never lose the federation of a committed change.
"""

from __future__ import annotations

from typing import Any

from node.models import OutboxEvent

# After committing an outbox event, services publish on this broker key so the
# federation worker wakes at once instead of at its next poll.
WAKE_KEY = "outbox"

KINDS = (
    "post.created",
    "post.updated",
    "post.deleted",
    "like.created",
    "like.deleted",
    "share.created",
    "share.deleted",
    "follow.created",
    "follow.accepted",
    "follow.rejected",
    "follow.deleted",
    "account.updated",
)


async def record(kind: str, **payload: Any) -> OutboxEvent:
    """Add an event; must run inside the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox event kind {kind!r}")
    return await OutboxEvent.create(kind=kind, payload=payload)
