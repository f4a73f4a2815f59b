"""Bookmarks: posts an account keeps for later. Private to the account; never federated."""

from __future__ import annotations

from node.models import Account, Bookmark, Post
from node.services.pagination import Page, PageRequest, make_page, paginate
from node.services.posts import get_visible_post


async def bookmark(account: Account, post_id: int) -> Post:
    """Bookmark a post ``account`` can see. Idempotent."""
    post = await get_visible_post(account, post_id)
    await Bookmark.get_or_create(account_id=account.id, post_id=post.id)
    return post


async def unbookmark(account: Account, post_id: int) -> Post:
    post = await get_visible_post(account, post_id)
    await Bookmark.filter(account_id=account.id, post_id=post.id).delete()
    return post


async def bookmarked(account: Account, page: PageRequest) -> Page[Post]:
    """Bookmarked posts that still exist, most recently bookmarked first (paged by bookmark id)."""
    query = Bookmark.filter(account_id=account.id, post__deleted_at=None).prefetch_related(
        "post__author"
    )
    rows, _ = await paginate(query, "id", page)
    return make_page([row.post for row in rows], [row.id for row in rows])
