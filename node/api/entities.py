"""Mastodon's entities (Account, Status, Notification, Relationship, …) built from Fedwall rows.

Field names and types follow Mastodon's documented entities: ids are strings,
times ISO 8601 with milliseconds and ``Z``, optional fields Fedwall does not
have are null or empty as Mastodon allows. Statuses are rendered in batches
(:class:`StatusRenderer`) so a page of 40 costs a handful of queries.

Visibility: Fedwall has ``public``, ``node`` (people signed in on this node),
``followers`` and ``direct``. They are shown as Mastodon's ``public``,
``unlisted``, ``private`` and ``direct``; the exact value is in the status's
``fedwall`` object. A client that replies with the visibility it was shown
therefore never widens the audience of a node-only thread.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any, cast

from node.models import Account, Bookmark, Follow, Like, Mention, Notification, Post, PostTag, Share
from node.services.content import html_to_text, sanitize_html
from node.services.policy import shares_with
from node.services.timelines import TimelineItem
from node.site import Site

# Fedwall visibility -> the Mastodon value shown to clients.
MASTODON_VISIBILITY = {
    "public": "public",
    "node": "unlisted",
    "followers": "private",
    "direct": "direct",
}
# What clients may send -> Fedwall visibility. Mastodon's four values, Fedwall's
# own names, and Akkoma's ``local`` for node-only posts.
VISIBILITY_FROM_CLIENT = {
    "public": "public",
    "unlisted": "node",
    "private": "followers",
    "direct": "direct",
    "node": "node",
    "local": "node",
    "followers": "followers",
}
MISSING_AVATAR_PATH = "/avatars/original/missing.png"
Json = dict[str, Any]


def fk(row: Any, name: str) -> int | None:
    """A foreign-key id column (``author_id``, …) that Tortoise adds at run time."""
    value = getattr(row, f"{name}_id", None)
    return int(value) if value is not None else None


def iso(moment: dt.datetime | None) -> str | None:
    """Mastodon's time format: ``2024-05-01T12:30:00.123Z``."""
    if moment is None:
        return None
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_date(moment: dt.datetime) -> str:
    """An account's ``created_at``: Mastodon shows the day only, at midnight UTC."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT00:00:00.000Z")


def acct_of(account: Account) -> str:
    return account.username if account.is_local else f"{account.username}@{account.domain}"


#: True while answering a call without a signed-in person (anonymous, or an app token):
#: local people's profile fields are then limited to those they share with every node.
#: The API's router and the streaming sessions set it; outside them it fails closed.
ANONYMOUS_READER: ContextVar[bool] = ContextVar("anonymous_reader", default=True)


def account_entity(site: Site, account: Account) -> Json:
    """Mastodon's Account entity."""
    avatar = account.avatar_url or site.base_url + MISSING_AVATAR_PATH
    shown = account.profile_fields
    if account.is_local and ANONYMOUS_READER.get():
        shown = [item for item in shown if shares_with(item, None)]
    fields = [
        {
            "name": html.escape(str(item.get("name", ""))),
            "value": html.escape(str(item.get("value", "")))
            if account.is_local
            else sanitize_html(str(item.get("value", ""))),
            "verified_at": None,
        }
        for item in shown
    ]
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": acct_of(account),
        "display_name": account.display_name,
        "locked": account.locked,
        "bot": account.actor_type in ("Service", "Application"),
        "discoverable": account.is_local,
        "indexable": False,
        "group": account.actor_type == "Group",
        "created_at": iso_date(account.created_at),
        "note": account.summary_html,
        "url": account.url or account.uri,
        "uri": account.uri,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": site.base_url + "/headers/original/missing.png",
        "header_static": site.base_url + "/headers/original/missing.png",
        "followers_count": account.followers_count,
        "following_count": account.following_count,
        "statuses_count": account.posts_count,
        "last_status_at": None,
        "hide_collections": False,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": fields,
    }


def credential_account_entity(site: Site, account: Account, follow_requests: int) -> Json:
    """The CredentialAccount entity: the account plus its editable ``source``."""
    entity = account_entity(site, account)
    entity["source"] = {
        "privacy": "public",
        "sensitive": False,
        "language": None,
        "note": html_to_text(account.summary_html),
        "fields": [
            {"name": f.get("name", ""), "value": f.get("value", ""), "verified_at": None}
            for f in account.profile_fields
        ],
        "follow_requests_count": follow_requests,
    }
    entity["role"] = {
        "id": "1" if account.is_admin else "0",
        "name": "Admin" if account.is_admin else "",
        "color": "",
        "permissions": "1" if account.is_admin else "0",
        "highlighted": account.is_admin,
    }
    return entity


def tag_entity(site: Site, name: str) -> Json:
    return {"name": name, "url": f"{site.base_url}/tags/{name}", "history": []}


def _media_type(mime: str) -> str:
    kind = mime.split("/", 1)[0]
    return kind if kind in ("image", "video", "audio") else "unknown"


def media_entities(post: Post) -> list[Json]:
    return [
        {
            "id": f"{post.id}{index:02d}",
            "type": _media_type(str(item.get("media_type", ""))),
            "url": item.get("url"),
            "preview_url": item.get("url"),
            "remote_url": None if post.local else item.get("url"),
            "preview_remote_url": None,
            "text_url": None,
            "meta": {},
            "description": item.get("description"),
            "blurhash": item.get("blurhash"),
        }
        for index, item in enumerate(post.attachments)
    ]


async def _post_ids(query: Any) -> set[int]:
    found = cast(list[int], await query.values_list("post_id", flat=True))
    return {int(i) for i in found}


class StatusRenderer:
    """Renders statuses for one viewer, loading what they refer to in batches."""

    def __init__(self, site: Site, viewer: Account | None) -> None:
        self.site = site
        self.viewer = viewer
        self._accounts: dict[int, Account] = {}
        if viewer is not None:
            self._accounts[viewer.id] = viewer

    async def _load_accounts(self, ids: Iterable[int | None]) -> None:
        missing = {i for i in ids if i is not None and i not in self._accounts}
        if missing:
            for account in await Account.filter(id__in=missing):
                self._accounts[account.id] = account

    def account(self, account_id: int) -> Json:
        return account_entity(self.site, self._accounts[account_id])

    async def render(self, items: Sequence[Post | Share | TimelineItem]) -> list[Json]:
        """Status entities for ``items`` in order; a Share renders as a reblog of its post."""
        pairs: list[tuple[Post, Share | None]] = []
        for item in items:
            if isinstance(item, TimelineItem):
                pairs.append((item.post, item.share))
            elif isinstance(item, Share):
                pairs.append((await self._post_of(item), item))
            else:
                pairs.append((item, None))
        posts = {post.id: post for post, _ in pairs}
        ids = list(posts)
        await self._load_accounts(
            [fk(p, "author") for p in posts.values()]
            + [fk(s, "account") for _, s in pairs if s is not None]
        )
        mentions: dict[int, list[int]] = defaultdict(list)
        for post_id, account_id in await Mention.filter(post_id__in=ids).values_list(
            "post_id", "account_id"
        ):
            mentions[int(post_id)].append(int(account_id))
        await self._load_accounts(a for accounts in mentions.values() for a in accounts)
        tags: dict[int, list[str]] = defaultdict(list)
        for post_id, name in await PostTag.filter(post_id__in=ids).values_list("post_id", "name"):
            tags[int(post_id)].append(str(name))
        parent_ids = {fk(p, "in_reply_to") for p in posts.values()} - {None}
        parent_authors = {
            int(i): int(a)
            for i, a in await Post.filter(id__in=parent_ids).values_list("id", "author_id")
        }
        liked: set[int] = set()
        shared: set[int] = set()
        bookmarked: set[int] = set()
        if self.viewer is not None:
            viewer_id = self.viewer.id
            liked = await _post_ids(Like.filter(account_id=viewer_id, post_id__in=ids))
            shared = await _post_ids(Share.filter(account_id=viewer_id, post_id__in=ids))
            bookmarked = await _post_ids(Bookmark.filter(account_id=viewer_id, post_id__in=ids))

        def status(post: Post) -> Json:
            author_id = fk(post, "author")
            assert author_id is not None
            parent_id = fk(post, "in_reply_to")
            return {
                "id": str(post.id),
                "uri": post.uri,
                "url": post.url or post.uri,
                "created_at": iso(post.created_at),
                "account": self.account(author_id),
                "content": post.content_html,
                "visibility": MASTODON_VISIBILITY.get(post.visibility, "direct"),
                "sensitive": post.sensitive,
                "spoiler_text": post.summary,
                "media_attachments": media_entities(post),
                "application": None,
                "mentions": [
                    {
                        "id": str(a),
                        "username": self._accounts[a].username,
                        "url": self._accounts[a].url or self._accounts[a].uri,
                        "acct": acct_of(self._accounts[a]),
                    }
                    for a in mentions.get(post.id, [])
                ],
                "tags": [tag_entity(self.site, name) for name in tags.get(post.id, [])],
                "emojis": [],
                "reblogs_count": post.shares_count,
                "favourites_count": post.likes_count,
                "replies_count": post.replies_count,
                "in_reply_to_id": str(parent_id) if parent_id else None,
                "in_reply_to_account_id": str(parent_authors[parent_id])
                if parent_id in parent_authors
                else None,
                "reblog": None,
                "poll": None,
                "card": None,
                "language": post.language,
                "text": None,
                "edited_at": iso(post.edited_at),
                "favourited": post.id in liked,
                "reblogged": post.id in shared,
                "muted": False,
                "bookmarked": post.id in bookmarked,
                "pinned": False,
                "filtered": [],
                "fedwall": {"label": post.label, "visibility": post.visibility},
            }

        rendered = []
        for post, share in pairs:
            inner = status(post)
            if share is None:
                rendered.append(inner)
                continue
            account_id = fk(share, "account")
            assert account_id is not None
            wrapper = {
                **inner,
                "id": str(share.id),
                "uri": share.uri or f"{post.uri}#shares/{share.id}",
                "url": share.uri or inner["url"],
                "created_at": iso(share.created_at),
                "account": self.account(account_id),
                "content": "",
                "spoiler_text": "",
                "sensitive": False,
                "media_attachments": [],
                "mentions": [],
                "tags": [],
                "reblogs_count": 0,
                "favourites_count": 0,
                "replies_count": 0,
                "in_reply_to_id": None,
                "in_reply_to_account_id": None,
                "language": None,
                "edited_at": None,
                "reblog": inner,
            }
            rendered.append(wrapper)
        return rendered

    async def one(self, item: Post | Share | TimelineItem) -> Json:
        return (await self.render([item]))[0]

    @staticmethod
    async def _post_of(share: Share) -> Post:
        post_id = fk(share, "post")
        return await Post.get(id=post_id)


async def relationships(viewer: Account, targets: Sequence[Account]) -> list[Json]:
    """Mastodon's Relationship entities of ``viewer`` to each target, in order."""
    ids = [t.id for t in targets]
    outgoing = {
        int(followee): str(state)
        for followee, state in await Follow.filter(
            follower_id=viewer.id, followee_id__in=ids
        ).values_list("followee_id", "state")
    }
    incoming = {
        int(follower): str(state)
        for follower, state in await Follow.filter(
            followee_id=viewer.id, follower_id__in=ids
        ).values_list("follower_id", "state")
    }
    return [
        {
            "id": str(target.id),
            "following": outgoing.get(target.id) == "accepted",
            "showing_reblogs": outgoing.get(target.id) == "accepted",
            "notifying": False,
            "languages": None,
            "followed_by": incoming.get(target.id) == "accepted",
            "blocking": False,
            "blocked_by": False,
            "muting": False,
            "muting_notifications": False,
            "requested": outgoing.get(target.id) == "pending",
            "requested_by": incoming.get(target.id) == "pending",
            "domain_blocking": False,
            "endorsed": False,
            "note": "",
        }
        for target in targets
    ]


async def notification_entities(
    site: Site, viewer: Account, rows: Sequence[Notification]
) -> list[Json]:
    """Notification entities; the status of each is rendered for ``viewer``.

    Notifications about a post deleted since are left out, as Mastodon does.
    """
    renderer = StatusRenderer(site, viewer)
    await renderer._load_accounts(fk(n, "actor") for n in rows)
    post_ids = {fk(n, "post") for n in rows} - {None}
    posts = {p.id: p for p in await Post.filter(id__in=post_ids, deleted_at=None)}
    statuses = dict(zip(posts, await renderer.render(list(posts.values())), strict=True))
    entities = []
    for row in rows:
        actor_id = fk(row, "actor")
        assert actor_id is not None
        post_id = fk(row, "post")
        entity: Json = {
            "id": str(row.id),
            "type": row.kind,
            "created_at": iso(row.created_at),
            "group_key": f"ungrouped-{row.id}",
            "account": renderer.account(actor_id),
        }
        if post_id is not None:
            if post_id not in statuses:
                continue  # about a deleted post: Mastodon drops these too
            entity["status"] = statuses[post_id]
        entities.append(entity)
    return entities
