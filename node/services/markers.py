"""Read markers: where an account stopped reading its home timeline and notifications."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from tortoise.expressions import F

from node.errors import ValidationError
from node.models import Account, Marker
from node.translatable import translatable

TIMELINES = ("home", "notifications")


async def markers_of(account: Account, timelines: Iterable[str] = TIMELINES) -> list[Marker]:
    wanted = [t for t in timelines if t in TIMELINES]
    return await Marker.filter(account_id=account.id, timeline__in=wanted).order_by("timeline")


async def save(account: Account, timeline: str, last_read_id: int) -> Marker:
    """Move a marker (created on first use); each move increases its version."""
    if timeline not in TIMELINES:
        raise ValidationError(
            translatable("unknown timeline {timeline!r}: use one of {choices}"),
            timeline=timeline,
            choices=", ".join(TIMELINES),
        )
    marker, created = await Marker.get_or_create(
        account_id=account.id, timeline=timeline, defaults={"last_read_id": last_read_id}
    )
    if not created:
        await Marker.filter(id=marker.id).update(
            last_read_id=last_read_id, version=F("version") + 1, updated_at=dt.datetime.now(dt.UTC)
        )
        await marker.refresh_from_db()
    return marker
