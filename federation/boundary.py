"""The boundary policy at the protocol's edges: inbound activities and signed fetches.

Outbound deliveries are decided in :mod:`federation.delivery`; this module
describes inbound activities and fetches as crossings for the same engine
(:mod:`node.policy`) through the same builders (:mod:`node.services.policy`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from federation.vocabulary import PUBLIC, as_list, attachments, audience, content_of, id_of
from node.models import Account, Post
from node.policy import Crossing, Decision, Kind, Recipient, evaluate
from node.services.content import html_to_text
from node.services.policy import (
    PolicyStore,
    groups_of,
    post_crossing,
    simple_crossing,
    visible_profile_values,
)

# Reason codes that mean "this peer may not talk to us at all" (vs. "not this content").
PEER_LEVEL_CODES = frozenset(
    {"peer_not_allowlisted", "peer_blocked", "peer_pending", "agreement_expired"}
)
POST_TYPES = {"Note", "Article", "Page", "Question"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def refused_peer(decision: Decision) -> bool:
    """True when the decision refuses the peer itself (not a particular activity)."""
    return decision.outcome == "deny" and any(
        reason.code in PEER_LEVEL_CODES for reason in decision.decisive()
    )


def inbound_kind(activity: dict[str, Any]) -> Kind:
    """What the policy calls an inbound activity."""
    kind = activity.get("type")
    inner = activity.get("object")
    if kind == "Undo" and isinstance(inner, dict):
        kind = inner.get("type")
    if kind in ("Follow", "Accept", "Reject"):
        return "follows"
    if kind in ("Like", "Announce", "EmojiReact"):
        return "reactions"
    if isinstance(inner, dict) and inner.get("type") in POST_TYPES:
        if PUBLIC not in audience(inner) and not any(
            isinstance(a, str) and a.endswith("/followers") for a in audience(inner)
        ):
            return "direct_messages"
        return "replies" if inner.get("inReplyTo") else "posts"
    if isinstance(inner, dict) and inner.get("type") in ("Person", "Service", "Application"):
        return "profile_lookups"
    return "posts"


async def admit_peer(store: PolicyStore, peer: str, kind: Kind) -> Decision:
    """The peer-level inbound decision (mode, status, kinds), before anything is stored."""
    snapshot = await store.current()
    crossing = simple_crossing("inbound", peer, kind, now(), label=snapshot.labels.lowest)
    return evaluate(snapshot, crossing)


async def inbound_decision(store: PolicyStore, activity: dict[str, Any], peer: str) -> Decision:
    """The full inbound decision for a normalised activity (content, label, groups)."""
    snapshot = await store.current()
    kind = inbound_kind(activity)
    inner = activity.get("object")
    if not isinstance(inner, dict) or inner.get("type") not in POST_TYPES:
        return evaluate(snapshot, simple_crossing("inbound", peer, kind, now()))
    html, _ = content_of(inner)
    fields = {"content": html_to_text(html or "")}
    if isinstance(inner.get("summary"), str) and inner["summary"]:
        fields["summary"] = inner["summary"]
    for index, item in enumerate(attachments(inner)):
        if item.get("description"):
            fields[f"attachment.{index}.description"] = str(item["description"])
    label = inner.get("classification")
    recipients: tuple[Recipient, ...] = ()
    if kind == "direct_messages":
        addressed = [a for a in audience(inner) if isinstance(a, str)]
        local = await Account.filter(uri__in=addressed, domain="")
        groups = await groups_of(a.id for a in local)
        recipients = tuple(Recipient(handle=a.username, groups=groups[a.id]) for a in local)
    crossing = Crossing(
        direction="inbound",
        peer=peer,
        kind=kind,
        now=now(),
        label=label if isinstance(label, str) and label in snapshot.labels.names else None,
        fields=fields,
        has_media=bool(as_list(inner.get("attachment"))),
        author=id_of(activity.get("actor")),
        recipients=recipients,
    )
    return evaluate(snapshot, crossing)


class Boundary:
    """What one verified requesting peer may fetch from this node."""

    def __init__(self, store: PolicyStore, peer: str) -> None:
        self.store = store
        self.peer = peer

    async def admits(self, kind: Kind) -> Decision:
        snapshot = await self.store.current()
        return evaluate(snapshot, simple_crossing("outbound", self.peer, kind, now(),
                                                  label=snapshot.labels.lowest))  # fmt: skip

    async def may_fetch(self, post: Post, author: Account) -> bool:
        """The post may be served to this peer exactly when it could be delivered there."""
        snapshot = await self.store.current()
        crossing = await post_crossing(post, author, self.peer, [], now())
        return evaluate(snapshot, crossing).crosses

    async def visible_fields(self, account: Account) -> dict[str, str]:
        """Name -> value of the account's profile fields this peer may see.

        Those the person shares with the peer and the policy lets cross, with values
        as the policy leaves them (the settings page shows people the same computation).
        """
        return visible_profile_values(await self.store.current(), account, self.peer, now())


async def anonymous_visible_fields(store: PolicyStore, account: Account) -> dict[str, str]:
    """Name -> value of the profile fields an unsigned requester may see.

    Fields the person shares with every node, under the policy's terms for a node
    without an agreement; nothing is audited, as for any unsigned read.
    """
    return visible_profile_values(await store.current(), account, None, now())
