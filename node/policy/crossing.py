"""One crossing: one activity going to one peer, or coming from one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from node.policy.kinds import (
    DIRECTIONS,
    KINDS,
    Direction,
    Kind,
    check_choice,
    domain_patterns,
    normalise_domain,
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A recipient of a direct message, with the directory groups it belongs to."""

    handle: str
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Crossing:
    """What the policy needs to know about one crossing of the node's boundary.

    ``peer``: the destination (outbound) or sending (inbound) domain.
    ``label``: the classification label; ``None`` means the snapshot's default label.
    ``fields``: every text that crosses, by name, e.g. ``content``, ``summary`` (the
    content warning), ``attachment.0.description``, ``profile.title``; fields named
    ``profile.*`` are governed by the peer's ``profile_fields`` terms.
    ``author_groups``: the local author's directory groups (empty for remote authors).
    ``recipients``: recipients of a direct message, with their groups.
    ``now``: the time of the decision, timezone-aware (the engine never reads a clock).
    """

    direction: Direction
    peer: str
    kind: Kind
    now: datetime
    label: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    has_media: bool = False
    author: str | None = None
    author_groups: frozenset[str] = frozenset()
    recipients: tuple[Recipient, ...] = ()
    peer_patterns: tuple[str, ...] = field(init=False, repr=False, compare=False)
    peer_pattern_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice(self.direction, DIRECTIONS, "direction", "direction")
        check_choice(self.kind, KINDS, "activity kind", "kind")
        if self.now.tzinfo is None:
            raise ValueError("Crossing.now must be timezone-aware")
        peer = normalise_domain(self.peer)
        if not peer:
            raise ValueError("Crossing.peer must name a domain")
        object.__setattr__(self, "peer", peer)
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        object.__setattr__(self, "author_groups", frozenset(self.author_groups))
        object.__setattr__(self, "recipients", tuple(self.recipients))
        patterns = domain_patterns(peer)
        ordered = (peer, *sorted(patterns - {peer}, key=len, reverse=True))
        object.__setattr__(self, "peer_patterns", ordered)
        object.__setattr__(self, "peer_pattern_set", patterns)
