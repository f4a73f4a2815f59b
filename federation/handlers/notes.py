"""Create, Update and Delete of posts (and Update/Delete of actors)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from federation.errors import FederationError
from federation.handlers.context import HandlerContext, HandlerError
from federation.vocabulary import (
    PUBLIC,
    as_list,
    attachments,
    audience,
    content_of,
    hashtags,
    id_of,
    mentions,
    object_origin_ok,
)
from node.models import Account, Post
from node.services import remote
from node.services.content import sanitize_html

log = logging.getLogger(__name__)

POST_TYPES = {"Note", "Article", "Page", "Question"}
ACTOR_TYPES = {"Person", "Service", "Application", "Group", "Organization"}
CLASSIFICATION = "classification"
MAX_REPLY_DEPTH = 3
MAX_PARTICIPANTS = 20


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def visibility_of(obj: dict[str, Any], author: Account) -> str:
    """Fedwall's visibility for an object as addressed by its author."""
    addressed = audience(obj)
    if PUBLIC in addressed:
        return "public"
    if author.followers_url and author.followers_url in addressed:
        return "followers"
    return "direct"


def _on_this_node(context: HandlerContext, uri: str) -> bool:
    try:
        return context.is_local(uri)
    except ValueError:  # not a URL: no account here has it as its id
        return False


async def note_from_object(
    context: HandlerContext, obj: dict[str, Any], author: Account
) -> remote.RemoteNote:
    """Interpret a remote post object; everything from the peer is sanitised here."""
    html, language = content_of(obj)
    # Local accounts have ids on this node's origin: most posts address none of them.
    addressed = [uri for uri in audience(obj) | set(mentions(obj)) if _on_this_node(context, uri)]
    local_mentioned = (
        await Account.filter(uri__in=addressed, domain="", disabled=False) if addressed else []
    )
    mentioned = list(set(mentions(obj)))
    remote_mentioned = (
        await Account.filter(uri__in=mentioned).exclude(domain="") if mentioned else []
    )
    visibility = visibility_of(obj, author)
    if visibility == "direct" and local_mentioned:
        remote_mentioned.extend(
            await _other_participants(context, obj, author, [*local_mentioned, *remote_mentioned])
        )
    label = obj.get(CLASSIFICATION)
    summary = obj.get("summary")
    return remote.RemoteNote(
        uri=obj["id"],
        url=id_of(as_list(obj.get("url"))[0]) if obj.get("url") else None,
        visibility=visibility,
        label=label
        if isinstance(label, str) and label in context.site.labels
        else context.site.default_label,
        content_html=sanitize_html(html or ""),
        summary=summary[:500] if isinstance(summary, str) else "",
        sensitive=bool(obj.get("sensitive")),
        language=language[:16] if language else None,
        in_reply_to_uri=id_of(obj.get("inReplyTo")),
        context=id_of(obj.get("context")) or id_of(obj.get("conversation")),
        attachments=[
            {
                k: str(v)
                for k, v in item.items()
                if v is not None and k in ("url", "media_type", "description", "blurhash")
            }
            for item in attachments(obj)
        ][:8],
        published=_time(obj.get("published")),
        updated=_time(obj.get("updated")),
        mentioned=[*local_mentioned, *remote_mentioned],
        tags=[tag.lower()[:100] for tag in hashtags(obj)][:20],
    )


async def _other_participants(
    context: HandlerContext, obj: dict[str, Any], author: Account, known: list[Account]
) -> list[Account]:
    """Participants of a direct message on third nodes that this node has not met yet.

    A local member's reply must address everyone in the conversation, so they are
    resolved now (bounded; one that cannot be resolved is left out and logged).
    """
    seen = {a.uri for a in known} | {author.uri}
    unknown = [u for u in dict.fromkeys(mentions(obj)) if u not in seen and not context.is_local(u)]
    found = []
    for uri in unknown[:MAX_PARTICIPANTS]:
        try:
            found.append(await context.resolve(uri))
        except FederationError as exc:
            log.info("could not resolve participant %s: %s", uri, exc.reason)
    return found


async def _concerns_this_node(
    context: HandlerContext, note: remote.RemoteNote, author: Account
) -> bool:
    """Only posts someone here follows, is addressed by, or that answer a post here are kept."""
    if any(a.is_local for a in note.mentioned):
        return True
    if note.in_reply_to_uri and await Post.filter(uri=note.in_reply_to_uri).exists():
        return True
    # A pending follow counts: the author's node may deliver before its Accept arrives.
    return bool(await context.local_followers(author))


async def store_object(
    context: HandlerContext,
    obj: dict[str, Any],
    author: Account,
    *,
    depth: int = 0,
    force: bool = False,
) -> Post | None:
    """Store a remote post object (fetching its parent when unknown, within a budget)."""
    if obj.get("type") not in POST_TYPES:
        raise HandlerError(f"object type {obj.get('type')!r} is not a post")
    if not object_origin_ok(author.uri, obj["id"]):
        raise HandlerError("the object id is not on its author's origin")
    if id_of(obj.get("attributedTo")) not in (None, author.uri):
        raise HandlerError("the object is attributed to another actor")
    existing = await context.stored_post(obj["id"])
    if existing is not None:
        return existing
    note = await note_from_object(context, obj, author)
    if not force and not await _concerns_this_node(context, note, author):
        return None
    parent_uri = note.in_reply_to_uri
    if parent_uri and depth < MAX_REPLY_DEPTH and not await Post.filter(uri=parent_uri).exists():
        await _fetch_parent(context, parent_uri, depth)
    followers = [i for i, state in await context.local_followers(author) if state == "accepted"]
    # Checked above, in the same transaction as the insert when the processor runs it.
    post = await remote.insert_remote_post(context.site, author, note, followers=followers)
    context.post_stored(post.uri)
    return post


async def _fetch_parent(context: HandlerContext, uri: str, depth: int) -> None:
    if context.is_local(uri):
        return
    try:
        parent = await context.fetch_object(uri)
        parent_author = await context.resolve(id_of(parent.get("attributedTo")) or "")
        await store_object(context, parent, parent_author, depth=depth + 1, force=True)
    except FederationError as exc:
        # The reply is kept without its parent; the thread fills in if it arrives later.
        log.info("could not fetch parent %s: %s", uri, exc.reason)


async def handle_create(context: HandlerContext, activity: dict[str, Any]) -> str:
    obj = activity.get("object")
    if not isinstance(obj, dict):
        return "unhandled: Create without an embedded object"
    if obj.get("type") not in POST_TYPES:
        return f"unhandled: Create of {obj.get('type')!r}"
    author = await context.actor(activity)
    post = await store_object(context, obj, author)
    return "processed" if post is not None else "unhandled: not addressed to anyone on this node"


async def handle_update(context: HandlerContext, activity: dict[str, Any]) -> str:
    obj = activity.get("object")
    if not isinstance(obj, dict):
        return "unhandled: Update without an embedded object"
    actor_uri = id_of(activity.get("actor"))
    if obj.get("type") in ACTOR_TYPES:
        if obj.get("id") != actor_uri:
            raise HandlerError("an actor may only update itself")
        # Refetch rather than trust the embedded copy (it may be partial).
        await context.resolve(actor_uri or "", refresh=True)
        return "processed"
    if obj.get("type") not in POST_TYPES:
        return f"unhandled: Update of {obj.get('type')!r}"
    post = await Post.get_or_none(uri=obj["id"]).prefetch_related("author")
    if post is None:
        return "unhandled: Update of a post this node does not have"
    if post.author.uri != actor_uri:
        raise HandlerError("only the author may update a post")
    note = await note_from_object(context, obj, post.author)
    await remote.update_remote_post(context.site, post, note)
    return "processed"


async def handle_delete(context: HandlerContext, activity: dict[str, Any]) -> str:
    target = id_of(activity.get("object"))
    actor_uri = id_of(activity.get("actor"))
    if target is None:
        return "unhandled: Delete of nothing"
    if target == actor_uri:
        account = await Account.get_or_none(uri=actor_uri)
        if account is None or account.is_local:
            return "unhandled: Delete of an unknown actor"
        await remote.remove_actor(context.site, account)
        return "processed"
    post = await Post.get_or_none(uri=target).prefetch_related("author")
    if post is None or post.deleted_at is not None:
        return "processed"  # nothing to delete: already gone or never seen
    if post.author.uri != actor_uri:
        raise HandlerError("only the author may delete a post")
    await remote.delete_remote_post(context.site, post)
    return "processed"
