"""Receiving activities: the inbox fast path and the background processor.

Fast path (in the request): size cap → JSON parse → signature and digest
verified → key owner is the activity's actor → durable insert (grouped with
concurrent requests by :class:`InboxWriter`) → ``202``.
Everything else (normalising, policy, applying) happens in
:class:`InboxProcessor`, which moves each :class:`~node.models.InboxItem`
through ``awaiting_key → pending → processed | unhandled | failed | rejected``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from quart import Blueprint, Response, request
from tortoise.exceptions import IntegrityError

from federation.boundary import admit_peer, inbound_decision, inbound_kind, refused_peer
from federation.client import authority_of, origin_of
from federation.errors import FederationError, SignatureError
from federation.signatures import HttpRequestView
from federation.verify import KeyUnavailable, RequestVerifier
from federation.vocabulary import VocabularyError, id_of, normalise
from node.models import InboxItem, ReviewItem
from node.policy import Decision, explain
from node.services import audit
from node.services.policy import PolicyStore, count_crossing, note_peer_request, redacted_html

log = logging.getLogger(__name__)

# How often an item awaiting its key is retried, and for how long.
KEY_RETRY_SECONDS = 30.0
KEY_WAIT_LIMIT = dt.timedelta(hours=6)
BATCH = 50
# Oversized bodies up to this size are read and discarded, so the peer gets its 413.
DRAIN_LIMIT = 8 * 1024 * 1024

Handler = Callable[[dict[str, Any], int], Awaitable[str]]


def _problem(status: int, reason: str) -> Response:
    return Response(orjson.dumps({"error": reason}), status=status, content_type="application/json")


async def _read_capped(max_bytes: int) -> bytes | None:
    """The request body, or None when it exceeds ``max_bytes``.

    A moderately oversized body is read to its end and discarded so the client
    can read the 413; a body far over the cap (declared or streamed) is cut
    off, and the server closes the connection.
    """
    declared = request.content_length
    if declared is not None and declared > DRAIN_LIMIT:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in request.body:
        size += len(chunk)
        if size > DRAIN_LIMIT:
            return None
        if size <= max_bytes:
            parts.append(chunk)
    return b"".join(parts) if size <= max_bytes else None


def request_view(base_url: str, body: bytes = b"") -> HttpRequestView:
    """The current Quart request as the signature code sees it."""
    query = request.query_string.decode("latin-1")
    url = f"{base_url}{request.path}" + (f"?{query}" if query else "")
    headers = {name: value for name, value in request.headers.items()}
    return HttpRequestView(request.method, url, headers, body)


class InboxWriter:
    """Stores received items in groups: one transaction for the requests waiting at that moment.

    :meth:`insert` returns only once the transaction holding the row has
    committed, so a ``202`` still means "durably stored"; under load many
    requests share one commit instead of paying for one each. No request waits
    for a timer: a group is whatever arrived while the previous one was written.
    """

    def __init__(self, wake: asyncio.Event, max_group: int = 256) -> None:
        self._wake = wake
        self._max_group = max_group
        self._waiting: list[tuple[InboxItem, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, item: InboxItem) -> None:
        """Store ``item`` (ignored if its activity id is already stored); raises on failure."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, stored))
        if self._flusher is None or self._flusher.done():
            # Created from a request, the task sees that request's database context.
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(stored)

    async def _flush(self) -> None:
        while self._waiting:
            group = self._waiting[: self._max_group]
            del self._waiting[: self._max_group]
            try:
                await InboxItem.bulk_create([item for item, _ in group], ignore_conflicts=True)
            except Exception:
                # One bad row must not fail its neighbours: store them one at a time.
                await self._one_by_one(group)
            except BaseException:
                # Cancelled (shutdown): nobody may wait for ever, nor hear 202.
                for _, stored in group + self._waiting:
                    if not stored.done():
                        stored.set_exception(ConnectionAbortedError("the node is stopping"))
                raise
            else:
                for _, stored in group:
                    if not stored.done():
                        stored.set_result(None)
            self._wake.set()

    @staticmethod
    async def _one_by_one(group: list[tuple[InboxItem, asyncio.Future[None]]]) -> None:
        for item, stored in group:
            try:
                await item.save(force_create=True)
            except IntegrityError:
                log.debug("inbox: duplicate delivery of %s", item.activity_id)
            except Exception as exc:  # handed to the waiting request
                if not stored.done():
                    stored.set_exception(exc)
                continue
            if not stored.done():
                stored.set_result(None)


def build_blueprint(
    base_url: str,
    domain: str,
    verifier: RequestVerifier,
    max_bytes: int,
    wake: asyncio.Event,
    policy: PolicyStore,
) -> Blueprint:
    bp = Blueprint("federation_inbox", __name__)
    writer = InboxWriter(wake)

    async def receive(username: str | None = None) -> Response:
        body = await _read_capped(max_bytes)
        if body is None:
            log.info("inbox: refused a body over %s bytes from %s", max_bytes, request.remote_addr)
            return _problem(413, f"activity larger than {max_bytes} bytes")
        try:
            activity = orjson.loads(body)
        except orjson.JSONDecodeError:
            log.info("inbox: malformed JSON from %s", request.remote_addr)
            return _problem(400, "body is not valid JSON")
        if not isinstance(activity, dict):
            return _problem(400, "body is not a JSON object")
        activity_id, actor_id = id_of(activity.get("id")), id_of(activity.get("actor"))
        if not activity_id or not actor_id or not isinstance(activity.get("type"), str | list):
            return _problem(400, "an activity needs an id, a type and an actor")
        if authority_of(actor_id) == domain:
            return _problem(401, "activity claims an actor of this node")
        view = request_view(base_url, body)
        peer = authority_of(actor_id)
        admission = await admit_peer(policy, peer, inbound_kind(activity))
        if refused_peer(admission):
            tried = f"{activity.get('type')} {activity_id}"
            return await _refuse_peer(view, tried, actor_id, peer, admission)
        awaiting_key = False
        try:
            key = await verifier.verify(view)
        except SignatureError as exc:
            log.info("inbox: signature rejected for %s: %s", activity_id, exc.reason)
            return _problem(401, exc.reason)
        except KeyUnavailable as exc:
            # Never processed unverified: kept with its headers until the key can be fetched.
            log.info("inbox: %s waits for its key: %s", activity_id, exc.reason)
            awaiting_key = True
        else:
            if key.owner_uri != actor_id:
                log.info("inbox: key %s is not the key of actor %s", key.key_id, actor_id)
                return _problem(401, "the signing key does not belong to the activity's actor")
        if origin_of(activity_id) != origin_of(actor_id):
            return _problem(400, "the activity id is not on its actor's origin")
        # A duplicate delivery (same activity id) is stored once and answered 202 all the same.
        await writer.insert(
            InboxItem(
                activity_id=activity_id,
                actor_uri=actor_id,
                key_id=None if awaiting_key else key.key_id,
                peer_domain=authority_of(actor_id),
                body=body.decode("utf-8", "replace"),
                request_headers=dict(view.headers) | {"x-fedwall-url": view.url}
                if awaiting_key
                else None,
                state="awaiting_key" if awaiting_key else "pending",
                next_attempt_at=dt.datetime.now(dt.UTC) if awaiting_key else None,
            )
        )
        return Response(status=202)

    async def _refuse_peer(
        view: HttpRequestView, tried: str, actor_id: str, peer: str, admission: Decision
    ) -> Response:
        """Refuse a peer the policy does not admit; a genuine newcomer becomes a peering request."""
        blocked = any(r.code == "peer_blocked" for r in admission.decisive())
        try:
            # A blocked peer's unknown key is not even fetched.
            key = await verifier.verify(view, fetch_unknown=not blocked)
        except (SignatureError, KeyUnavailable) as exc:
            log.info("inbox: refused unverified activity from %s: %s", peer, exc.reason)
            return _problem(403, f"this node does not accept activities from {peer}")
        if key.owner_uri != actor_id:
            return _problem(401, "the signing key does not belong to the activity's actor")
        if not blocked:
            await note_peer_request(peer, tried)
        await audit.record_decision(
            admission, object_id=tried.split()[-1], actor=actor_id, label=None
        )
        await count_crossing(peer, "inbound", False)
        log.info("inbox: %s", explain(admission))
        suffix = "" if blocked else "; a peering request was recorded for the administrators"
        return _problem(403, f"this node does not accept activities from {peer}{suffix}")

    bp.add_url_rule("/inbox", "shared_inbox", receive, methods=["POST"])
    bp.add_url_rule("/users/<username>/inbox", "user_inbox", receive, methods=["POST"])
    return bp


class InboxProcessor:
    """Moves received activities through their states, one at a time, in arrival order."""

    def __init__(
        self,
        verifier: RequestVerifier,
        dispatch: Callable[[dict[str, Any]], Awaitable[str]],
        wake: asyncio.Event,
        policy: PolicyStore,
        poll_seconds: float = 1.0,
    ) -> None:
        self.verifier = verifier
        self.policy = policy
        self.dispatch = dispatch
        self.wake = wake
        self.poll_seconds = poll_seconds

    async def run(self, stopping: asyncio.Event) -> None:
        """The worker loop: process until idle, then wait for a wake-up or the poll interval."""
        while not stopping.is_set():
            self.wake.clear()
            worked = await self.process_batch()
            worked += await self.retry_awaiting_key()
            if worked:
                continue
            waiter = asyncio.create_task(self.wake.wait())
            stopper = asyncio.create_task(stopping.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()

    async def process_batch(self) -> int:
        items = await InboxItem.filter(state="pending").order_by("id").limit(BATCH)
        for item in items:
            await self.process(item)
        return len(items)

    async def process(self, item: InboxItem) -> None:
        try:
            activity = normalise(orjson.loads(item.body))
            admitted = await self._apply_policy(item, activity)
            if admitted is None:
                return
            outcome = await self.dispatch(admitted)
        except VocabularyError as exc:
            await self._finish(item, "failed", f"not a usable activity: {exc.reason}")
        except FederationError as exc:
            await self._finish(item, "failed", exc.reason)
        except Exception as exc:
            # A bug in one handler must not stop the queue; the item keeps the reason.
            log.exception("inbox: processing %s failed", item.activity_id)
            await self._finish(item, "failed", f"internal error: {type(exc).__name__}")
        else:
            state = "unhandled" if outcome.startswith("unhandled") else "processed"
            if outcome.startswith("rejected"):
                state = "rejected"
            await self._finish(item, state, None if state == "processed" else outcome)

    async def _apply_policy(
        self, item: InboxItem, activity: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The activity as admitted by the inbound policy, or None when denied or held."""
        decision = await inbound_decision(self.policy, activity, item.peer_domain)
        approved = await ReviewItem.filter(inbox_item_id=item.id, state="approved").exists()
        if decision.outcome == "hold" and approved:
            return activity  # an admin already released it
        inner = activity.get("object")
        label = inner.get("classification") if isinstance(inner, dict) else None
        await audit.record_decision(
            decision, object_id=item.activity_id, actor=item.actor_uri, label=label
        )
        await count_crossing(item.peer_domain, "inbound", decision.crosses)
        if decision.outcome == "deny":
            await self._finish(item, "rejected", f"policy: {explain(decision)}")
            return None
        if decision.outcome == "hold":
            await ReviewItem.create(
                direction="inbound",
                peer_domain=item.peer_domain,
                inbox_item=item,
                reasons=[{"rule": r.rule_id, "code": r.code, "message": r.message}
                         for r in decision.decisive()],
            )  # fmt: skip
            await self._finish(item, "held", f"policy: {explain(decision)}")
            return None
        if decision.transformed is not None and isinstance(inner, dict):
            inner = dict(inner)
            if "content" in decision.transformed:
                inner["content"] = redacted_html(decision.transformed["content"])
                inner.pop("contentMap", None)
            if "summary" in decision.transformed:
                inner["summary"] = decision.transformed["summary"]
            return {**activity, "object": inner}
        return activity

    @staticmethod
    async def _finish(item: InboxItem, state: str, error: str | None) -> None:
        if error:
            log.info("inbox: %s %s: %s", item.activity_id, state, error)
        item.state = state
        item.last_error = error  # type: ignore[assignment]  # nullable column
        item.processed_at = dt.datetime.now(dt.UTC)
        item.attempts += 1
        await item.save(update_fields=["state", "last_error", "processed_at", "attempts"])

    async def retry_awaiting_key(self) -> int:
        now = dt.datetime.now(dt.UTC)
        items = await InboxItem.filter(state="awaiting_key", next_attempt_at__lte=now).limit(BATCH)
        for item in items:
            headers = dict(item.request_headers or {})
            url = headers.pop("x-fedwall-url", "")
            view = HttpRequestView("POST", url, headers, item.body.encode("utf-8"))
            try:
                key = await self.verifier.verify(view)
            except KeyUnavailable as exc:
                if now - item.received_at > KEY_WAIT_LIMIT:
                    await self._finish(
                        item, "rejected", f"key never became available: {exc.reason}"
                    )
                else:
                    item.attempts += 1
                    item.next_attempt_at = now + dt.timedelta(
                        seconds=KEY_RETRY_SECONDS * item.attempts
                    )
                    await item.save(update_fields=["attempts", "next_attempt_at"])
                continue
            except SignatureError as exc:
                # Verified as forged: drop the content entirely.
                await InboxItem.filter(id=item.id).delete()
                log.info("inbox: %s dropped after key fetch: %s", item.activity_id, exc.reason)
                continue
            if key.owner_uri != item.actor_uri:
                await InboxItem.filter(id=item.id).delete()
                continue
            item.state = "pending"
            item.key_id = key.key_id
            item.request_headers = None
            await item.save(update_fields=["state", "key_id", "request_headers"])
        return len(items)
