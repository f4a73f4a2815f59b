"""Mastodon's streaming API: Server-Sent Events per stream and one multiplexed WebSocket.

Services publish an event on the node's broker (:mod:`node.streaming`) after
they commit — for local actions and for activities the inbox worker applies —
with keys such as ``user:<id>``, ``public``, ``node``, ``hashtag:<tag>``,
``direct:<id>``. A stream subscribes to the keys of its Mastodon stream name
and turns each event into Mastodon's event for *its* viewer: the status is
loaded, checked for visibility and rendered (``favourited`` etc. are the
viewer's). Only ids travel through the broker, so a broker backed by
PostgreSQL ``LISTEN/NOTIFY`` can replace the in-process one unchanged.

SSE answers are streamed unbuffered (``X-Accel-Buffering: no``), start with a
``:)`` comment once subscribed and send a ``:thump`` comment every
``Api.heartbeat_seconds``. WebSocket frames are
``{"stream": [...], "event": ..., "payload": "<JSON text>"}`` as Mastodon sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from quart import Blueprint, Response, websocket

from node.api.conversations import conversation_entity
from node.api.entities import ANONYMOUS_READER, StatusRenderer, notification_entities
from node.api.errors import ApiError, invalid_token, outside_scopes
from node.api.routing import Api, Call, Router
from node.models import Account, Notification, Post, Share
from node.services import conversations, tokens
from node.services.tokens import TokenGrant
from node.services.visibility import is_visible
from node.streaming import Event

log = logging.getLogger(__name__)
router = Router()

Origin = Literal["any", "local", "remote"]
STATUS_EVENTS = frozenset({"update", "status.update", "delete"})


@dataclass(frozen=True)
class StreamSpec:
    """What one Mastodon stream (``user``, ``public:local``, ``hashtag``…) listens to."""

    name: str
    keys: tuple[str, ...]
    events: frozenset[str]
    origin: Origin = "any"
    # Public streams show only posts anyone (or, for ``node`` posts, the node's people) may see.
    public_only: bool = False
    tag: str | None = None

    @property
    def stream_field(self) -> list[str]:
        return [self.name, self.tag] if self.tag else [self.name]


USER_SCOPES = ("read:statuses", "read:notifications")


def stream_spec(name: str, grant: TokenGrant | None, tag: str | None = None) -> StreamSpec:
    """The spec of stream ``name`` for this token; ApiError when unknown or not allowed."""
    viewer = grant.account if grant else None
    local_viewer = viewer is not None and viewer.is_local

    def need(scopes: tuple[str, ...], user: bool) -> None:
        if grant is None:
            if user:
                raise invalid_token()
            return
        if not any(grant.allows(s) for s in scopes):
            raise outside_scopes()
        if user and viewer is None:
            raise ApiError(422, "This stream requires an authenticated user")

    if name in ("user", "user:notification"):
        need(USER_SCOPES if name == "user" else ("read:notifications",), True)
        assert viewer is not None
        events = frozenset({"notification"}) | (STATUS_EVENTS if name == "user" else frozenset())
        return StreamSpec(name, (f"user:{viewer.id}",), events)
    if name == "direct":
        need(("read:statuses",), True)
        assert viewer is not None
        return StreamSpec(name, (f"direct:{viewer.id}",), frozenset({"conversation"}))
    if name in ("public", "public:local", "public:remote"):
        need(("read:statuses",), False)
        origin: Origin = (
            "any" if name == "public" else "local" if name.endswith("local") else "remote"
        )
        keys = ("public", "node") if origin == "local" and local_viewer else ("public",)
        return StreamSpec(name, keys, STATUS_EVENTS, origin, public_only=True)
    if name in ("hashtag", "hashtag:local"):
        need(("read:statuses",), False)
        clean = (tag or "").strip().lstrip("#").lower()
        if not clean:
            raise ApiError(400, "A tag is required for the hashtag stream")
        origin = "local" if name.endswith("local") else "any"
        return StreamSpec(
            name, (f"hashtag:{clean}",), frozenset({"update"}), origin, public_only=True, tag=clean
        )
    raise ApiError(400, f"Unknown stream type {name!r}")


class StreamSession:
    """Turns broker events into Mastodon events for one viewer."""

    def __init__(self, api: Api, viewer: Account | None, spec: StreamSpec) -> None:
        self.api = api
        self.viewer = viewer
        self.spec = spec
        self.last_notification_id = 0

    async def start(self) -> None:
        if self.viewer is not None and "notification" in self.spec.events:
            newest = await Notification.filter(recipient_id=self.viewer.id).order_by("-id").first()
            self.last_notification_id = newest.id if newest else 0

    async def translate(self, event: Event) -> list[tuple[str, str]]:
        """Mastodon ``(event, payload)`` pairs for ``event``; none if the viewer may not see it."""
        if event.name not in self.spec.events:
            return []
        # Entities are rendered for this stream's viewer, long after the call returned.
        anonymous = ANONYMOUS_READER.set(self.viewer is None)
        try:
            return await self._translate(event)
        finally:
            ANONYMOUS_READER.reset(anonymous)

    async def _translate(self, event: Event) -> list[tuple[str, str]]:
        data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
        if event.name == "delete":
            status_id = data.get("share_id") or data.get("post_id")
            return [("delete", str(status_id))] if status_id else []
        if event.name == "notification":
            return await self._notifications(data)
        if event.name == "conversation":
            return await self._conversation(data)
        return await self._status(event.name, data)

    async def _status(self, name: str, data: dict[str, Any]) -> list[tuple[str, str]]:
        post = await Post.get_or_none(id=data.get("post_id")).prefetch_related("author")
        if post is None or not await is_visible(post, self.viewer):
            return []
        if self.spec.origin == "local" and not post.local:
            return []
        if self.spec.origin == "remote" and post.local:
            return []
        local_viewer = self.viewer is not None and self.viewer.is_local
        if self.spec.public_only and not (
            post.visibility == "public" or (post.visibility == "node" and local_viewer)
        ):
            return []
        item: Post | Share = post
        if data.get("share_id") and name == "update":
            share = await Share.get_or_none(id=data["share_id"])
            if share is None:
                return []
            item = share
        entity = await StatusRenderer(self.api.site, self.viewer).one(item)
        return [(name, orjson.dumps(entity).decode())]

    async def _notifications(self, data: dict[str, Any]) -> list[tuple[str, str]]:
        viewer = self.viewer
        if viewer is None or data.get("account_id") != viewer.id:
            return []
        rows = await Notification.filter(
            recipient_id=viewer.id, id__gt=self.last_notification_id
        ).order_by("id")
        if not rows:
            return []
        self.last_notification_id = rows[-1].id
        entities = await notification_entities(self.api.site, viewer, rows)
        return [("notification", orjson.dumps(e).decode()) for e in entities]

    async def _conversation(self, data: dict[str, Any]) -> list[tuple[str, str]]:
        viewer = self.viewer
        post = await Post.get_or_none(id=data.get("post_id"))
        if viewer is None or post is None or not await is_visible(post, viewer):
            return []
        view = await conversations.find_for_post(viewer, post)
        if view is None:
            return []
        entity = await conversation_entity(self.api.site, viewer, view)
        return [("conversation", orjson.dumps(entity).decode())]

    async def events(self) -> AsyncIterator[tuple[str, str] | None]:
        """Mastodon events as they happen; None every heartbeat interval without one."""
        async with self.api.site.events.subscribe(self.spec.keys) as queue:
            await self.start()
            yield None  # subscribed: the caller may tell the client
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self.api.heartbeat_seconds)
                except TimeoutError:
                    yield None
                    continue
                try:
                    translated = await self.translate(event)
                except Exception:
                    # One event that cannot be rendered must not end the client's stream.
                    log.exception("stream %s: cannot render %s event", self.spec.name, event.name)
                    continue
                for pair in translated:
                    yield pair


# ---------------------------------------------------------------- SSE

SSE_PATHS = {
    "/api/v1/streaming/user": "user",
    "/api/v1/streaming/user/notification": "user:notification",
    "/api/v1/streaming/public": "public",
    "/api/v1/streaming/public/local": "public:local",
    "/api/v1/streaming/public/remote": "public:remote",
    "/api/v1/streaming/hashtag": "hashtag",
    "/api/v1/streaming/hashtag/local": "hashtag:local",
    "/api/v1/streaming/direct": "direct",
}


def sse_response(session: StreamSession) -> Response:
    async def body() -> AsyncIterator[bytes]:
        session.api.runtime.db.activate()
        first = True
        async for item in session.events():
            if item is None:
                yield b":)\n\n" if first else b":thump\n\n"
                first = False
                continue
            name, payload = item
            yield f"event: {name}\ndata: {payload}\n\n".encode()

    response = Response(
        body(),
        content_type="text/event-stream; charset=utf-8",
        headers={
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",
        },
    )
    response.timeout = None  # a stream lasts as long as the client stays
    return response


def _sse_handler(stream_name: str) -> Any:
    async def open_stream(call: Call) -> Any:
        spec = stream_spec(stream_name, call.grant, call.params.text("tag"))
        return sse_response(StreamSession(call.api, call.viewer, spec))

    open_stream.__name__ = "stream_" + stream_name.replace(":", "_")
    return open_stream


for _path, _name in SSE_PATHS.items():
    router.get(_path, access="public")(_sse_handler(_name))


@router.get("/api/v1/streaming", access="public")
async def stream_by_parameter(call: Call) -> Any:
    """``/api/v1/streaming?stream=user`` (older clients) as SSE."""
    spec = stream_spec(call.params.text("stream") or "", call.grant, call.params.text("tag"))
    return sse_response(StreamSession(call.api, call.viewer, spec))


@router.get("/api/v1/streaming/health", access="none")
async def health(call: Call) -> Any:
    return Response("OK", content_type="text/plain; charset=utf-8")


# ---------------------------------------------------------------- WebSocket


def add_websocket(bp: Blueprint, api: Api) -> None:
    """``/api/v1/streaming`` as a WebSocket with ``subscribe`` / ``unsubscribe`` messages."""

    @bp.websocket("/api/v1/streaming")
    async def multiplexed() -> Response | None:
        # Browsers cannot set headers on a WebSocket: Mastodon takes the token as subprotocol.
        requested = websocket.requested_subprotocols or websocket.headers.get(
            "Sec-WebSocket-Protocol", ""
        ).split(",")
        protocol_token = requested[0].strip()
        header = websocket.headers.get("Authorization", "")
        token = (
            header[7:].strip()
            if header.lower().startswith("bearer ")
            else websocket.args.get("access_token") or protocol_token or None
        )
        grant = await tokens.grant_for(token) if token else None
        if token and grant is None:
            return Response(b'{"error":"The access token is invalid"}', 401)
        await websocket.accept(subprotocol=protocol_token or None)
        outgoing: asyncio.Queue[str] = asyncio.Queue(256)
        running: dict[tuple[str, str | None], asyncio.Task[None]] = {}

        async def pump(spec: StreamSpec) -> None:
            api.runtime.db.activate()
            session = StreamSession(api, grant.account if grant else None, spec)
            async for item in session.events():
                if item is not None:
                    name, payload = item
                    frame = {"stream": spec.stream_field, "event": name, "payload": payload}
                    await outgoing.put(orjson.dumps(frame).decode())

        async def handle(message: dict[str, Any]) -> None:
            kind = message.get("type")
            name = str(message.get("stream") or "")
            tag = message.get("tag")
            if kind not in ("subscribe", "unsubscribe"):
                raise ApiError(400, "Unknown message type; use subscribe or unsubscribe")
            spec = stream_spec(name, grant, str(tag) if tag is not None else None)
            key = (spec.name, spec.tag)
            if kind == "subscribe" and key not in running:
                running[key] = asyncio.create_task(pump(spec))
            elif kind == "unsubscribe" and key in running:
                running.pop(key).cancel()

        async def receive() -> None:
            initial = websocket.args.get("stream")
            if initial:
                await safely(
                    {"type": "subscribe", "stream": initial, "tag": websocket.args.get("tag")}
                )
            while True:
                raw = await websocket.receive()
                try:
                    message = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    await outgoing.put(
                        orjson.dumps({"error": "Invalid JSON", "status": 400}).decode()
                    )
                    continue
                if isinstance(message, dict):
                    await safely(message)

        async def safely(message: dict[str, Any]) -> None:
            try:
                await handle(message)
            except ApiError as exc:
                await outgoing.put(
                    orjson.dumps({"error": exc.message, "status": exc.status}).decode()
                )

        async def send() -> None:
            while True:
                await websocket.send(await outgoing.get())

        receiver = asyncio.create_task(receive())
        sender = asyncio.create_task(send())
        try:
            await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = [receiver, sender, *running.values()]
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    # The client went away mid-send or mid-receive: expected, worth a trace.
                    log.debug("websocket stream ended: %r", outcome)
        return None
