"""Like, Announce, and Undo of Like/Announce/Follow."""

from __future__ import annotations

from typing import Any

from federation.errors import FederationError
from federation.handlers.context import HandlerContext
from federation.handlers.notes import store_object
from federation.vocabulary import id_of
from node.models import Account, Follow, Like, Post, Share
from node.services import remote
from node.services.visibility import SHAREABLE_VISIBILITIES


async def handle_like(context: HandlerContext, activity: dict[str, Any]) -> str:
    target = id_of(activity.get("object"))
    post = await Post.get_or_none(uri=target or "", deleted_at=None)
    if post is None:
        return "unhandled: Like of a post this node does not have"
    if post.visibility not in ("public", "followers", "direct"):
        return "rejected: Like of a post that never left this node"
    account = await context.actor(activity)
    await remote.receive_like(context.site, account, post, activity["id"])
    return "processed"


async def handle_announce(context: HandlerContext, activity: dict[str, Any]) -> str:
    target = id_of(activity.get("object"))
    if target is None:
        return "unhandled: Announce of nothing"
    account = await context.actor(activity)
    post = await Post.get_or_none(uri=target, deleted_at=None)
    if post is None and not context.is_local(target):
        followed = await Follow.filter(
            followee_id=account.id, state="accepted", follower__domain=""
        ).exists()
        if not followed:
            return "unhandled: Announce by an actor nobody here follows"
        try:
            obj = await context.fetch_object(target)
            author = await context.resolve(id_of(obj.get("attributedTo")) or "")
            post = await store_object(context, obj, author, force=True)
        except FederationError as exc:
            return f"unhandled: shared post could not be fetched ({exc.reason})"
    if post is None:
        return "unhandled: Announce of a post this node does not have"
    if post.visibility not in SHAREABLE_VISIBILITIES:
        return "rejected: Announce of a post that is not public"
    await remote.receive_share(context.site, account, post, activity["id"])
    return "processed"


async def handle_undo(context: HandlerContext, activity: dict[str, Any]) -> str:
    inner = activity.get("object")
    inner_id = id_of(inner)
    actor = await context.actor(activity)
    inner_type = inner.get("type") if isinstance(inner, dict) else None
    if inner_id is None:
        return "unhandled: Undo of nothing"
    if inner_type in (None, "Follow"):
        relation = await Follow.get_or_none(uri=inner_id, follower_id=actor.id)
        if relation is None and isinstance(inner, dict):
            target = await Account.get_or_none(uri=id_of(inner.get("object")) or "", domain="")
            if target is not None:
                relation = await Follow.get_or_none(follower_id=actor.id, followee_id=target.id)
        if relation is not None:
            await remote.follow_ended(context.site, relation)
            return "processed"
    if inner_type in (None, "Like"):
        like = await Like.get_or_none(uri=inner_id, account_id=actor.id)
        if like is not None:
            await remote.remove_like(context.site, like)
            return "processed"
    if inner_type in (None, "Announce"):
        shared = await Share.get_or_none(uri=inner_id, account_id=actor.id)
        if shared is not None:
            await remote.remove_share(context.site, shared)
            return "processed"
    return "processed"  # undoing something we never had leaves nothing to do
