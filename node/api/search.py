"""``GET /api/v2/search``: accounts (remote ones via WebFinger), statuses by URL, hashtags.

Remote handles are resolved only for signed-in callers with ``resolve=true``,
through the node's resolver (the federation layer, which applies the boundary
policy). Statuses are found by their URI or URL among those this node stores;
full-text search of statuses is not offered.
"""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q

from node.api.accounts import search_accounts
from node.api.entities import StatusRenderer, account_entity, tag_entity
from node.api.errors import ApiError
from node.api.routing import Call, Router
from node.models import Account, Post, PostTag
from node.services.visibility import is_visible

router = Router()

TYPES = ("accounts", "statuses", "hashtags")
MAX_LIMIT = 40


async def find_statuses(viewer: Account | None, query: str) -> list[Post]:
    if not query.startswith(("https://", "http://")):
        return []
    found = await Post.filter(Q(uri=query) | Q(url=query), deleted_at=None).prefetch_related(
        "author"
    )
    return [p for p in found if await is_visible(p, viewer)]


async def find_hashtags(query: str, limit: int, offset: int) -> list[str]:
    term = query.strip().lstrip("#").lower()
    if not term or not term.replace("_", "").isalnum():
        return []
    names = (
        await PostTag.filter(name__startswith=term)
        .distinct()
        .order_by("name")
        .offset(offset)
        .limit(limit)
        .values_list("name", flat=True)
    )
    return [str(n) for n in names]


@router.get("/api/v2/search", access="public", scope="read:search")
async def search(call: Call) -> Any:
    params = call.params
    query = (params.text("q") or "").strip()
    kind = params.text("type")
    if kind is not None and kind not in TYPES:
        raise ApiError(422, f"Validation failed: type must be one of {', '.join(TYPES)}")
    limit = max(1, min(params.integer("limit", 20) or 20, MAX_LIMIT))
    offset = max(0, params.integer("offset", 0) or 0)
    if offset and call.viewer is None:
        raise ApiError(401, "Search queries with offset need an authenticated user")
    result: dict[str, list[Any]] = {"accounts": [], "statuses": [], "hashtags": []}
    if not query:
        return result
    if kind in (None, "accounts"):
        found = await search_accounts(
            call,
            query,
            resolve=params.flag("resolve"),
            following=params.flag("following"),
            limit=limit,
            offset=offset,
        )
        result["accounts"] = [account_entity(call.site, a) for a in found]
    if kind in (None, "statuses") and offset == 0:
        posts = await find_statuses(call.viewer, query)
        result["statuses"] = await StatusRenderer(call.site, call.viewer).render(posts[:limit])
    if kind in (None, "hashtags"):
        names = await find_hashtags(query, limit, offset)
        result["hashtags"] = [tag_entity(call.site, n) for n in names]
    return result
