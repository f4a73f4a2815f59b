"""The boundary policy in force on this node, and the crossings it decides.

:class:`PolicyStore` holds the newest :class:`~node.models.PolicyVersion` as a
parsed snapshot; a change made by another process (the CLI) is picked up within
a second, without a restart. The ``*_crossing`` functions describe a post,
reaction, follow or profile as the pure engine (:mod:`node.policy`) needs it —
delivery, the inbox and the author preview all call these same functions, so a
preview can never disagree with what really happens.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from node.models import Account, GroupMembership, PeerRequest, PeerStats, PolicyVersion, Post
from node.policy import (
    Crossing,
    Decision,
    Kind,
    PolicySnapshot,
    Recipient,
    evaluate,
    parse_policy_file,
    policy_to_toml,
)
from node.policy.kinds import normalise_domain
from node.services import audit
from node.services.content import html_to_text

# New nodes federate with nobody until an admin allows peers (allowlist mode).
DEFAULT_POLICY = """\
# Fedwall boundary policy. See the README's "Boundary policy" section.
federation_mode = "allowlist"
labels = ["public", "internal", "confidential", "restricted"]
default_label = "internal"
"""
RELOAD_SECONDS = 1.0


class PolicyStore:
    """The current policy snapshot of one node, cached and reloaded when a new version appears."""

    def __init__(self) -> None:
        self._snapshot: PolicySnapshot | None = None
        self._checked = 0.0

    async def current(self) -> PolicySnapshot:
        """The snapshot in force (cheap: the version number is checked at most once a second)."""
        now = time.monotonic()
        if self._snapshot is not None and now - self._checked < RELOAD_SECONDS:
            return self._snapshot
        self._checked = now
        latest = await PolicyVersion.all().order_by("-version").first()
        if latest is None:
            if self._snapshot is None or self._snapshot.version != 0:
                self._snapshot = parse_policy_file(DEFAULT_POLICY, 0)
            return self._snapshot
        if self._snapshot is None or self._snapshot.version != latest.version:
            self._snapshot = parse_policy_file(latest.source, latest.version)
        return self._snapshot

    async def source(self) -> str:
        latest = await PolicyVersion.all().order_by("-version").first()
        return latest.source if latest else DEFAULT_POLICY

    async def apply(self, source: str, author: str, comment: str = "") -> PolicySnapshot:
        """Validate and store a new version (raises PolicyFileError, changing nothing)."""
        async with in_transaction():
            latest = await PolicyVersion.all().order_by("-version").first()
            version = (latest.version if latest else 0) + 1
            snapshot = parse_policy_file(source, version)
            await PolicyVersion.create(
                version=version, source=source, author=author, comment=comment
            )
            await audit.append(
                "policy.changed",
                actor=author,
                policy_version=version,
                details={"comment": comment, "previous_version": version - 1},
            )
        self._snapshot = snapshot
        self._checked = time.monotonic()
        return snapshot

    async def apply_snapshot(
        self, snapshot: PolicySnapshot, author: str, comment: str
    ) -> PolicySnapshot:
        """Store an edited snapshot (e.g. a peer allowed from the CLI) as a new version."""
        return await self.apply(policy_to_toml(snapshot), author, comment)

    def forget(self) -> None:
        self._snapshot = None


# ----------------------------------------------------------------- crossings


def _plain(markup: str) -> str:
    return html_to_text(markup) if markup else ""


def post_fields(post: Post) -> dict[str, str]:
    """Every text of a post that crosses, by field name."""
    fields = {"content": _plain(post.content_html) or post.content_source}
    if post.summary:
        fields["summary"] = post.summary
    for index, attachment in enumerate(post.attachments or []):
        description = attachment.get("description")
        if description:
            fields[f"attachment.{index}.description"] = description
    return fields


def post_kind(post: Post) -> Kind:
    if post.visibility == "direct":
        return "direct_messages"
    return "replies" if post.in_reply_to_uri else "posts"


async def groups_of(account_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """The group names of each account (accounts in no group map to an empty set)."""
    ids = list(set(account_ids))
    found: dict[int, set[str]] = {i: set() for i in ids}
    if ids:
        rows = await GroupMembership.filter(account_id__in=ids).prefetch_related("group")
        for row in rows:
            found[row.account_id].add(row.group.name)  # type: ignore[attr-defined]
    return {i: frozenset(names) for i, names in found.items()}


async def post_crossing(
    post: Post,
    author: Account,
    peer: str,
    recipients: Sequence[Account],
    now: dt.datetime,
    *,
    direction: str = "outbound",
) -> Crossing:
    """The crossing of ``post`` to (or from) ``peer``, whose ``recipients`` it addresses."""
    groups = await groups_of([author.id, *(r.id for r in recipients)])
    return Crossing(
        direction=direction,  # type: ignore[arg-type]
        peer=peer,
        kind=post_kind(post),
        now=now,
        label=post.label,
        fields=post_fields(post),
        has_media=bool(post.attachments),
        author=f"{author.username}@{author.domain}" if author.domain else author.username,
        author_groups=groups.get(author.id, frozenset()) if author.is_local else frozenset(),
        recipients=tuple(
            Recipient(
                handle=r.username if r.is_local else f"{r.username}@{r.domain}",
                groups=groups.get(r.id, frozenset()),
            )
            for r in recipients
            if post.visibility == "direct" and (r.is_local != author.is_local)
        ),
    )


def simple_crossing(
    direction: str,
    peer: str,
    kind: Kind,
    now: dt.datetime,
    *,
    label: str | None = None,
    author: Account | None = None,
    author_groups: frozenset[str] = frozenset(),
    fields: Mapping[str, str] | None = None,
) -> Crossing:
    """A crossing without post content: a follow, a reaction, a profile lookup."""
    return Crossing(
        direction=direction,  # type: ignore[arg-type]
        peer=peer,
        kind=kind,
        now=now,
        label=label,
        fields=dict(fields or {}),
        author=author.username if author else None,
        author_groups=author_groups,
    )


def profile_field_key(name: str) -> str:
    """The crossing field of a profile field: ``Job title`` → ``profile.job_title``."""
    return "profile." + re.sub(r"\W+", "_", name.strip().lower()).strip("_")


def profile_fields(account: Account) -> dict[str, str]:
    """A local account's profile fields as crossing fields (``profile.<name>``)."""
    fields = {}
    if account.email:
        fields["profile.email"] = account.email
    for item in account.profile_fields or []:
        key = profile_field_key(str(item.get("name", "")))
        if key != "profile.":
            fields[key] = str(item.get("value", ""))
    return fields


# ----------------------------------------------------------------- the person's choice
#
# Each item of ``Account.profile_fields`` may carry ``shared_with``: peer domains, or
# ``["*"]`` for every node the policy allows; ``[]`` keeps the field on this node. The
# policy stays the ceiling: a field reaches a peer only when both let it.

#: In ``shared_with``: every node the policy lets the field cross to.
EVERY_NODE = "*"
MAX_SHARED_WITH = 50
# A peer domain as nodes name each other: DNS labels, and a port on development nodes.
_NODE_DOMAIN = re.compile(
    r"^(?=.{1,253}(:|$))[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$"
)
#: The requester of an unsigned fetch, judged as a node without an agreement.
ANONYMOUS_PEER = "anonymous.invalid"


def is_share_target(text: str) -> bool:
    """True for ``"*"`` and for a domain-like peer name (``sales.example``, ``localhost:8001``)."""
    target = normalise_domain(text)
    return target == EVERY_NODE or bool(_NODE_DOMAIN.match(target))


def normalised_shared_with(targets: Iterable[str]) -> list[str]:
    """``shared_with`` as stored: ``["*"]`` when it covers every node, else sorted domains."""
    chosen = {normalise_domain(target) for target in targets}
    return [EVERY_NODE] if EVERY_NODE in chosen else sorted(chosen)


def shared_with(item: Mapping[str, object]) -> frozenset[str]:
    """The nodes a person shares one profile field with (``{"*"}``: every node allowed).

    A field without ``shared_with`` is shared with every node, as before people could
    choose; a malformed value keeps the field on this node.
    """
    raw = item.get("shared_with")
    if raw is None:
        return frozenset({EVERY_NODE})
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(normalise_domain(t) for t in raw if isinstance(t, str) and t.strip())


def sharing_by_name(fields: Iterable[Mapping[str, object]]) -> dict[str, list[str]]:
    """Each field name's ``shared_with`` as stored (the first field of a name counts).

    For carrying people's choices over to a new list of fields that lacks them.
    """
    found: dict[str, list[str]] = {}
    for item in fields:
        found.setdefault(str(item.get("name", "")), normalised_shared_with(shared_with(item)))
    return found


def stored_profile_field(name: str, value: str, targets: Sequence[str]) -> dict[str, Any]:
    """A profile field as ``Account.profile_fields`` holds it.

    ``shared_with`` is left out when it is ``["*"]``, which is what its absence means.
    """
    item: dict[str, Any] = {"name": name, "value": value}
    nodes = normalised_shared_with(targets)
    if nodes != [EVERY_NODE]:
        item["shared_with"] = nodes
    return item


def shares_with(item: Mapping[str, object], peer: str | None) -> bool:
    """True when the person shares this field with ``peer`` (None: an anonymous requester)."""
    targets = shared_with(item)
    return EVERY_NODE in targets or (peer is not None and normalise_domain(peer) in targets)


def fields_shared_with(account: Account, peer: str | None) -> dict[str, str]:
    """The crossing fields of :func:`profile_fields` that the person shares with ``peer``.

    ``peer=None`` is an anonymous, unsigned requester: only fields shared with ``"*"``.
    Two fields with the same crossing name cross only when both are shared, so hiding
    one of them hides the other too. ``profile.email`` is not a profile field people
    choose for; it stays as it is.
    """
    hidden = {
        profile_field_key(str(item.get("name", "")))
        for item in account.profile_fields or []
        if not shares_with(item, peer)
    }
    return {key: text for key, text in profile_fields(account).items() if key not in hidden}


def profile_crossing(
    snapshot: PolicySnapshot, peer: str, fields: Mapping[str, str], now: dt.datetime
) -> dict[str, str]:
    """The profile ``fields`` that cross to ``peer`` under the policy (possibly redacted).

    Nothing crosses when the lookup is denied or held: a fetch cannot wait for review.
    """
    decision = evaluate(
        snapshot, simple_crossing("outbound", peer, "profile_lookups", now, fields=fields)
    )
    if not decision.crosses:
        return {}
    return dict(decision.transformed if decision.transformed is not None else fields)


def field_values(account: Account, crossing_fields: Mapping[str, str]) -> dict[str, str]:
    """Name -> value of the account's profile fields among ``crossing_fields``, with the
    crossing's value (a rule may have redacted it)."""
    shown = {}
    for item in account.profile_fields or []:
        name = str(item.get("name", ""))
        key = profile_field_key(name)
        if key in crossing_fields:
            shown[name] = crossing_fields[key]
    return shown


def visible_profile_values(
    snapshot: PolicySnapshot, account: Account, peer: str | None, now: dt.datetime
) -> dict[str, str]:
    """Name -> value of the profile fields ``peer`` sees: shared by the person and let
    cross, with the values the policy leaves (redactions applied).

    ``peer=None`` is an unsigned requester: fields shared with every node, under the
    terms the policy gives a node without an agreement (nothing in allowlist mode).
    """
    fields = fields_shared_with(account, peer)
    return field_values(account, profile_crossing(snapshot, peer or ANONYMOUS_PEER, fields, now))


def visible_profile_fields(
    snapshot: PolicySnapshot, account: Account, peer: str | None, now: dt.datetime
) -> set[str]:
    """Names of the profile fields ``peer`` sees (see :func:`visible_profile_values`)."""
    return set(visible_profile_values(snapshot, account, peer, now))


def sharing_peers(snapshot: PolicySnapshot, now: dt.datetime) -> list[str]:
    """Peer domains a person can choose to share profile fields with: allowed agreements.

    Wildcard agreements (``*.corp.example``) are left out: their nodes get the fields
    shared with every node.
    """
    return sorted(
        domain
        for domain, agreement in snapshot.peers.items()
        if agreement.status == "allowed"
        and not domain.startswith("*.")
        and (agreement.expires is None or agreement.expires > now)
    )


async def decide(store: PolicyStore, crossing: Crossing) -> Decision:
    """Evaluate ``crossing`` against the policy in force."""
    return evaluate(await store.current(), crossing)


def redacted_html(text: str) -> str:
    """HTML for a redacted plain-text copy (links and mentions become plain text)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


# ----------------------------------------------------------------- peers seen


async def note_peer_request(domain: str, tried: str) -> None:
    """Record that a peer not allowed here tried something (for the admin to approve or deny)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    request = await PeerRequest.get_or_none(domain=domain)
    if request is None:
        await PeerRequest.create(
            domain=domain, attempts=[{"at": now, "tried": tried}], attempt_count=1
        )
        return
    attempts = [*(request.attempts or [])[-19:], {"at": now, "tried": tried}]
    await PeerRequest.filter(domain=domain).update(
        attempts=attempts,
        attempt_count=request.attempt_count + 1,
        last_seen_at=dt.datetime.now(dt.UTC),
    )


async def count_crossing(domain: str, direction: str, allowed: bool) -> None:
    """Traffic counters per peer, for the admin overview."""
    counts = CrossingCounts()
    counts.add(domain, direction, allowed)
    await counts.flush()


class CrossingCounts:
    """Per-peer traffic counters gathered in memory, then added to :class:`PeerStats` at once.

    What :func:`count_crossing` does per crossing, for a whole batch: one
    ``UPDATE`` per peer instead of a read and a write per crossing.
    """

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, domain: str, direction: str, allowed: bool) -> None:
        self._counts[(domain, f"{direction}_{'allowed' if allowed else 'denied'}")] += 1

    def by_peer(self) -> dict[str, dict[str, int]]:
        """Domain -> column -> count, as :meth:`flush` would add them."""
        peers: dict[str, dict[str, int]] = {}
        for (domain, column), count in self._counts.items():
            peers.setdefault(domain, {})[column] = count
        return peers

    async def flush(self) -> None:
        """Add the counts (in the caller's transaction, if any) and start again from zero."""
        if not self._counts:
            return
        if isinstance(PeerStats._meta.db, TransactionalDBClient):
            await self._add()
        else:
            async with in_transaction():
                await self._add()
        self._counts.clear()

    async def _add(self) -> None:
        moment = dt.datetime.now(dt.UTC)
        # In domain order, so two writers never wait for each other's rows in a cycle.
        for domain, columns in sorted(self.by_peer().items()):
            increments = {column: F(column) + count for column, count in columns.items()}
            if await PeerStats.filter(domain=domain).update(**increments, last_contact_at=moment):
                continue
            try:
                async with in_transaction():  # a concurrent first contact may create it first
                    await PeerStats.create(
                        domain=domain,
                        last_contact_at=moment,
                        **columns,  # type: ignore[arg-type]
                    )
            except IntegrityError:
                await PeerStats.filter(domain=domain).update(**increments, last_contact_at=moment)
