"""Live updates for open pages: a Server-Sent Events stream and the fragments it points to.

``GET /live`` streams the signed-in viewer's events (``user:<id>`` and, for
chat, ``direct:<id>`` on the node's broker) as SSE. Events carry ids only;
``static/live.js`` fetches what it shows from ``/live/posts/<id>`` (one post,
rendered as on the page, checked for visibility like any page) and
``/live/unread`` (the notification badge); chat messages: :mod:`webui.chat`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson
from quart import Blueprint, Response, abort, jsonify, render_template, request

from node.errors import NotFound
from node.models import Share
from node.services import notifications, posts
from node.services.timelines import TimelineItem
from node.streaming import Event
from webui.i18n import ngettext

if TYPE_CHECKING:
    from webui.context import WebContext
    from webui.pages import Page

# What the pages act on; other events on the viewer's keys are not sent. "conversation":
# a direct message joined one of the viewer's conversations (static/chat.js shows it).
FORWARDED_EVENTS = ("update", "notification", "delete", "status.update", "conversation")
HEARTBEAT_SECONDS = 20.0
# Streams end after a while so that the browser reconnects and the session is checked again.
STREAM_LIFETIME_SECONDS = 600.0
RECONNECT_MILLISECONDS = 3000


def sse_message(event: Event) -> bytes:
    """One SSE message; the data is the event's JSON (ids only, never content).

    Ids go out as strings: they are 64-bit, beyond the integers JavaScript holds exactly.
    """
    data = event.data if isinstance(event.data, dict) else {}
    safe = {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in data.items()}  # fmt: skip
    return b"event: " + event.name.encode() + b"\ndata: " + orjson.dumps(safe) + b"\n\n"


def add_routes(bp: Blueprint, web: WebContext) -> None:
    broker = web.site.events

    @bp.get("/live")
    async def live_stream() -> Page:
        account = web.viewer()
        if account is None:
            # EventSource stops retrying on a non-200 answer.
            return Response("sign in first\n", 401, mimetype="text/plain")

        async def stream() -> AsyncIterator[bytes]:
            async with broker.subscribe([f"user:{account.id}", f"direct:{account.id}"]) as queue:
                # "ready" tells the page (and tests) that nothing from now on is missed.
                yield f"retry: {RECONNECT_MILLISECONDS}\nevent: ready\ndata: {{}}\n\n".encode()
                deadline = time.monotonic() + STREAM_LIFETIME_SECONDS
                while (remaining := deadline - time.monotonic()) > 0:
                    event: Event | None = None
                    with contextlib.suppress(TimeoutError):
                        event = await asyncio.wait_for(
                            queue.get(), min(HEARTBEAT_SECONDS, remaining)
                        )
                    if event is None:
                        yield b": keep-alive\n\n"
                    elif event.name in FORWARDED_EVENTS:
                        yield sse_message(event)

        response = Response(stream(), mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-store"
        # Proxies such as nginx must pass each message on at once.
        response.headers["X-Accel-Buffering"] = "no"
        response.timeout = None
        return response

    @bp.get("/live/posts/<int:post_id>")
    async def post_fragment(post_id: int) -> Page:
        account = web.viewer()
        if account is None:
            abort(401)
        try:
            post = await posts.get_visible_post(account, post_id)
        except NotFound:
            abort(404)
        share = None
        share_id = request.args.get("share", "")
        if share_id.isdigit():
            share = await Share.get_or_none(id=int(share_id), post_id=post.id).prefetch_related(
                "account"
            )
        item = TimelineItem(post, share)
        liked, shared = await web.reactions_of(account, [item])
        body = await render_template("_post_fragment.html", item=item, viewer=account,
                                     csrf=web.csrf(), site=web.site, liked=liked,
                                     shared=shared)  # fmt: skip
        response = Response(body, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/live/unread")
    async def unread() -> Page:
        account = web.viewer()
        if account is None:
            abort(401)
        count = await notifications.unread_count(account)
        response = jsonify(
            {"unread": count, "label": ngettext("%(num)d unread", "%(num)d unread", count)}
        )
        response.headers["Cache-Control"] = "no-store"
        return response
