"""Timelines (home, public, hashtag) and the saved lists (bookmarks, favourites).

``public?local=true`` is the node's own timeline: its public posts and, for
people of the node, its node-only posts (shown as ``unlisted``). The
federated ``public`` timeline and ``remote=true`` hold public posts only.
"""

from __future__ import annotations

from typing import Any

from node.api.entities import StatusRenderer
from node.api.routing import Call, Paged, Router
from node.models import Post, Share
from node.services import bookmarks, reactions, timelines
from node.services.pagination import Page
from node.services.timelines import TimelineItem

router = Router()


async def paged_statuses(call: Call, page: Page[TimelineItem] | Page[Post], limit: int) -> Paged:
    items: list[Post | Share | TimelineItem] = list(page.items)
    statuses = await StatusRenderer(call.site, call.viewer).render(items)
    return Paged(statuses, page.next_max_id, page.prev_min_id, limit)


@router.get("/api/v1/timelines/home", scope="read:statuses")
async def home(call: Call) -> Any:
    page = call.params.page()
    return await paged_statuses(call, await timelines.home(call.user, page), page.bounded_limit)


@router.get("/api/v1/timelines/public", access="public", scope="read:statuses")
async def public(call: Call) -> Any:
    page = call.params.page()
    if call.params.flag("local"):
        result = await timelines.node_timeline(call.viewer, page)
    else:
        result = await timelines.public_timeline(
            call.viewer, page, remote=call.params.flag("remote")
        )
    return await paged_statuses(call, result, page.bounded_limit)


@router.get("/api/v1/timelines/tag/<hashtag>", access="public", scope="read:statuses")
async def tag(call: Call, hashtag: str) -> Any:
    page = call.params.page()
    result = await timelines.tag_timeline(call.viewer, hashtag, page)
    return await paged_statuses(call, result, page.bounded_limit)


@router.get("/api/v1/bookmarks", scope="read:bookmarks")
async def bookmarked(call: Call) -> Any:
    page = call.params.page()
    return await paged_statuses(
        call, await bookmarks.bookmarked(call.user, page), page.bounded_limit
    )


@router.get("/api/v1/favourites", scope="read:favourites")
async def favourites(call: Call) -> Any:
    page = call.params.page()
    return await paged_statuses(
        call, await reactions.liked_posts(call.user, page), page.bounded_limit
    )
