"""Endpoints that let peers find and read this node: WebFinger, NodeInfo, actors, collections.

:func:`build_blueprint` returns the routes; documents come from :mod:`federation.documents`.
Every ActivityStreams handler first awaits the ``fetch_guard`` it is given, which refuses
unsigned fetches when the node requires signed ones.  WebFinger, NodeInfo, host-meta and
the node actor ``/actor`` skip it: peers need the node actor's key to verify our own
signed fetches, as they need Mastodon's instance actor.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import orjson
from quart import Blueprint, Request, Response, g, request

from federation import documents
from federation.boundary import anonymous_visible_fields
from node.models import Account, Follow, KeyPair, Mention, Post, PostTag, WebSession
from node.services import follows
from node.services.accounts import NODE_ACTOR_USERNAME
from node.services.pagination import Page, PageRequest, make_page, paginate
from node.site import Site

__all__ = ["FetchGuard", "build_blueprint", "wants_activity_json"]

FetchGuard = Callable[[str], Awaitable[None]]
"""``await guard(kind)`` returns when a GET of ActivityPub data may be answered, and raises
(or aborts the request) otherwise.  ``kind`` is one of ``actor``, ``outbox``,
``followers``, ``following``, ``post``, ``activity``."""

PAGE_SIZE: Final = 20
ACTIVITY_CONTENT_TYPE: Final = "application/activity+json; charset=utf-8"
JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"
NODEINFO_CONTENT_TYPE: Final = f'application/json; profile="{documents.NODEINFO_2_1_PROFILE}"'
_AS_MEDIA_TYPES: Final = frozenset({"application/activity+json", "application/ld+json"})
_HTML_RANGES: Final = ("text/html", "text/*", "*/*")
_CORS: Final = {"Access-Control-Allow-Origin": "*"}


class _Runtime(Protocol):
    @property
    def site(self) -> Site: ...


# ---------------------------------------------------------------------------
# Content negotiation
# ---------------------------------------------------------------------------


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def media_ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their quality, lower-cased, in order.

    Parameters other than ``q`` (such as ``profile``) are dropped; a malformed ``q``
    counts as 0.
    """
    ranges: list[tuple[str, float]] = []
    for entry in _split_outside_quotes(accept, ","):
        media_type, *params = _split_outside_quotes(entry, ";")
        media_type = media_type.strip().lower()
        if "/" not in media_type:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((media_type, quality))
    return ranges


def accepts_activity_json(accept: str) -> bool:
    """Whether ``accept`` prefers ActivityStreams JSON to HTML.

    ActivityStreams must be named explicitly (``application/activity+json`` or
    ``application/ld+json`` with any profile) with a quality above 0 and at least that
    of HTML (``text/html``, else ``text/*``, else ``*/*``).
    """
    ranges: dict[str, float] = {}
    for media_type, quality in media_ranges(accept):
        ranges[media_type] = max(quality, ranges.get(media_type, 0.0))
    activity = max((ranges[t] for t in _AS_MEDIA_TYPES if t in ranges), default=0.0)
    html = next((ranges[r] for r in _HTML_RANGES if r in ranges), 0.0)
    return activity > 0 and activity >= html


def wants_activity_json(req: Request) -> bool:
    """Whether ``req`` asks for ActivityStreams JSON rather than a page for people."""
    return accepts_activity_json(req.headers.get("Accept", ""))


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------


def activity_response(document: Mapping[str, Any], status: int = 200) -> Response:
    """``document`` as ``application/activity+json``, varying by Accept."""
    return Response(
        orjson.dumps(document),
        status=status,
        content_type=ACTIVITY_CONTENT_TYPE,
        headers={"Vary": "Accept"},
    )


def _json(document: Mapping[str, Any], content_type: str = JSON_CONTENT_TYPE) -> Response:
    """``document`` as JSON that any origin may read (discovery documents are public)."""
    return Response(orjson.dumps(document), content_type=content_type, headers=_CORS)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"error": message}),
        status=status,
        content_type=JSON_CONTENT_TYPE,
        headers={"Vary": "Accept", **(headers or {})},
    )


def _redirect(location: str) -> Response:
    return Response("", status=302, headers={"Location": location, "Vary": "Accept"})


def _page_url(base: str, max_id: int | None = None, min_id: int | None = None) -> str:
    url = f"{base}?page=true"
    if max_id is not None:
        url += f"&max_id={max_id}"
    if min_id is not None:
        url += f"&min_id={min_id}"
    return url


def _page_request(args: Mapping[str, str]) -> PageRequest | None:
    """Page cursors of a collection request; None when they are not numbers."""
    try:
        max_id = int(args["max_id"]) if args.get("max_id") else None
        min_id = int(args["min_id"]) if args.get("min_id") else None
    except ValueError:
        return None
    return PageRequest(max_id=max_id, min_id=min_id, limit=PAGE_SIZE)


def _software_version() -> str:
    try:
        return importlib.metadata.version(documents.SOFTWARE_NAME)
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0+unknown"


# ---------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------


async def _local_person(username: str) -> Account | None:
    """The enabled local person ``username``, or None."""
    return await Account.get_or_none(
        username=username.lower(), domain="", actor_type="Person", disabled=False
    )


async def _node_actor() -> Account | None:
    return await Account.get_or_none(username=NODE_ACTOR_USERNAME, domain="")


async def _current_key(account: Account) -> KeyPair | None:
    return await KeyPair.filter(account_id=account.id).order_by("-id").first()


async def _notes(site: Site, author: Account, posts: Sequence[Post]) -> list[dict[str, Any]]:
    """Notes of ``posts`` by ``author``, loading their mentions and tags in two queries."""
    ids = [post.id for post in posts]
    mentioned: dict[int, list[Account]] = {post_id: [] for post_id in ids}
    for mention in await Mention.filter(post_id__in=ids).prefetch_related("account").order_by("id"):
        mentioned[mention.post_id].append(mention.account)  # type: ignore[attr-defined]
    tags: dict[int, list[str]] = {post_id: [] for post_id in ids}
    for tag in await PostTag.filter(post_id__in=ids).order_by("id"):
        tags[tag.post_id].append(tag.name)  # type: ignore[attr-defined]
    return [
        documents.note_object(
            site, post, author, mentioned[post.id], tags[post.id], post.in_reply_to_uri
        )
        for post in posts
    ]


async def _active_users(since: dt.datetime) -> int:
    """Local people who posted or signed in since ``since`` (NodeInfo's "active")."""
    posters = await (
        Post.filter(local=True, created_at__gte=since)
        .distinct()
        .values_list("author_id", flat=True)
    )
    signed_in = await (
        WebSession.filter(created_at__gte=since).distinct().values_list("account_id", flat=True)
    )
    candidates = {int(i) for i in [*posters, *signed_in]}  # type: ignore[call-overload]
    if not candidates:
        return 0
    return await Account.filter(
        id__in=candidates, domain="", actor_type="Person", disabled=False
    ).count()


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------


def build_blueprint(runtime: _Runtime, fetch_guard: FetchGuard) -> Blueprint:
    """Routes for WebFinger, host-meta, NodeInfo, actors, outboxes, collections and notes."""
    site = runtime.site
    version = _software_version()
    bp = Blueprint("discovery", __name__)

    @bp.get("/.well-known/webfinger")
    async def webfinger() -> Response:
        resource = request.args.get("resource", "").strip()
        if not resource:
            return _error(400, "the resource parameter is required", _CORS)
        username = _username_of_resource(site, resource)
        if isinstance(username, Response):
            return username
        if username in (NODE_ACTOR_USERNAME, site.domain.lower()):
            account = await _node_actor()
        else:
            account = await _local_person(username)
        if account is None:
            return _error(404, f"no account {resource}", _CORS)
        jrd = documents.webfinger_jrd(site, account)
        rels = request.args.getlist("rel")
        if rels:
            # RFC 7033 section 4.3: rel narrows the links; the other members stay.
            jrd["links"] = [link for link in jrd["links"] if link["rel"] in rels]
        return _json(jrd, documents.JRD_JSON)

    @bp.get("/.well-known/host-meta")
    async def host_meta() -> Response:
        return Response(
            documents.host_meta_xrd(site),
            content_type="application/xrd+xml; charset=utf-8",
            headers=_CORS,
        )

    @bp.get("/.well-known/nodeinfo")
    async def nodeinfo_links() -> Response:
        return _json(documents.nodeinfo_links(site))

    @bp.get("/nodeinfo/2.1")
    async def nodeinfo() -> Response:
        now = dt.datetime.now(dt.UTC)
        document = documents.nodeinfo_document(
            site,
            users_total=await Account.filter(
                domain="", actor_type="Person", disabled=False
            ).count(),
            active_month=await _active_users(now - dt.timedelta(days=30)),
            active_halfyear=await _active_users(now - dt.timedelta(days=180)),
            local_posts=await Post.filter(local=True, deleted_at=None).count(),
            version=version,
        )
        return _json(document, NODEINFO_CONTENT_TYPE)

    @bp.get("/actor")
    async def node_actor() -> Response:
        account = await _node_actor()
        key = await _current_key(account) if account is not None else None
        if account is None or key is None:
            return _error(404, "the node actor does not exist yet")
        return activity_response(documents.actor_document(site, account, key))

    @bp.get("/users/<username>")
    async def actor(username: str) -> Response:
        if not wants_activity_json(request):
            if await _local_person(username) is None:
                return Response("no such user\n", status=404, content_type="text/plain")
            return _redirect(f"/@{username.lower()}")
        await fetch_guard("actor")
        account = await _local_person(username)
        key = await _current_key(account) if account is not None else None
        if account is None or key is None:
            return _error(404, f"no user {username!r}")
        boundary = getattr(g, "boundary", None)
        # Each peer sees the profile fields its person shares with it and its agreement
        # allows; an unsigned requester those shared with every node that unlisted
        # nodes may see.
        if boundary is not None:
            visible = await boundary.visible_fields(account)
        else:
            visible = await anonymous_visible_fields(site.policy, account)
        return activity_response(
            documents.actor_document(site, account, key, fields_visible=visible)
        )

    @bp.get("/users/<username>/outbox")
    async def outbox(username: str) -> Response:
        await fetch_guard("outbox")
        account = await _local_person(username)
        if account is None:
            return _error(404, f"no user {username!r}")
        collection_id = account.outbox_url or f"{account.uri}/outbox"
        posts = Post.filter(author_id=account.id, local=True, deleted_at=None, visibility="public")
        if not request.args.get("page"):
            total = await posts.count()
            return activity_response(
                documents.ordered_collection(collection_id, total, _page_url(collection_id))
            )
        page = _page_request(request.args)
        if page is None:
            return _error(400, "max_id and min_id must be numeric ids")
        rows, _ = await paginate(posts, "id", page)
        boundary = getattr(g, "boundary", None)
        if boundary is not None:
            # Posts above the requester's clearance are left out of its view of the outbox.
            shown = [post for post in rows if await boundary.may_fetch(post, account)]
        else:
            shown = rows
        notes = await _notes(site, account, shown)
        creates = [documents.create_activity(note, account.uri) for note in notes]
        listed = make_page(rows, [post.id for post in rows])
        return activity_response(_collection_page(collection_id, page, listed, creates))

    async def follow_collection(username: str, kind: str) -> Response:
        await fetch_guard(kind)
        account = await _local_person(username)
        if account is None:
            return _error(404, f"no user {username!r}")
        if kind == "followers":
            collection_id = account.followers_url or f"{account.uri}/followers"
            accepted = Follow.filter(followee_id=account.id, state="accepted")
            listing = follows.followers
        else:
            collection_id = account.following_url or f"{account.uri}/following"
            accepted = Follow.filter(follower_id=account.id, state="accepted")
            listing = follows.following
        if not request.args.get("page"):
            total = await accepted.count()
            return activity_response(
                documents.ordered_collection(collection_id, total, _page_url(collection_id))
            )
        page = _page_request(request.args)
        if page is None:
            return _error(400, "max_id and min_id must be numeric ids")
        actors = await listing(account, page)
        uris = [actor.uri for actor in actors.items]
        return activity_response(_collection_page(collection_id, page, actors, uris))

    @bp.get("/users/<username>/followers")
    async def followers(username: str) -> Response:
        return await follow_collection(username, "followers")

    @bp.get("/users/<username>/following")
    async def following(username: str) -> Response:
        return await follow_collection(username, "following")

    async def federated_post(username: str, post_id: int) -> Post | Response:
        """The public post, a 410 Tombstone if it was deleted, or a 404."""
        post = await Post.get_or_none(id=post_id, local=True).prefetch_related("author")
        # Node posts never leave; followers-only and direct posts only go to a signed
        # requester whose key belongs to someone allowed to see them (the signature
        # was verified by the fetch guard); deleted non-public ones stay unknown.
        if (
            post is None
            or post.author.username != username.lower()
            or post.author.domain != ""
            or post.author.disabled
            or post.visibility == "node"
            or (post.visibility != "public" and not await _requester_may_see(post))
        ):
            return _error(404, "post not found")
        boundary = getattr(g, "boundary", None)
        if boundary is not None and not await boundary.may_fetch(post, post.author):
            # Above the requester's clearance, or stopped by a rule for it: as if absent.
            return _error(404, "post not found")
        return post

    @bp.get("/users/<username>/posts/<int:post_id>")
    async def note(username: str, post_id: int) -> Response:
        if not wants_activity_json(request):
            return _redirect(f"/@{username.lower()}/{post_id}")
        await fetch_guard("post")
        post = await federated_post(username, post_id)
        if isinstance(post, Response):
            return post
        [document] = await _notes(site, post.author, [post])
        return activity_response(document, 410 if post.deleted_at is not None else 200)

    @bp.get("/users/<username>/posts/<int:post_id>/activity")
    async def create(username: str, post_id: int) -> Response:
        if not wants_activity_json(request):
            return _redirect(f"/@{username.lower()}/{post_id}")
        await fetch_guard("activity")
        post = await federated_post(username, post_id)
        if isinstance(post, Response):
            return post
        if post.deleted_at is not None:
            gone = documents.tombstone(f"{post.uri}/activity", post.deleted_at, "Create")
            return activity_response({"@context": documents.CONTEXT, **gone}, 410)
        [document] = await _notes(site, post.author, [post])
        return activity_response(documents.create_activity(document, post.author.uri))

    return bp


async def _requester_may_see(post: Post) -> bool:
    """Whether the verified signer of this request may see a non-public post."""
    requester = getattr(g, "requester", None)
    owner_uri = getattr(requester, "owner_uri", None)
    if owner_uri is None or post.deleted_at is not None:
        return False
    viewer = await Account.get_or_none(uri=owner_uri)
    if viewer is None or viewer.is_local:
        return False
    if await Mention.filter(post_id=post.id, account_id=viewer.id).exists():
        return True
    return (
        post.visibility == "followers"
        and await Follow.filter(
            follower_id=viewer.id, followee_id=post.author.id, state="accepted"
        ).exists()
    )


def _collection_page(
    collection_id: str, request_page: PageRequest, listed: Page[Any], items: Sequence[Any]
) -> dict[str, Any]:
    """The page ``request_page`` of a newest-first collection, ``items`` standing for
    ``listed``; it links older items only when it is full (a short page is the last)."""
    full = len(listed.items) >= request_page.bounded_limit
    older = listed.next_max_id if full else None
    newer = listed.prev_min_id
    return documents.ordered_collection_page(
        _page_url(collection_id, request_page.max_id, request_page.min_id),
        collection_id,
        items,
        _page_url(collection_id, max_id=older) if older is not None else None,
        _page_url(collection_id, min_id=newer) if newer is not None else None,
    )


def _username_of_resource(site: Site, resource: str) -> str | Response:
    """The username a WebFinger resource names on this node, or the error response.

    Accepts ``acct:user@domain`` and the http(s) URLs of actors and profile pages.
    Malformed resources are 400; other domains and unknown URL paths 404 (RFC 7033 §4.2).
    """
    if resource.lower().startswith("acct:"):
        user, at, domain = resource[5:].lstrip("@").rpartition("@")
        if not at or not user or not domain:
            return _error(400, f"malformed acct resource {resource!r}", _CORS)
        if domain.lower() != site.domain.lower():
            return _error(404, f"{domain} is not served here", _CORS)
        return user.lower()
    if resource.lower().startswith(("https://", "http://")):
        parts = urlsplit(resource)
        if parts.netloc.lower() != site.domain.lower():
            return _error(404, f"{parts.netloc} is not served here", _CORS)
        path = parts.path.rstrip("/")
        if path == "/actor":
            return NODE_ACTOR_USERNAME
        for prefix in ("/users/", "/@"):
            name = path.removeprefix(prefix)
            if name != path and name and "/" not in name:
                return name.lower()
        return _error(404, f"no account at {resource}", _CORS)
    return _error(400, f"unsupported resource {resource!r}: use acct: or an http(s) URL", _CORS)
