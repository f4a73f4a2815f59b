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
import dataclasses
import datetime as dt
import itertools
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from quart import Blueprint, Response, request
from tortoise.exceptions import IntegrityError, TransactionManagementError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from federation import handlers
from federation.actors import ActorDirectory
from federation.boundary import admit_peer, inbound_decision, inbound_kind, refused_peer
from federation.client import authority_of, origin_of
from federation.errors import FederationError, SignatureError
from federation.handlers.context import HandlerContext, Known, NetworkNeeded
from federation.signatures import HttpRequestView
from federation.verify import KeyUnavailable, RequestVerifier
from federation.vocabulary import VocabularyError, id_of, normalise
from node.models import Account, Follow, InboxItem, Post, ReviewItem
from node.policy import Decision, explain
from node.services import audit
from node.services.policy import (
    CrossingCounts,
    PolicyStore,
    count_crossing,
    note_peer_request,
    redacted_html,
)
from node.site import Site
from node.streaming import EventBroker

log = logging.getLogger(__name__)

# How often an item awaiting its key is retried, and for how long.
KEY_RETRY_SECONDS = 30.0
KEY_WAIT_LIMIT = dt.timedelta(hours=6)
BATCH = 50
# Oversized bodies up to this size are read and discarded, so the peer gets its 413.
DRAIN_LIMIT = 8 * 1024 * 1024

# The processor applies items for at most this long per transaction. On SQLite that
# transaction holds the node's only connection (and the write lock): everything else waits.
GROUP_SECONDS = 0.05
# ... and for this long only when received activities wait to be stored (SQLite).
YIELD_SECONDS = 0.005
# Fetches one activity may wait for (handlers stay far below, within their budget).
MAX_FETCHES = 64

Dispatch = Callable[[HandlerContext, dict[str, Any]], Awaitable[str]]


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

    @property
    def busy(self) -> bool:
        """True while received items wait to be written (or are being written)."""
        return self._flusher is not None and not self._flusher.done()

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
    writer: InboxWriter | None = None,
) -> Blueprint:
    bp = Blueprint("federation_inbox", __name__)
    writer = writer or InboxWriter(wake)

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


class HeldEvents(EventBroker):
    """Live events published while one activity is applied, kept until its transaction commits."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[str, Any, tuple[str, ...]]] = []

    def publish(self, name: str, data: Any, keys: Iterable[str]) -> None:
        self.held.append((name, data, tuple(keys)))


def _parsed(body: str) -> Any:
    """The JSON of a stored body, or the exception parsing it raised."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return exc


@dataclass
class _Work:
    """One inbox item on its way through a batch (kept across its attempts)."""

    item: InboxItem
    document: Any  # the parsed body, or the exception raised by parsing it
    context: HandlerContext
    events: HeldEvents
    fetches: int = 0

    @property
    def creates(self) -> str | None:
        """The id of the object a Create activity embeds, else None (before normalising)."""
        document = self.document
        if not isinstance(document, dict) or document.get("type") != "Create":
            return None
        inner = document.get("object")
        return (
            inner.get("id")
            if isinstance(inner, dict) and isinstance(inner.get("id"), str)
            else None
        )


@dataclass
class _Batch:
    """The items taken from the queue, and what has been read ahead for them."""

    queue: deque[_Work]
    known: Known
    read_ahead: set[int] = field(default_factory=set)  # item ids whose rows are in ``known``
    alone_through: int = 0  # after a group failed: its items go one per transaction

    def forget(self) -> None:
        self.known.forget()
        self.read_ahead.clear()


@dataclass
class _Outcome:
    """What applying one item leaves for its group's transaction to write, and to announce."""

    item: InboxItem
    state: str = "failed"
    error: str | None = None
    audit: audit.NewEntry | None = None
    crossed: bool = False
    events: list[tuple[str, Any, tuple[str, ...]]] = field(default_factory=list)
    # Only a Create leaves what was read ahead for the next items true.
    keeps_known: bool = False


class _GroupFailed(Exception):
    """A group's transaction did not commit (the cause is chained); ``size`` items it covered."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class InboxProcessor:
    """Moves received activities through their states, in arrival order.

    Items are applied in groups, one transaction per group: each item in its
    own savepoint (policy decision, review item, effects), then the group's
    audit entries (:func:`audit.append_many`), per-peer counters and item
    states, then one commit. An item's effects and its new state therefore
    commit together; an item whose handler fails is undone alone and ends
    ``failed``. Live events go out after the commit. Handlers run offline in
    the transaction: when one needs a remote document, the group commits what
    precedes, the fetch happens outside any transaction, and the item is
    applied again.
    """

    def __init__(
        self,
        verifier: RequestVerifier,
        site: Site,
        directory: ActorDirectory,
        wake: asyncio.Event,
        *,
        writer: InboxWriter | None = None,
        dispatch: Dispatch = handlers.dispatch,
        poll_seconds: float = 1.0,
        group_seconds: float = GROUP_SECONDS,
    ) -> None:
        self.verifier = verifier
        self.site = site
        self.policy = site.policy
        self.directory = directory
        self.dispatch = dispatch
        self.wake = wake
        self.poll_seconds = poll_seconds
        self.group_seconds = group_seconds
        self.writer = writer

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
        """Apply up to BATCH pending items, oldest first; returns how many were taken."""
        items = await InboxItem.filter(state="pending").order_by("id").limit(BATCH)
        if not items:
            return 0
        known = Known()
        batch = _Batch(deque(self._work(item, known) for item in items), known)
        queue = batch.queue
        while queue:
            alone = queue[0].item.id <= batch.alone_through
            try:
                need = await self._run_group(batch, limit=1 if alone else BATCH)
            except _GroupFailed as failed:
                batch.forget()  # read in a transaction that did not commit
                if alone:
                    await self._fail_alone(queue.popleft().item, failed)
                else:
                    log.warning("inbox: a group of %s items failed; applying them one by one",
                                failed.size, exc_info=failed.__cause__)  # fmt: skip
                    batch.alone_through = queue[min(failed.size, len(queue)) - 1].item.id
                continue
            if need is not None:
                work = queue[0]
                work.fetches += 1
                if work.fetches > MAX_FETCHES:  # handlers fetch within a budget: a bug otherwise
                    await self._fail_alone(queue.popleft().item, RuntimeError("fetch loop"))
                    continue
                await need.fetch()
        return len(items)

    def _work(self, item: InboxItem, known: Known) -> _Work:
        events = HeldEvents()
        site = dataclasses.replace(self.site, events=events)
        context = HandlerContext(site, self.directory, offline=True, known=known)
        return _Work(item, _parsed(item.body), context, events)

    async def _run_group(self, batch: _Batch, limit: int) -> NetworkNeeded | None:
        """Apply items from the front of the queue in one transaction, for about group_seconds.

        Committed items leave the queue. Returns what the item now at the front
        needs fetched first, if that is why the group ended. Raises _GroupFailed
        when the transaction could not commit (nothing of the group was stored).
        """
        queue = batch.queue
        outcomes: list[_Outcome] = []
        need: NetworkNeeded | None = None
        try:
            async with in_transaction() as conn:
                started = time.monotonic()
                # SQLite has one connection: received items wait for this transaction.
                writer = self.writer if conn.capabilities.dialect == "sqlite" else None
                await self._read_ahead(batch, limit)
                for work in queue:
                    try:
                        outcome = await self._attempt(work)
                    except NetworkNeeded as exc:
                        need = exc
                        break
                    outcomes.append(outcome)
                    if not outcome.keeps_known:
                        batch.forget()
                    spent = time.monotonic() - started
                    if (
                        len(outcomes) >= limit
                        or spent >= self.group_seconds
                        or (writer is not None and writer.busy and spent >= YIELD_SECONDS)
                    ):
                        break
                await self._write(outcomes)
        except Exception as exc:
            # Its size covers the item it was applying when it failed.
            raise _GroupFailed(len(outcomes) + 1) from exc
        for _ in outcomes:
            queue.popleft()
        for outcome in outcomes:
            if outcome.error:
                log.info("inbox: %s %s: %s", outcome.item.activity_id, outcome.state, outcome.error)
            for name, data, keys in outcome.events:
                self.site.events.publish(name, data, keys)
        return need

    @staticmethod
    async def _read_ahead(batch: _Batch, limit: int) -> None:
        """What the next Creates will ask for, in three queries instead of three per item:
        their actors, which of their posts are not stored yet, and their authors' local
        followers."""
        works = [
            w for w in itertools.islice(batch.queue, limit) if w.item.id not in batch.read_ahead
        ]
        creates = [w for w in works if w.creates is not None]
        batch.read_ahead.update(w.item.id for w in works)
        if not creates:
            return
        known = batch.known
        missing = list({w.item.actor_uri for w in creates} - known.actors.keys())
        if missing:
            known.actors.update({a.uri: a for a in await Account.filter(uri__in=missing)})
        uris = list({w.creates for w in creates if w.creates is not None})
        stored = set(await Post.filter(uri__in=uris).values_list("uri", flat=True))
        known.absent_posts.update(uri for uri in uris if uri not in stored)
        authors = {
            known.actors[w.item.actor_uri].id for w in creates if w.item.actor_uri in known.actors
        } - known.local_followers.keys()
        if authors:
            rows = await Follow.filter(followee_id__in=authors, follower__domain="").values_list(
                "followee_id", "follower_id", "state"
            )
            for author in authors:
                known.local_followers[author] = []
            for followee, follower, state in rows:
                known.local_followers[int(followee)].append((int(follower), str(state)))

    async def _attempt(self, work: _Work) -> _Outcome:
        """Apply one item in its own savepoint; when it raises NetworkNeeded nothing is kept."""
        item = work.item
        outcome = _Outcome(item)
        work.context.begin_attempt()
        work.events.held.clear()
        try:
            async with in_transaction():
                if isinstance(work.document, Exception):
                    raise work.document
                activity = normalise(work.document)
                outcome.keeps_known = activity.get("type") == "Create"
                admitted = await self._apply_policy(item, activity, outcome)
                if admitted is not None:
                    result = await self.dispatch(work.context, admitted)
                    outcome.state = "unhandled" if result.startswith("unhandled") else "processed"
                    if result.startswith("rejected"):
                        outcome.state = "rejected"
                    outcome.error = None if outcome.state == "processed" else result
        except (NetworkNeeded, TransactionManagementError):
            raise  # a savepoint that could not be undone fails the whole group
        except VocabularyError as exc:
            outcome.state, outcome.error = "failed", f"not a usable activity: {exc.reason}"
        except FederationError as exc:
            outcome.state, outcome.error = "failed", exc.reason
        except Exception as exc:
            # A bug in one handler must not stop the queue; the item keeps the reason.
            log.exception("inbox: processing %s failed", item.activity_id)
            outcome.state, outcome.error = "failed", f"internal error: {type(exc).__name__}"
        else:
            outcome.events = list(work.events.held)
        return outcome

    async def _apply_policy(
        self, item: InboxItem, activity: dict[str, Any], outcome: _Outcome
    ) -> dict[str, Any] | None:
        """The activity as admitted by the inbound policy, or None when denied or held.

        The decision's audit entry and counter go to ``outcome`` (and, with a
        denial or a hold, its final state).
        """
        decision = await inbound_decision(self.policy, activity, item.peer_domain)
        if (
            decision.outcome == "hold"
            and await ReviewItem.filter(inbox_item_id=item.id, state="approved").exists()
        ):
            return activity  # an admin already released it
        inner = activity.get("object")
        label = inner.get("classification") if isinstance(inner, dict) else None
        outcome.audit = audit.decision_entry(
            decision, object_id=item.activity_id, actor=item.actor_uri, label=label
        )
        outcome.crossed = decision.crosses
        if decision.outcome == "deny":
            outcome.state, outcome.error = "rejected", f"policy: {explain(decision)}"
            return None
        if decision.outcome == "hold":
            await ReviewItem.create(
                direction="inbound",
                peer_domain=item.peer_domain,
                inbox_item=item,
                reasons=[{"rule": r.rule_id, "code": r.code, "message": r.message}
                         for r in decision.decisive()],
            )  # fmt: skip
            outcome.state, outcome.error = "held", f"policy: {explain(decision)}"
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
    async def _write(outcomes: list[_Outcome]) -> None:
        """The group's audit entries, peer counters and item states (in its transaction)."""
        # Audit first: on PostgreSQL its lock is then held only until the commit just after.
        await audit.append_many([o.audit for o in outcomes if o.audit is not None])
        counts = CrossingCounts()
        for outcome in outcomes:
            if outcome.audit is not None:
                counts.add(outcome.item.peer_domain, "inbound", outcome.crossed)
        await counts.flush()
        finished: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        for outcome in outcomes:
            finished[(outcome.state, outcome.error)].append(outcome.item.id)
        moment = dt.datetime.now(dt.UTC)
        for (state, error), ids in finished.items():
            await InboxItem.filter(id__in=ids).update(
                state=state, last_error=error, processed_at=moment, attempts=F("attempts") + 1
            )

    async def _fail_alone(self, item: InboxItem, failure: Exception) -> None:
        """An item that cannot be committed even alone ends ``failed`` (nothing of it stored)."""
        cause = failure.__cause__ or failure
        log.error("inbox: %s could not be stored", item.activity_id, exc_info=cause)
        await self._finish(item, "failed", f"internal error: {type(cause).__name__}")

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
