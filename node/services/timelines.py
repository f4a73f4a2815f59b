"""Home timelines, walls, the node timeline and hashtag timelines — all keyset-paginated."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import Subquery

from node.models import Account, Follow, Post, PostTag, Share, TimelineEntry
from node.services.pagination import Page, PageRequest, make_page, paginate


@dataclass(frozen=True)
class TimelineItem:
    """A post as a timeline shows it; ``share`` set when it appears because someone shared it."""

    post: Post
    share: Share | None = None

    @property
    def status_id(self) -> int:
        return self.share.id if self.share else self.post.id


async def home(viewer: Account, page: PageRequest) -> Page[TimelineItem]:
    """The viewer's own posts and those of accounts it follows, newest first."""
    query = TimelineEntry.filter(owner_id=viewer.id, post__deleted_at=None).prefetch_related(
        "post__author", "share__account"
    )
    rows, _ = await paginate(query, "status_id", page)
    return make_page([TimelineItem(r.post, r.share) for r in rows], [r.status_id for r in rows])


def _wall_visibilities(viewer: Account | None, author: Account, follows: bool) -> list[str]:
    if viewer is not None and viewer.id == author.id:
        return ["public", "node", "followers"]
    allowed = ["public"]
    if viewer is not None and viewer.is_local:
        allowed.append("node")
    if follows:
        allowed.append("followers")
    return allowed


async def wall(viewer: Account | None, author: Account, page: PageRequest) -> Page[TimelineItem]:
    """One account's posts that ``viewer`` may see (direct messages never appear on walls)."""
    follows = (
        viewer is not None
        and await Follow.filter(
            follower_id=viewer.id, followee_id=author.id, state="accepted"
        ).exists()
    )
    query = Post.filter(
        author_id=author.id,
        deleted_at=None,
        visibility__in=_wall_visibilities(viewer, author, follows),
    ).prefetch_related("author")
    rows, _ = await paginate(query, "id", page)
    return make_page([TimelineItem(p) for p in rows], [p.id for p in rows])


async def node_timeline(viewer: Account | None, page: PageRequest) -> Page[TimelineItem]:
    """Posts by this node's people: public ones, and node-only ones for signed-in locals."""
    allowed = ["public", "node"] if viewer is not None and viewer.is_local else ["public"]
    query = Post.filter(local=True, deleted_at=None, visibility__in=allowed).prefetch_related(
        "author"
    )
    rows, _ = await paginate(query, "id", page)
    return make_page([TimelineItem(p) for p in rows], [p.id for p in rows])


async def public_timeline(
    viewer: Account | None, page: PageRequest, *, local: bool = False, remote: bool = False
) -> Page[TimelineItem]:
    """Public posts known to this node (``local``: only this node's; ``remote``: only others')."""
    query = Post.filter(deleted_at=None, visibility="public").prefetch_related("author")
    if local:
        query = query.filter(local=True)
    elif remote:
        query = query.filter(local=False)
    rows, _ = await paginate(query, "id", page)
    return make_page([TimelineItem(p) for p in rows], [p.id for p in rows])


async def tag_timeline(viewer: Account | None, tag: str, page: PageRequest) -> Page[TimelineItem]:
    """Posts with ``#tag`` that ``viewer`` may see on a public or node-wide basis."""
    allowed = ["public", "node"] if viewer is not None and viewer.is_local else ["public"]
    post_ids = Subquery(
        PostTag.filter(name=tag.lower().lstrip("#")).values_list("post_id", flat=True)
    )
    query = Post.filter(id__in=post_ids, deleted_at=None, visibility__in=allowed).prefetch_related(
        "author"
    )
    rows, _ = await paginate(query, "id", page)
    return make_page([TimelineItem(p) for p in rows], [p.id for p in rows])
