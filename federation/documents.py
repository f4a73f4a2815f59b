"""ActivityStreams documents, WebFinger and NodeInfo of this node: pure serialisers.

Every function here turns model instances the caller has already loaded (and the
node's :class:`~node.site.Site`) into plain JSON-ready dictionaries; nothing reads the
database, the network or the clock.  The URL layout is fixed and other modules rely on
it: actor ``{base}/users/{name}`` with ``/inbox``, ``/outbox``, ``/followers``,
``/following`` and ``#main-key`` below it, posts ``{actor}/posts/{id}`` and their
Create activity ``{post}/activity``, the node's own actor ``{base}/actor``.

Documents meant to be served on their own (actors, notes, activities, collections)
carry :data:`CONTEXT`; objects embedded in an activity are written without one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from federation.vocabulary import (
    AS2_CONTEXT,
    FEDWALL_NAMESPACE,
    PUBLIC,
    SECURITY_V1_CONTEXT,
)
from node.models import Account, KeyPair, Post
from node.site import Site

__all__ = [
    "ACTIVITY_JSON",
    "CONTEXT",
    "JRD_JSON",
    "NODEINFO_2_1_PROFILE",
    "NODEINFO_2_1_REL",
    "PUBLIC",
    "accept_activity",
    "actor_document",
    "addressing",
    "announce_activity",
    "create_activity",
    "delete_activity",
    "follow_activity",
    "host_meta_xrd",
    "iso_datetime",
    "like_activity",
    "node_actor_uri",
    "nodeinfo_document",
    "nodeinfo_links",
    "note_object",
    "ordered_collection",
    "ordered_collection_page",
    "reject_activity",
    "tombstone",
    "undo_activity",
    "update_activity",
    "webfinger_jrd",
]

JsonDict = dict[str, Any]

ACTIVITY_JSON: Final = "application/activity+json"
JRD_JSON: Final = "application/jrd+json"
PROFILE_PAGE_REL: Final = "http://webfinger.net/rel/profile-page"
NODEINFO_2_1_REL: Final = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NODEINFO_2_1_PROFILE: Final = "http://nodeinfo.diaspora.software/ns/schema/2.1#"
SOFTWARE_NAME: Final = "fedwall"

# The inline terms are spelled exactly as Mastodon (and federation.vocabulary) define
# them, so inbound normalisation of our own documents stays on its fast path.
CONTEXT: Final[list[str | JsonDict]] = [
    AS2_CONTEXT,
    SECURITY_V1_CONTEXT,
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "blurhash": "toot:blurhash",
        "ostatus": "http://ostatus.org#",
        "conversation": "ostatus:conversation",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
        "classification": FEDWALL_NAMESPACE + "classification",
    },
]
"""``@context`` of every document this node serves or sends."""


def _context() -> list[str | JsonDict]:
    # A fresh copy per document: callers may mutate what they get back.
    return [entry if isinstance(entry, str) else dict(entry) for entry in CONTEXT]


def iso_datetime(value: dt.datetime) -> str:
    """``value`` as ISO 8601 in UTC with a ``Z`` suffix, to the second (as Mastodon writes it).

    A naive datetime is taken to be UTC already.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _embedded(document: Mapping[str, Any]) -> JsonDict:
    """``document`` without its ``@context``, for embedding in another document."""
    return {key: value for key, value in document.items() if key != "@context"}


def _present(document: JsonDict) -> JsonDict:
    """``document`` without keys whose value is None."""
    return {key: value for key, value in document.items() if value is not None}


def _id_of(value: str | Mapping[str, Any]) -> str:
    if isinstance(value, str):
        return value
    object_id = value.get("id")
    if not isinstance(object_id, str):
        raise ValueError("the object has no id")
    return object_id


# ---------------------------------------------------------------------------
# Actors
# ---------------------------------------------------------------------------


def node_actor_uri(site: Site) -> str:
    """The id of the node's own ``Application`` actor."""
    return f"{site.base_url}/actor"


def actor_document(
    site: Site,
    account: Account,
    key: KeyPair,
    *,
    fields_visible: Iterable[str] | Mapping[str, str] | None = None,
) -> JsonDict:
    """The ActivityStreams actor of a local account (``Person``, or ``Application``).

    ``fields_visible`` limits the profile fields (``attachment``) to those names; a
    mapping also gives the value to show (as the policy left it, e.g. redacted). None
    shows them all.  Field values are escaped, since peers read them as HTML.
    """
    uri = account.uri
    values: Mapping[str, str] | None
    if fields_visible is None or isinstance(fields_visible, Mapping):
        values = fields_visible
    else:
        names = set(fields_visible)
        values = {
            str(f.get("name", "")): str(f.get("value", ""))
            for f in account.profile_fields
            if f.get("name", "") in names
        }
    attachment = [
        {
            "type": "PropertyValue",
            "name": field.get("name", ""),
            "value": html.escape(
                field.get("value", "") if values is None else values[field.get("name", "")]
            ),
        }
        for field in account.profile_fields
        if values is None or field.get("name", "") in values
    ]
    is_person = account.actor_type == "Person"
    document: JsonDict = {
        "@context": _context(),
        "id": uri,
        "type": account.actor_type,
        "preferredUsername": account.username,
        "name": account.display_name or account.username,
        "summary": account.summary_html,
        "url": account.url or site.profile_url(account.username),
        "inbox": account.inbox_url or f"{uri}/inbox",
        "outbox": account.outbox_url or f"{uri}/outbox",
        # The node actor has no social graph; its followers/following stay unset.
        "followers": account.followers_url or (f"{uri}/followers" if is_person else None),
        "following": account.following_url or (f"{uri}/following" if is_person else None),
        "endpoints": {"sharedInbox": account.shared_inbox_url or f"{site.base_url}/inbox"},
        "publicKey": {"id": key.key_id, "owner": uri, "publicKeyPem": key.public_pem},
        "icon": {"type": "Image", "url": account.avatar_url} if account.avatar_url else None,
        "manuallyApprovesFollowers": account.locked,
        "discoverable": is_person,
        "published": iso_datetime(account.created_at) if account.created_at else None,
        "attachment": attachment if is_person else None,
    }
    return _present(document)


# ---------------------------------------------------------------------------
# Notes
# ---------------------------------------------------------------------------


def _followers_of(author: Account) -> str:
    return author.followers_url or f"{author.uri}/followers"


def addressing(
    post: Post, author: Account, mentioned: Sequence[Account]
) -> tuple[list[str], list[str]]:
    """``(to, cc)`` of a post by visibility.  ``node`` posts never leave: ValueError."""
    mentions = list(dict.fromkeys(account.uri for account in mentioned))
    if post.visibility == "public":
        return [PUBLIC], [_followers_of(author), *mentions]
    if post.visibility == "followers":
        return [_followers_of(author)], mentions
    if post.visibility == "direct":
        return mentions, []
    if post.visibility == "node":
        raise ValueError(f"post {post.id} is visible on this node only and is never federated")
    raise ValueError(f"post {post.id} has unknown visibility {post.visibility!r}")


def tombstone(object_id: str, deleted: dt.datetime | None, former_type: str = "Note") -> JsonDict:
    """A ``Tombstone`` standing for a deleted object (without ``@context``)."""
    return _present(
        {
            "id": object_id,
            "type": "Tombstone",
            "formerType": former_type,
            "deleted": iso_datetime(deleted) if deleted else None,
        }
    )


def _mention_tag(site: Site, account: Account) -> JsonDict:
    return {
        "type": "Mention",
        "href": account.uri,
        "name": f"@{account.username}@{account.domain or site.domain}",
    }


def _hashtag(site: Site, name: str) -> JsonDict:
    return {
        "type": "Hashtag",
        "href": f"{site.base_url}/tags/{quote(name, safe='')}",
        "name": f"#{name}",
    }


def _document_attachment(attachment: Mapping[str, str]) -> JsonDict:
    return _present(
        {
            "type": "Document",
            "mediaType": attachment.get("media_type") or None,
            "url": attachment["url"],
            "name": attachment.get("description") or None,
            "blurhash": attachment.get("blurhash") or None,
        }
    )


def note_object(
    site: Site,
    post: Post,
    author: Account,
    mentioned: Sequence[Account],
    tags: Sequence[str],
    in_reply_to_uri: str | None,
) -> JsonDict:
    """The ``Note`` of a post, or its ``Tombstone`` once deleted.

    Raises ValueError for ``node`` posts (deleted or not): they never leave the node.
    """
    to, cc = addressing(post, author, mentioned)
    if post.deleted_at is not None:
        return {"@context": _context(), **tombstone(post.uri, post.deleted_at)}
    note: JsonDict = {
        "@context": _context(),
        "id": post.uri,
        "type": "Note",
        "attributedTo": author.uri,
        "summary": post.summary or None,
        "content": post.content_html,
        "contentMap": {post.language: post.content_html} if post.language else None,
        "sensitive": post.sensitive,
        "published": iso_datetime(post.created_at),
        "updated": iso_datetime(post.edited_at) if post.edited_at else None,
        "url": post.url or post.uri,
        "inReplyTo": in_reply_to_uri,
        "context": post.context,
        "conversation": post.context,
        "classification": post.label,
        "to": to,
        "cc": cc,
        "tag": [_mention_tag(site, account) for account in mentioned]
        + [_hashtag(site, name) for name in tags],
        "attachment": [_document_attachment(a) for a in post.attachments],
    }
    # summary and inReplyTo are written as null, as Mastodon does; other absent values go.
    return {
        key: value
        for key, value in note.items()
        if value is not None or key in ("summary", "inReplyTo")
    }


# ---------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------


def _activity(activity_id: str, kind: str, actor_uri: str, **members: Any) -> JsonDict:
    document: JsonDict = {"@context": _context(), "id": activity_id, "type": kind}
    document["actor"] = actor_uri
    document.update(_present(members))
    return document


def create_activity(note: Mapping[str, Any], actor_uri: str) -> JsonDict:
    """``Create`` of ``note`` with id ``{note id}/activity``, addressed as the note is."""
    note_id = _id_of(note)
    return _activity(
        f"{note_id}/activity",
        "Create",
        actor_uri,
        published=note.get("published"),
        to=list(note.get("to", [])),
        cc=list(note.get("cc", [])),
        object=_embedded(note),
    )


def update_activity(
    document: Mapping[str, Any], actor_uri: str, updated_at: dt.datetime
) -> JsonDict:
    """``Update`` of a note or an actor; its id is unique per update time (to the microsecond).

    A note's addressing is copied; an actor update goes to the public and its followers.
    """
    object_id = _id_of(document)
    if "to" in document or "cc" in document:
        to, cc = list(document.get("to", [])), list(document.get("cc", []))
    else:
        to = [PUBLIC]
        cc = [document["followers"]] if isinstance(document.get("followers"), str) else []
    stamp = int(updated_at.timestamp() * 1_000_000)
    return _activity(
        f"{object_id}#updates/{stamp}",
        "Update",
        actor_uri,
        published=iso_datetime(updated_at),
        to=to,
        cc=cc,
        object=_embedded(document),
    )


def delete_activity(
    object_id: str,
    actor_uri: str,
    to: Sequence[str],
    cc: Sequence[str],
    *,
    former_type: str = "Note",
    deleted: dt.datetime | None = None,
) -> JsonDict:
    """``Delete`` of ``object_id`` (id ``{object_id}#delete``) carrying a Tombstone."""
    return _activity(
        f"{object_id}#delete",
        "Delete",
        actor_uri,
        to=list(to),
        cc=list(cc),
        object=tombstone(object_id, deleted, former_type),
    )


def announce_activity(
    share_uri: str,
    actor_uri: str,
    object_uri: str,
    published: dt.datetime,
    followers_url: str,
    *,
    object_author_uri: str | None = None,
) -> JsonDict:
    """``Announce`` (share) of ``object_uri``: to the public, cc its author and our followers."""
    cc = [object_author_uri] if object_author_uri else []
    cc.append(followers_url)
    return _activity(
        share_uri,
        "Announce",
        actor_uri,
        published=iso_datetime(published),
        to=[PUBLIC],
        cc=cc,
        object=object_uri,
    )


def like_activity(
    like_uri: str, actor_uri: str, object_uri: str, *, to: Sequence[str] = ()
) -> JsonDict:
    """``Like`` of ``object_uri``."""
    return _activity(like_uri, "Like", actor_uri, object=object_uri, to=list(to) or None)


def follow_activity(follow_uri: str, actor_uri: str, target_uri: str) -> JsonDict:
    """``Follow`` of ``target_uri`` by ``actor_uri``."""
    return _activity(follow_uri, "Follow", actor_uri, object=target_uri)


def _answer(
    kind: str,
    actor_uri: str,
    follow: str | Mapping[str, Any],
    activity_id: str | None,
    follower_uri: str | None,
) -> JsonDict:
    follow_id = _id_of(follow)
    if follower_uri is None and not isinstance(follow, str):
        actor = follow.get("actor")
        follower_uri = actor if isinstance(actor, str) else None
    if activity_id is None:
        # Deterministic, so answering the same Follow twice yields the same activity.
        digest = hashlib.sha256(follow_id.encode()).hexdigest()[:32]
        activity_id = f"{actor_uri}#{kind.lower()}s/{digest}"
    return _activity(
        activity_id,
        kind,
        actor_uri,
        to=[follower_uri] if follower_uri else None,
        object=follow if isinstance(follow, str) else _embedded(follow),
    )


def accept_activity(
    actor_uri: str,
    follow: str | Mapping[str, Any],
    *,
    activity_id: str | None = None,
    follower_uri: str | None = None,
) -> JsonDict:
    """``Accept`` of a Follow (given as its document or its id) addressed to the follower.

    Without ``activity_id`` the id is ``{actor}#accepts/{hash of the Follow id}``.
    """
    return _answer("Accept", actor_uri, follow, activity_id, follower_uri)


def reject_activity(
    actor_uri: str,
    follow: str | Mapping[str, Any],
    *,
    activity_id: str | None = None,
    follower_uri: str | None = None,
) -> JsonDict:
    """``Reject`` of a Follow, like :func:`accept_activity` (id ``{actor}#rejects/...``)."""
    return _answer("Reject", actor_uri, follow, activity_id, follower_uri)


def undo_activity(undo_id: str, actor_uri: str, inner: Mapping[str, Any]) -> JsonDict:
    """``Undo`` of ``inner`` (embedded), addressed as ``inner`` was."""
    return _activity(
        undo_id,
        "Undo",
        actor_uri,
        to=list(inner["to"]) if "to" in inner else None,
        cc=list(inner["cc"]) if "cc" in inner else None,
        object=_embedded(inner),
    )


# ---------------------------------------------------------------------------
# Collections
# ---------------------------------------------------------------------------


def ordered_collection(collection_id: str, total: int, first: str | None) -> JsonDict:
    """An ``OrderedCollection`` whose items are paged from ``first``."""
    return _present(
        {
            "@context": _context(),
            "id": collection_id,
            "type": "OrderedCollection",
            "totalItems": total,
            "first": first,
        }
    )


def ordered_collection_page(
    page_id: str,
    part_of: str,
    items: Sequence[str | Mapping[str, Any]],
    next_page: str | None,
    prev_page: str | None,
) -> JsonDict:
    """An ``OrderedCollectionPage`` of ``items`` (ids or documents, newest first)."""
    return _present(
        {
            "@context": _context(),
            "id": page_id,
            "type": "OrderedCollectionPage",
            "partOf": part_of,
            "next": next_page,
            "prev": prev_page,
            "orderedItems": [item if isinstance(item, str) else _embedded(item) for item in items],
        }
    )


# ---------------------------------------------------------------------------
# Discovery: WebFinger, host-meta, NodeInfo
# ---------------------------------------------------------------------------


def webfinger_jrd(site: Site, account: Account) -> JsonDict:
    """The WebFinger JRD (RFC 7033) of a local account or of the node actor."""
    profile = account.url or site.profile_url(account.username)
    return {
        "subject": f"acct:{account.username}@{site.domain}",
        "aliases": list(dict.fromkeys([account.uri, profile])),
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": account.uri},
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile},
        ],
    }


def host_meta_xrd(site: Site) -> str:
    """The ``/.well-known/host-meta`` XRD, pointing clients to WebFinger."""
    template = quoteattr(f"{site.base_url}/.well-known/webfinger?resource={{uri}}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template={template}/>\n'
        "</XRD>\n"
    )


def nodeinfo_links(site: Site) -> JsonDict:
    """The ``/.well-known/nodeinfo`` document."""
    return {"links": [{"rel": NODEINFO_2_1_REL, "href": f"{site.base_url}/nodeinfo/2.1"}]}


def nodeinfo_document(
    site: Site,
    users_total: int,
    active_month: int,
    active_halfyear: int,
    local_posts: int,
    version: str,
) -> JsonDict:
    """NodeInfo 2.1 of this node.  Registrations are never open: accounts are provisioned."""
    return {
        "version": "2.1",
        "software": {"name": SOFTWARE_NAME, "version": version},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {
            "users": {
                "total": users_total,
                "activeMonth": active_month,
                "activeHalfyear": active_halfyear,
            },
            "localPosts": local_posts,
        },
        "metadata": {"nodeName": site.domain},
    }
