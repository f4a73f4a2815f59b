"""Outbound federation: the transactional outbox becomes durable, signed deliveries.

:class:`OutboxProcessor` turns each committed :class:`~node.models.OutboxEvent`
into an activity and one :class:`~node.models.Delivery` row per inbox (one per
shared inbox, not per follower), in one transaction with marking the event
done. :class:`DeliveryWorker` sends due deliveries, moving each through
``pending → in_flight → delivered | retrying → … → dead``; a peer that is
down is paused by a circuit breaker and never holds up others.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import html
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from tortoise.transactions import in_transaction

from federation import documents
from federation.backoff import CircuitBreaker, RetryPolicy, is_permanent_failure
from federation.client import FederationClient
from federation.errors import OutboundError
from federation.keys import KeyStore
from node.models import (
    Account,
    Delivery,
    Follow,
    KeyPair,
    Like,
    Mention,
    OutboxEvent,
    Post,
    PostTag,
    Share,
)
from node.policy import Decision, Kind, explain
from node.services import audit, notifications, reviews
from node.services.accounts import NODE_ACTOR_USERNAME
from node.services.outbox import WAKE_KEY
from node.services.policy import (
    count_crossing,
    decide,
    fields_shared_with,
    groups_of,
    post_crossing,
    post_kind,
    profile_field_key,
    redacted_html,
    simple_crossing,
)
from node.site import Site

log = logging.getLogger(__name__)

BATCH = 100
LEASE = dt.timedelta(minutes=2)
MAX_ERROR_LENGTH = 500


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Outgoing:
    """One activity to send, on behalf of ``sender``, to the inboxes of ``recipients``.

    ``kind`` is what the boundary policy calls it; ``post`` is set when the
    activity carries a post's content, ``label`` when it refers to a post.
    """

    activity: dict[str, Any]
    sender: Account
    recipients: Sequence[Account]
    kind: Kind
    post: Post | None = None
    label: str | None = None


def inboxes(recipients: Iterable[Account]) -> dict[str, str]:
    """``inbox url → peer domain`` for remote recipients, one per shared inbox."""
    found: dict[str, str] = {}
    for account in recipients:
        if account.is_local or account.disabled:
            continue
        inbox = account.shared_inbox_url or account.inbox_url
        if inbox:
            found.setdefault(inbox, account.domain)
    return found


async def _remote_followers(account: Account) -> list[Account]:
    """One remote follower per distinct inbox: what delivering to all of them needs.

    Activities to followers are never direct messages, so the policy decides them per
    peer without looking at individual recipients; a post by an author with 10,000
    followers on M nodes loads M accounts, not 10,000.
    """
    rows = (
        await Account.filter(
            following_rel__followee_id=account.id,
            following_rel__state="accepted",
            disabled=False,
        )
        .exclude(domain="")
        .values_list("id", "shared_inbox_url", "inbox_url")
    )
    chosen: dict[str, int] = {}
    for follower_id, shared_inbox, inbox in rows:
        chosen.setdefault(str(shared_inbox or inbox), int(follower_id))
    return await Account.filter(id__in=list(chosen.values()))


class ActivityBuilder:
    """Turns outbox events into activities and their recipients."""

    def __init__(self, site: Site) -> None:
        self.site = site

    async def build(self, event: OutboxEvent) -> list[Outgoing]:
        method = getattr(self, "_" + event.kind.replace(".", "_"), None)
        if method is None:
            log.warning("outbox: no builder for event kind %s", event.kind)
            return []
        result: list[Outgoing] = await method(event, event.payload)
        return result

    async def _post_parts(self, post_id: int) -> tuple[Post, dict[str, Any], list[Account]] | None:
        post = await Post.get_or_none(id=post_id).prefetch_related("author")
        if post is None or post.visibility == "node" or not post.local:
            return None
        mentions = await Mention.filter(post_id=post.id).prefetch_related("account")
        mentioned = [m.account for m in mentions]
        tags = list(await PostTag.filter(post_id=post.id).values_list("name", flat=True))
        note = documents.note_object(
            self.site, post, post.author, mentioned, [str(t) for t in tags], post.in_reply_to_uri
        )
        recipients = list(mentioned)
        if post.visibility in ("public", "followers"):
            recipients += await _remote_followers(post.author)
        return post, note, recipients

    async def _post_created(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        parts = await self._post_parts(int(payload["post_id"]))
        if parts is None or parts[0].deleted_at is not None:
            return []
        post, note, recipients = parts
        activity = documents.create_activity(note, post.author.uri)
        return [Outgoing(activity, post.author, recipients, post_kind(post), post=post)]

    async def _post_updated(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        parts = await self._post_parts(int(payload["post_id"]))
        if parts is None or parts[0].deleted_at is not None:
            return []
        post, note, recipients = parts
        activity = documents.update_activity(note, post.author.uri, post.edited_at or now())
        return [Outgoing(activity, post.author, recipients, post_kind(post), post=post)]

    async def _post_deleted(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        post = await Post.get_or_none(id=int(payload["post_id"])).prefetch_related("author")
        if post is None or post.visibility == "node" or not post.local:
            return []
        mentions = await Mention.filter(post_id=post.id).prefetch_related("account")
        mentioned = [m.account for m in mentions]
        to, cc = documents.addressing(post, post.author, mentioned)
        recipients = list(mentioned)
        if post.visibility in ("public", "followers"):
            recipients += await _remote_followers(post.author)
        activity = documents.delete_activity(
            post.uri, post.author.uri, to, cc, deleted=post.deleted_at
        )
        return [Outgoing(activity, post.author, recipients, post_kind(post), post=post)]

    async def _like_created(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        like = await Like.get_or_none(id=int(payload["like_id"])).prefetch_related(
            "account", "post__author"
        )
        if like is None or like.uri is None or like.post.author.is_local:
            return []
        activity = documents.like_activity(
            like.uri, like.account.uri, like.post.uri, to=[like.post.author.uri]
        )
        return [
            Outgoing(activity, like.account, [like.post.author], "reactions", label=like.post.label)
        ]

    async def _like_deleted(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        account = await Account.get_or_none(id=int(payload["account_id"]))
        post = await Post.get_or_none(id=int(payload["post_id"])).prefetch_related("author")
        if account is None or post is None or post.author.is_local or not payload.get("like_uri"):
            return []
        inner = documents.like_activity(
            payload["like_uri"], account.uri, post.uri, to=[post.author.uri]
        )
        activity = documents.undo_activity(f"{payload['like_uri']}#undo", account.uri, inner)
        return [Outgoing(activity, account, [post.author], "reactions", label=post.label)]

    async def _share_created(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        shared = await Share.get_or_none(id=int(payload["share_id"])).prefetch_related(
            "account", "post__author"
        )
        if shared is None or shared.uri is None or shared.post.visibility != "public":
            return []
        activity = documents.announce_activity(
            shared.uri,
            shared.account.uri,
            shared.post.uri,
            shared.created_at,
            shared.account.followers_url or f"{shared.account.uri}/followers",
            object_author_uri=shared.post.author.uri,
        )
        recipients = [*await _remote_followers(shared.account), shared.post.author]
        return [
            Outgoing(activity, shared.account, recipients, "reactions", label=shared.post.label)
        ]

    async def _share_deleted(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        account = await Account.get_or_none(id=int(payload["account_id"]))
        post = await Post.get_or_none(id=int(payload["post_id"])).prefetch_related("author")
        if (
            account is None
            or post is None
            or post.visibility != "public"
            or not payload.get("share_uri")
        ):
            return []
        inner = documents.announce_activity(
            payload["share_uri"],
            account.uri,
            post.uri,
            event.created_at,
            account.followers_url or f"{account.uri}/followers",
            object_author_uri=post.author.uri,
        )
        activity = documents.undo_activity(f"{payload['share_uri']}#undo", account.uri, inner)
        recipients = [*await _remote_followers(account), post.author]
        return [Outgoing(activity, account, recipients, "reactions", label=post.label)]

    async def _account_updated(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        account = await Account.get_or_none(id=int(payload["account_id"]))
        if account is None or not account.is_local:
            return []
        key = await KeyPair.filter(account_id=account.id).order_by("-id").first()
        if key is None:
            return []
        document = documents.actor_document(self.site, account, key)
        activity = documents.update_activity(document, account.uri, account.updated_at)
        return [Outgoing(activity, account, await _remote_followers(account), "profile_lookups")]

    async def _follow_created(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        relation = await Follow.get_or_none(id=int(payload["follow_id"])).prefetch_related(
            "follower", "followee"
        )
        if relation is None or relation.uri is None:
            return []
        activity = documents.follow_activity(
            relation.uri, relation.follower.uri, relation.followee.uri
        )
        return [Outgoing(activity, relation.follower, [relation.followee], "follows")]

    async def _follow_accepted(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        relation = await Follow.get_or_none(id=int(payload["follow_id"])).prefetch_related(
            "follower", "followee"
        )
        if relation is None or relation.uri is None:
            return []
        follow = documents.follow_activity(
            relation.uri, relation.follower.uri, relation.followee.uri
        )
        activity = documents.accept_activity(
            relation.followee.uri,
            follow,
            activity_id=f"{relation.followee.uri}#accepts/{event.id}",
            follower_uri=relation.follower.uri,
        )
        return [Outgoing(activity, relation.followee, [relation.follower], "follows")]

    async def _follow_rejected(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        return await self._follow_ended(event, payload, reject=True)

    async def _follow_deleted(self, event: OutboxEvent, payload: dict[str, Any]) -> list[Outgoing]:
        return await self._follow_ended(event, payload, reject=False)

    async def _follow_ended(
        self, event: OutboxEvent, payload: dict[str, Any], *, reject: bool
    ) -> list[Outgoing]:
        follower = await Account.get_or_none(id=int(payload["follower_id"]))
        followee = await Account.get_or_none(id=int(payload["followee_id"]))
        follow_uri = payload.get("follow_uri")
        if follower is None or followee is None or not follow_uri:
            return []
        follow = documents.follow_activity(follow_uri, follower.uri, followee.uri)
        if reject:
            activity = documents.reject_activity(
                followee.uri,
                follow,
                activity_id=f"{followee.uri}#rejects/{event.id}",
                follower_uri=follower.uri,
            )
            return [Outgoing(activity, followee, [follower], "follows")]
        activity = documents.undo_activity(f"{follow_uri}#undo/{event.id}", follower.uri, follow)
        return [Outgoing(activity, follower, [followee], "follows")]


# The event key on which services announce a committed outbox event (see OutboxProcessor.run).
OUTBOX_KEY = WAKE_KEY


class OutboxProcessor:
    """Reads committed outbox events in order and writes their deliveries."""

    def __init__(self, site: Site, dialect: str, wake_deliveries: asyncio.Event) -> None:
        self.builder = ActivityBuilder(site)
        self.dialect = dialect
        self.wake_deliveries = wake_deliveries
        self.wake = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        # Services announce committed outbox events on OUTBOX_KEY (live messages must not
        # wait for the poll); the poll stays for other processes and silent writers.
        async with self.builder.site.events.subscribe([OUTBOX_KEY]) as announced:
            forwarder = asyncio.create_task(self._forward(announced))
            try:
                while not stopping.is_set():
                    self.wake.clear()
                    if await self.process_batch():
                        continue
                    await _wait_any(self.wake, stopping, timeout=0.5)
            finally:
                forwarder.cancel()

    async def _forward(self, announced: asyncio.Queue[Any]) -> None:
        while True:
            await announced.get()
            self.wake.set()

    async def process_batch(self) -> int:
        """Turn up to BATCH events into deliveries; returns how many events were handled."""
        handled = 0
        async with in_transaction():
            query = OutboxEvent.filter(processed_at=None).order_by("id").limit(BATCH)
            if self.dialect == "postgres":
                # Several worker processes may share the database.
                query = query.select_for_update(skip_locked=True)
            events = await query
            rows: list[Delivery] = []
            held: list[tuple[Delivery, Decision, Post | None]] = []
            for event in events:
                for outgoing in await self.builder.build(event):
                    await self._route(outgoing, rows, held)
                event.processed_at = now()
                await event.save(update_fields=["processed_at"])
                handled += 1
            if rows:
                await Delivery.bulk_create(rows, ignore_conflicts=True)
            for delivery, decision, post in held:
                stored = await Delivery.get_or_none(id=delivery.id)
                if stored is not None:  # None: the same delivery was already queued
                    # A review item for the admins, and a notice to the author.
                    await reviews.hold(stored, decision, post=post, site=self.builder.site)
        if handled:
            self.wake_deliveries.set()
        return handled

    async def _route(
        self,
        outgoing: Outgoing,
        rows: list[Delivery],
        held: list[tuple[Delivery, Decision, Post | None]],
    ) -> None:
        """Decide per destination peer, audit each decision, and queue what may cross."""
        by_peer: dict[str, list[Account]] = defaultdict(list)
        for account in outgoing.recipients:
            if not account.is_local and not account.disabled:
                by_peer[account.domain].append(account)
        moment = now()
        for peer, accounts in sorted(by_peer.items()):
            decision = await self._decide(outgoing, peer, accounts, moment)
            label = outgoing.post.label if outgoing.post else outgoing.label
            await audit.record_decision(
                decision,
                object_id=outgoing.activity.get("id"),
                actor=outgoing.sender.uri,
                label=label,
            )
            await count_crossing(peer, "outbound", decision.crosses)
            if decision.outcome == "deny":
                log.info("policy: %s", explain(decision))
                if outgoing.post is not None and outgoing.sender.is_local:
                    await self._tell_author(outgoing)
                continue
            activity = self._copy_for(outgoing, decision)
            body = orjson.dumps(activity).decode()
            holding = decision.outcome == "hold"
            for inbox in inboxes(accounts):
                delivery = Delivery(
                    activity_id=outgoing.activity["id"],
                    inbox_url=inbox,
                    peer_domain=peer,
                    sender_id=outgoing.sender.id,
                    body=body,
                    state="held" if holding else "pending",
                    next_attempt_at=moment,
                    policy_outcome=decision.outcome,
                )
                rows.append(delivery)
                if holding:
                    held.append((delivery, decision, outgoing.post))

    async def _decide(
        self, outgoing: Outgoing, peer: str, accounts: list[Account], moment: dt.datetime
    ) -> Decision:
        store = self.builder.site.policy
        if outgoing.post is not None:
            crossing = await post_crossing(outgoing.post, outgoing.sender, peer, accounts, moment)
        elif outgoing.kind == "profile_lookups":
            # Only the fields the person shares with this peer are offered to the policy.
            fields = fields_shared_with(outgoing.sender, peer)
            crossing = simple_crossing("outbound", peer, "profile_lookups", moment, fields=fields)
        else:
            groups = (await groups_of([outgoing.sender.id]))[outgoing.sender.id]
            crossing = simple_crossing(
                "outbound", peer, outgoing.kind, moment, label=outgoing.label,
                author=outgoing.sender, author_groups=groups,
            )  # fmt: skip
        return await decide(store, crossing)

    def _copy_for(self, outgoing: Outgoing, decision: Decision) -> dict[str, Any]:
        """The activity as this peer may receive it (redacted text, withheld profile fields)."""
        if outgoing.kind == "profile_lookups":
            return _profile_copy_for(outgoing, decision)
        transformed = decision.transformed
        if transformed is None:
            return outgoing.activity
        activity = copy.deepcopy(outgoing.activity)
        obj = activity.get("object")
        if not isinstance(obj, dict):
            return activity
        if "content" in transformed and "content" in obj:
            obj["content"] = redacted_html(transformed["content"])
            if isinstance(obj.get("contentMap"), dict):
                obj["contentMap"] = {lang: obj["content"] for lang in obj["contentMap"]}
        if obj.get("summary"):
            obj["summary"] = transformed.get("summary", obj["summary"])
        for index, attachment in enumerate(obj.get("attachment", [])):
            key = f"attachment.{index}.description"
            if key in transformed and isinstance(attachment, dict):
                attachment["name"] = transformed[key]
        return activity

    async def _tell_author(self, outgoing: Outgoing) -> None:
        """The author learns that a post did not reach a peer (details are in the audit log)."""
        node_actor = await Account.get_or_none(username=NODE_ACTOR_USERNAME, domain="")
        if node_actor is not None and outgoing.post is not None:
            await notifications.notify(outgoing.sender, "fedwall.policy", node_actor, outgoing.post)


def _profile_copy_for(outgoing: Outgoing, decision: Decision) -> dict[str, Any]:
    """The Update of a profile as ``decision.peer`` may receive it.

    Its ``attachment`` keeps the fields the person shares with that peer and the policy
    lets cross, also when the decision changed nothing: the others were never offered.
    """
    fields = fields_shared_with(outgoing.sender, decision.peer)
    crossing = decision.transformed if decision.transformed is not None else fields
    activity = copy.deepcopy(outgoing.activity)
    obj = activity.get("object")
    if isinstance(obj, dict) and "attachment" in obj:
        kept = []
        for item in obj["attachment"]:
            key = profile_field_key(str(item.get("name", ""))) if isinstance(item, dict) else ""
            if key in crossing:
                # The value as the policy left it (a redacting rule may have changed it).
                kept.append({**item, "value": html.escape(crossing[key])})
        obj["attachment"] = kept
    return activity


async def _wait_any(event: asyncio.Event, stopping: asyncio.Event, timeout: float) -> None:
    waiters = {asyncio.create_task(event.wait()), asyncio.create_task(stopping.wait())}
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in waiters:
        task.cancel()


class DeliveryWorker:
    """Sends due deliveries concurrently, with retries, backoff and a per-peer breaker.

    A peer that accepts connections but never answers holds a slot until the
    request times out; ``concurrency`` is large next to ``per_peer`` so that a
    few such peers leave most slots to healthy ones (see docs/performance.md).
    """

    def __init__(
        self,
        client: FederationClient,
        keys: KeyStore,
        retry: RetryPolicy,
        dialect: str,
        wake: asyncio.Event,
        concurrency: int = 64,
        per_peer: int = 4,
    ) -> None:
        self.client = client
        self.keys = keys
        self.retry = retry
        self.dialect = dialect
        self.wake = wake
        self.breaker = CircuitBreaker(
            base_seconds=retry.base_seconds, cap_seconds=retry.cap_seconds
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._peer_slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(per_peer)
        )
        self._concurrency = concurrency
        self._senders: dict[int, Account] = {}
        self._in_progress: set[asyncio.Task[None]] = set()

    async def recover(self) -> int:
        """Deliveries left in flight by a crash go back to the queue (their lease expired)."""
        return await Delivery.filter(state="in_flight", claimed_until__lt=now()).update(
            state="retrying", claimed_until=None
        )

    async def run(self, stopping: asyncio.Event) -> None:
        await Delivery.filter(state="in_flight").update(state="retrying", claimed_until=None)
        while not stopping.is_set():
            self.wake.clear()
            await self.recover()
            room = self._concurrency * 2 - len(self._in_progress)
            claimed = await self.claim(room) if room > 0 else []
            for delivery in claimed:
                task = asyncio.create_task(self.attempt(delivery))
                self._in_progress.add(task)
                task.add_done_callback(self._finished)
            if claimed:
                continue
            await _wait_any(self.wake, stopping, timeout=await self._idle_seconds())
        for task in list(self._in_progress):
            task.cancel()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_progress.discard(task)
        self.wake.set()

    async def _idle_seconds(self) -> float:
        upcoming = (
            await Delivery.filter(state__in=("pending", "retrying"))
            .order_by("next_attempt_at")
            .first()
            .values_list("next_attempt_at", flat=True)
        )
        if upcoming is None:
            return 1.0
        return max(0.05, min(1.0, (upcoming - now()).total_seconds()))  # type: ignore[operator]

    async def claim(self, limit: int) -> list[Delivery]:
        """Take up to ``limit`` due deliveries (leased, so a crash gives them back)."""
        moment = now()
        async with in_transaction():
            query = (
                Delivery.filter(state__in=("pending", "retrying"), next_attempt_at__lte=moment)
                .order_by("next_attempt_at", "id")
                .limit(limit)
            )
            if self.dialect == "postgres":
                query = query.select_for_update(skip_locked=True)
            due = await query
            claimed = []
            for delivery in due:
                paused_until = self.breaker.open_until(delivery.peer_domain, moment)
                if paused_until is not None:
                    # The peer is down: wait for the breaker without spending an attempt.
                    delivery.next_attempt_at = paused_until
                    await delivery.save(update_fields=["next_attempt_at", "updated_at"])
                    continue
                claimed.append(delivery)
            if claimed:
                await Delivery.filter(id__in=[d.id for d in claimed]).update(
                    state="in_flight", claimed_until=moment + LEASE
                )
        return claimed

    async def _sender(self, account_id: int) -> Account:
        account = self._senders.get(account_id)
        if account is None:
            account = await Account.get(id=account_id)
            self._senders[account_id] = account
        return account

    async def attempt(self, delivery: Delivery) -> None:
        """Send one delivery and record the outcome."""
        async with self._slots, self._peer_slots[delivery.peer_domain]:
            status: int | None = None
            error: str | None = None
            try:
                signer = await self.keys.signer_for(await self._sender(delivery.sender_id))  # type: ignore[attr-defined]
                response = await self.client.post_activity(
                    delivery.inbox_url, delivery.body.encode(), signer
                )
                status = response.status
            except OutboundError as exc:
                error = exc.reason
            except LookupError as exc:
                error = str(exc)
            await self._record(delivery, status, error)

    async def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        moment = now()
        delivery.attempts += 1
        delivery.last_status = status
        delivery.claimed_until = None
        if status is not None and 200 <= status < 300:
            delivery.state = "delivered"
            delivery.last_error = None  # type: ignore[assignment]  # nullable column
            self.breaker.success(delivery.peer_domain)
        elif status is not None and is_permanent_failure(status):
            delivery.state = "dead"
            delivery.last_error = f"the peer refused the activity (HTTP {status})"
            self.breaker.success(delivery.peer_domain)  # it answered: it is up
        else:
            self.breaker.failure(delivery.peer_domain, moment)
            reason = error or f"HTTP {status}"
            upcoming = self.retry.next_attempt(delivery.attempts, delivery.created_at, moment)
            if upcoming is None:
                delivery.state = "dead"
                delivery.last_error = f"gave up after {delivery.attempts} attempts: {reason}"
            else:
                delivery.state = "retrying"
                delivery.next_attempt_at = upcoming
                delivery.last_error = reason[:MAX_ERROR_LENGTH]
        if delivery.state == "dead":
            log.warning(
                "delivery %s to %s is dead: %s",
                delivery.id,
                delivery.inbox_url,
                delivery.last_error,
            )
        await delivery.save(
            update_fields=[
                "attempts", "last_status", "claimed_until", "state", "last_error",
                "next_attempt_at", "updated_at",
            ]
        )  # fmt: skip
