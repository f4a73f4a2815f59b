"""Peers and peering requests: the admin's side of the policy's peer agreements.

Every change edits the snapshot in force and stores it as a new policy version
(:meth:`PolicyStore.apply_snapshot`, with a comment saying what changed), so the
policy file stays the single source of truth and every change is versioned and
audited. A change that would leave the policy as it is stores nothing.

``allow`` and ``approve`` give new agreements the *default terms*: every kind,
labels up to the node's default label (so ordinary posts cross and anything more
sensitive needs explicit clearance), media allowed, no profile field outbound and
every profile field inbound. An agreement that already exists keeps its terms.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from tortoise.transactions import in_transaction

from node.errors import NotFound, ValidationError
from node.models import PeerRequest, PeerStats
from node.policy import (
    ALL_KINDS,
    ANY_PROFILE_FIELD,
    DIRECTIONS,
    KINDS,
    Direction,
    DirectionTerms,
    InvalidPolicyError,
    Kind,
    PeerAgreement,
    PolicySnapshot,
)
from node.policy.kinds import check_domain_pattern, domain_patterns, normalise_domain
from node.services import audit
from node.services.policy import PolicyStore
from node.translatable import translatable

# pg_advisory_xact_lock key: two admins editing peers never base their edit on the same
# version (the second waits and then edits the first one's result).
_EDIT_LOCK = 0x66_77_70_65_65_72  # "fwpeer"
REQUEST_STATES = ("pending", "approved", "denied")


@dataclass(frozen=True)
class TermsChange:
    """The terms ``limit`` sets; ``None`` keeps what the agreement has."""

    kinds: frozenset[Kind] | None = None
    max_label: str | None = None
    media: bool | None = None
    profile_fields: frozenset[str] | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))

    def applied_to(self, terms: DirectionTerms) -> DirectionTerms:
        return DirectionTerms(
            kinds=self.kinds if self.kinds is not None else terms.kinds,
            max_label=self.max_label if self.max_label is not None else terms.max_label,
            media=self.media if self.media is not None else terms.media,
            profile_fields=(
                self.profile_fields if self.profile_fields is not None else terms.profile_fields
            ),
        )


@dataclass(frozen=True)
class PeerChange:
    """The outcome of an edit: the agreement now in force and the policy version holding it."""

    domain: str
    agreement: PeerAgreement
    version: int
    changed: bool


@dataclass(frozen=True)
class PeerSummary:
    """One row of the peer list: an agreement, a peer seen in traffic, or a peering request."""

    domain: str
    # allowed | blocked | pending (agreement states), or "none" when no agreement names it.
    status: str
    agreement: PeerAgreement | None
    stats: PeerStats | None
    request: PeerRequest | None


@dataclass(frozen=True)
class PeerDetails:
    """Everything the node knows about one peer, and what its policy does with it."""

    domain: str
    federation_mode: str
    # The agreement that governs the peer (its own, or a ``*.domain`` one), if any.
    agreement: PeerAgreement | None
    blocked_by: PeerAgreement | None
    effective: str
    stats: PeerStats | None
    request: PeerRequest | None
    policy_version: int


# ----------------------------------------------------------------- helpers


def check_domain(domain: str) -> str:
    """The normalised domain (or ``*.domain`` pattern); raises ValidationError."""
    normalised = normalise_domain(domain)
    try:
        check_domain_pattern(normalised, "domain")
    except InvalidPolicyError as error:
        raise ValidationError(error.template, **error.params) from None
    return normalised


def parse_kinds(values: Iterable[str]) -> frozenset[Kind]:
    """Kind names as typed (``posts``, ``direct-messages``); raises ValidationError."""
    kinds = {v.strip().replace("-", "_") for v in values if v.strip()}
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ValidationError(
            translatable("unknown activity kind {kind!r} (expected one of {choices})"),
            kind=unknown[0],
            choices=", ".join(KINDS),
        )
    return cast(frozenset[Kind], frozenset(kinds))


def default_terms(snapshot: PolicySnapshot, direction: Direction) -> DirectionTerms:
    """The terms a newly allowed peer gets (see the module docstring)."""
    fields = frozenset() if direction == "outbound" else frozenset({ANY_PROFILE_FIELD})
    return DirectionTerms(
        kinds=ALL_KINDS, max_label=snapshot.default_label, media=True, profile_fields=fields
    )


def describe_terms(terms: DirectionTerms) -> str:
    """``posts, replies; labels up to internal; media; profile fields: title`` for people."""
    kinds = (
        "every kind"
        if terms.kinds == ALL_KINDS
        else ", ".join(k for k in KINDS if k in terms.kinds) or "nothing"
    )
    if ANY_PROFILE_FIELD in terms.profile_fields:
        fields = "all"
    else:
        fields = ", ".join(sorted(terms.profile_fields)) or "none"
    media = "media" if terms.media else "no media"
    return f"{kinds}; labels up to {terms.max_label}; {media}; profile fields: {fields}"


def _check_label(snapshot: PolicySnapshot, label: str) -> None:
    if label not in snapshot.labels:
        raise ValidationError(
            translatable("unknown label {label!r} (known labels: {labels})"),
            label=label,
            labels=", ".join(snapshot.labels.names),
        )


def _with_agreement(snapshot: PolicySnapshot, agreement: PeerAgreement) -> PolicySnapshot:
    peers = dict(snapshot.peers)
    peers[agreement.domain] = agreement
    try:
        # The next version number, so that the stored file's header names its own version.
        return dataclasses.replace(snapshot, peers=peers, version=snapshot.version + 1)
    except InvalidPolicyError as error:
        raise ValidationError(str(error)) from None


def _agreement(
    domain: str,
    status: str,
    outbound: DirectionTerms,
    inbound: DirectionTerms,
    note: str,
    expires: dt.datetime | None,
) -> PeerAgreement:
    try:
        return PeerAgreement(domain, status, outbound, inbound, note, expires)  # type: ignore[arg-type]
    except InvalidPolicyError as error:
        raise ValidationError(error.template, **error.params) from None


async def _edit(
    store: PolicyStore,
    domain: str,
    author: str,
    comment: str,
    change: Callable[[PolicySnapshot], PeerAgreement],
) -> PeerChange:
    """Apply ``change`` to the newest version (never a cached, older one) and store the result."""
    async with in_transaction() as conn:
        if conn.capabilities.dialect == "postgres":
            await conn.execute_query(f"SELECT pg_advisory_xact_lock({_EDIT_LOCK})")
        store.forget()
        base = await store.current()
        agreement = change(base)
        if base.peers.get(domain) == agreement:
            return PeerChange(domain, agreement, base.version, changed=False)
        stored = await store.apply_snapshot(_with_agreement(base, agreement), author, comment)
    return PeerChange(domain, stored.peers[domain], stored.version, changed=True)


# ----------------------------------------------------------------- changes


async def allow(
    store: PolicyStore,
    domain: str,
    *,
    author: str,
    note: str | None = None,
    expires: dt.datetime | None = None,
) -> PeerChange:
    """Let ``domain`` cross on its existing terms, or on the default terms if it has none."""
    domain = check_domain(domain)

    def change(snapshot: PolicySnapshot) -> PeerAgreement:
        existing = snapshot.peers.get(domain)
        return _agreement(
            domain,
            "allowed",
            existing.outbound if existing else default_terms(snapshot, "outbound"),
            existing.inbound if existing else default_terms(snapshot, "inbound"),
            note if note is not None else (existing.note if existing else ""),
            expires if expires is not None else (existing.expires if existing else None),
        )

    return await _edit(store, domain, author, f"peer {domain} allowed", change)


async def block(
    store: PolicyStore, domain: str, *, author: str, note: str | None = None
) -> PeerChange:
    """Block ``domain`` in both directions (its terms are kept for a later ``allow``)."""
    domain = check_domain(domain)

    def change(snapshot: PolicySnapshot) -> PeerAgreement:
        existing = snapshot.peers.get(domain)
        return _agreement(
            domain,
            "blocked",
            existing.outbound if existing else default_terms(snapshot, "outbound"),
            existing.inbound if existing else default_terms(snapshot, "inbound"),
            note if note is not None else (existing.note if existing else ""),
            existing.expires if existing else None,
        )

    return await _edit(store, domain, author, f"peer {domain} blocked", change)


async def limit(
    store: PolicyStore,
    domain: str,
    terms: TermsChange,
    *,
    author: str,
    directions: Sequence[Direction] = DIRECTIONS,
    note: str | None = None,
) -> PeerChange:
    """Allow ``domain`` with the given terms changed in ``directions`` (the rest kept)."""
    domain = check_domain(domain)
    if terms.is_empty():
        raise ValidationError(
            translatable("nothing to limit: give at least one term (label, kinds, media, fields)")
        )
    if not directions or any(d not in DIRECTIONS for d in directions):
        raise ValidationError(
            translatable("directions must be among {choices}"), choices=", ".join(DIRECTIONS)
        )
    if terms.kinds is not None:
        parse_kinds(terms.kinds)

    def change(snapshot: PolicySnapshot) -> PeerAgreement:
        if terms.max_label is not None:
            _check_label(snapshot, terms.max_label)
        existing = snapshot.peers.get(domain)
        current = {
            d: existing.terms(d) if existing else default_terms(snapshot, d) for d in DIRECTIONS
        }
        try:
            new = {d: terms.applied_to(t) if d in directions else t for d, t in current.items()}
        except InvalidPolicyError as error:
            raise ValidationError(error.template, **error.params) from None
        return _agreement(
            domain,
            "allowed",
            new["outbound"],
            new["inbound"],
            note if note is not None else (existing.note if existing else ""),
            existing.expires if existing else None,
        )

    which = " and ".join(directions)
    return await _edit(
        store, domain, author, f"peer {domain} allowed with limited {which} terms", change
    )


# ----------------------------------------------------------------- reading


async def list_peers(store: PolicyStore) -> list[PeerSummary]:
    """Every peer the node has an agreement with, has seen traffic from, or has a request from."""
    snapshot = await store.current()
    stats = {s.domain: s for s in await PeerStats.all()}
    requests = {r.domain: r for r in await PeerRequest.all()}
    domains = sorted(set(snapshot.peers) | set(stats) | set(requests))
    rows = []
    for domain in domains:
        agreement = snapshot.peers.get(domain)
        rows.append(
            PeerSummary(
                domain=domain,
                status=agreement.status if agreement else "none",
                agreement=agreement,
                stats=stats.get(domain),
                request=requests.get(domain),
            )
        )
    return rows


def _patterns(domain: str) -> tuple[str, ...]:
    """``domain``, then the wildcards covering it, most specific first (the engine's order)."""
    return (domain, *sorted(domain_patterns(domain) - {domain}, key=len, reverse=True))


async def show(store: PolicyStore, domain: str) -> PeerDetails:
    """What the policy in force does with ``domain``, with its traffic and request."""
    domain = check_domain(domain)
    snapshot = await store.current()
    if domain.startswith("*."):
        covering = tuple(a for a in [snapshot.peers.get(domain)] if a is not None)
    else:
        covering = snapshot.agreements_for(_patterns(domain))
    blocked_by = next((a for a in covering if a.status == "blocked"), None)
    agreement = covering[0] if covering else None
    stats = await PeerStats.get_or_none(domain=domain)
    request = await PeerRequest.get_or_none(domain=domain)
    if agreement is None and stats is None and request is None:
        raise NotFound(
            translatable("no agreement, traffic or peering request for {domain}"), domain=domain
        )
    if blocked_by is not None:
        effective = f"blocked (by the agreement for {blocked_by.domain})"
    elif agreement is None:
        effective = (
            "not allowed: not on the allowlist"
            if snapshot.federation_mode == "allowlist"
            else f"allowed on the unlisted terms ({snapshot.federation_mode} mode)"
        )
    elif agreement.status == "pending":
        effective = f"not allowed: the agreement for {agreement.domain} is pending"
    elif agreement.expires is not None and agreement.expires <= dt.datetime.now(dt.UTC):
        effective = f"not allowed: the agreement for {agreement.domain} has expired"
    else:
        via = "" if agreement.domain == domain else f" (by the agreement for {agreement.domain})"
        effective = f"allowed{via}"
    return PeerDetails(
        domain=domain,
        federation_mode=snapshot.federation_mode,
        agreement=agreement,
        blocked_by=blocked_by,
        effective=effective,
        stats=stats,
        request=request,
        policy_version=snapshot.version,
    )


# ----------------------------------------------------------------- peering requests


async def list_requests(state: str | None = "pending") -> list[PeerRequest]:
    """Peering requests in ``state`` (None: all), most recently seen first."""
    if state is not None and state not in REQUEST_STATES:
        raise ValidationError(
            translatable("invalid state {state!r}: use one of {choices}"),
            state=state,
            choices=", ".join(REQUEST_STATES),
        )
    query = PeerRequest.all().order_by("-last_seen_at", "domain")
    if state is not None:
        query = query.filter(state=state)
    return list(await query)


async def _request(domain: str) -> PeerRequest:
    request = await PeerRequest.get_or_none(domain=check_domain(domain))
    if request is None:
        raise NotFound(translatable("no peering request from {domain}"), domain=domain)
    return request


async def _decide(request: PeerRequest, state: str, author: str) -> None:
    await PeerRequest.filter(domain=request.domain).update(
        state=state, decided_by=author, decided_at=dt.datetime.now(dt.UTC)
    )
    await audit.append(
        f"peer_request.{state}",
        peer=request.domain,
        actor=author,
        decision=state,
        details={"attempts": request.attempt_count},
    )
    request.state = state


async def approve_request(store: PolicyStore, domain: str, *, author: str) -> PeerChange:
    """Allow the requesting peer (on default terms, or its agreement's) and mark it approved."""
    request = await _request(domain)
    if request.state == "approved":
        raise ValidationError(
            translatable("the peering request from {domain} is already approved"),
            domain=request.domain,
        )
    first = request.first_seen_at.astimezone(dt.UTC).date().isoformat()
    async with in_transaction():
        result = await allow(
            store,
            request.domain,
            author=author,
            note=f"peering request approved by {author} (first contact {first})",
        )
        await _decide(request, "approved", author)
    return result


async def deny_request(
    store: PolicyStore, domain: str, *, author: str, block_peer: bool = False
) -> PeerChange | None:
    """Mark the request denied; with ``block_peer`` also block the domain (returned)."""
    request = await _request(domain)
    if request.state == "denied" and not block_peer:
        raise ValidationError(
            translatable("the peering request from {domain} is already denied"),
            domain=request.domain,
        )
    result = None
    async with in_transaction():
        if block_peer:
            result = await block(
                store, request.domain, author=author, note=f"peering request denied by {author}"
            )
        await _decide(request, "denied", author)
    return result
