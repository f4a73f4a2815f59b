"""Who may see a post: one pure rule, and its async front for services."""

from __future__ import annotations

from dataclasses import dataclass

from node.models import Account, Follow, Mention, Post

VISIBILITIES = ("public", "node", "followers", "direct")
# Visibilities that may leave the node at all; ``node`` never does.
FEDERATED_VISIBILITIES = ("public", "followers", "direct")
SHAREABLE_VISIBILITIES = ("public", "node")


@dataclass(frozen=True)
class Relation:
    """How a viewer stands to a post's author and the post."""

    is_author: bool
    viewer_is_local: bool
    follows_author: bool
    is_mentioned: bool
    signed_in: bool


def can_view(visibility: str, deleted: bool, relation: Relation) -> bool:
    """The visibility rule of Fedwall.

    - ``public``: everyone; ``node``: people signed in on this node;
    - ``followers``: the author's accepted followers and the people it mentions;
    - ``direct``: the people it mentions; and the author always.
    """
    if deleted:
        return False
    if relation.is_author:
        return True
    if visibility == "public":
        return True
    if visibility == "node":
        return relation.signed_in and relation.viewer_is_local
    if visibility == "followers":
        return relation.follows_author or relation.is_mentioned
    if visibility == "direct":
        return relation.is_mentioned
    return False


async def relation_to(post: Post, viewer: Account | None) -> Relation:
    """Look up how ``viewer`` (None: anonymous) stands to ``post``."""
    if viewer is None:
        return Relation(False, False, False, False, False)
    author_id: int = post.author_id  # type: ignore[attr-defined]
    if viewer.id == author_id:
        return Relation(True, viewer.is_local, False, False, True)
    needs_relations = post.visibility in ("followers", "direct")
    follows = (
        needs_relations
        and await Follow.filter(
            follower_id=viewer.id, followee_id=author_id, state="accepted"
        ).exists()
    )
    mentioned = (
        needs_relations and await Mention.filter(post_id=post.id, account_id=viewer.id).exists()
    )
    return Relation(False, viewer.is_local, follows, mentioned, True)


async def is_visible(post: Post, viewer: Account | None) -> bool:
    return can_view(post.visibility, post.deleted_at is not None, await relation_to(post, viewer))
