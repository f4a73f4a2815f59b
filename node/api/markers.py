"""Read markers for the home timeline and notifications, shared between a person's apps."""

from __future__ import annotations

from typing import Any

from node.api.entities import iso
from node.api.errors import ApiError
from node.api.routing import Call, Router
from node.models import Marker
from node.services import markers

router = Router()


def marker_entity(marker: Marker) -> dict[str, Any]:
    return {
        "last_read_id": str(marker.last_read_id),
        "version": marker.version,
        "updated_at": iso(marker.updated_at),
    }


@router.get("/api/v1/markers", scope="read:statuses")
async def get_markers(call: Call) -> Any:
    wanted = call.params.strings("timeline") or list(markers.TIMELINES)
    found = await markers.markers_of(call.user, wanted)
    return {m.timeline: marker_entity(m) for m in found}


@router.post("/api/v1/markers", scope="write:statuses")
async def save_markers(call: Call) -> Any:
    """Move the markers given as ``home[last_read_id]`` / ``notifications[last_read_id]``."""
    saved = {}
    for timeline in markers.TIMELINES:
        raw = call.params.obj(timeline).get("last_read_id")
        if raw is None:
            continue
        if not str(raw).isdigit():
            raise ApiError(422, f"Validation failed: {timeline}.last_read_id must be an id")
        saved[timeline] = marker_entity(await markers.save(call.user, timeline, int(raw)))
    return saved
