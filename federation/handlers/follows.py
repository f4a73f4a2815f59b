"""Follow, Accept, Reject (and Undo of Follow, via reactions.handle_undo)."""

from __future__ import annotations

from typing import Any

from federation.handlers.context import HandlerContext
from federation.vocabulary import id_of
from node.models import Account, Follow
from node.services import remote


async def _local_account(context: HandlerContext, uri: str | None) -> Account | None:
    if uri is None or not context.is_local(uri):
        return None
    return await Account.get_or_none(uri=uri, domain="", disabled=False)


async def handle_follow(context: HandlerContext, activity: dict[str, Any]) -> str:
    target = await _local_account(context, id_of(activity.get("object")))
    if target is None:
        return "unhandled: Follow of an account that is not on this node"
    follower = await context.actor(activity)
    await remote.receive_follow(context.site, follower, target, activity["id"])
    return "processed"


async def _our_follow(context: HandlerContext, activity: dict[str, Any]) -> Follow | None:
    """The local account's follow that an Accept/Reject answers (by id, or by its parts)."""
    inner = activity.get("object")
    follow_id = id_of(inner)
    followee = await context.actor(activity)
    relation = None
    if follow_id is not None and context.is_local(follow_id):
        relation = await Follow.get_or_none(uri=follow_id, followee_id=followee.id)
    if relation is None and isinstance(inner, dict):
        # Some servers answer with the Follow embedded but its id dropped.
        follower = await _local_account(context, id_of(inner.get("actor")))
        if follower is not None:
            relation = await Follow.get_or_none(follower_id=follower.id, followee_id=followee.id)
    return relation


async def handle_accept(context: HandlerContext, activity: dict[str, Any]) -> str:
    relation = await _our_follow(context, activity)
    if relation is None:
        return "unhandled: Accept of nothing we asked for"
    await remote.follow_accepted(context.site, relation)
    return "processed"


async def handle_reject(context: HandlerContext, activity: dict[str, Any]) -> str:
    relation = await _our_follow(context, activity)
    if relation is None:
        return "unhandled: Reject of nothing we asked for"
    await remote.follow_ended(context.site, relation)
    return "processed"
