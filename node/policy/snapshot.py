"""The policy snapshot: everything evaluation needs, as plain immutable data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from node.policy.errors import InvalidPolicyError
from node.policy.kinds import (
    ALL_KINDS,
    ANY_PROFILE_FIELD,
    DIRECTIONS,
    FEDERATION_MODES,
    KINDS,
    Direction,
    FederationMode,
    check_choice,
    normalise_domain,
)
from node.policy.labels import LabelScale
from node.policy.matchers import KeywordMatcher, Matcher
from node.policy.peers import DirectionTerms, PeerAgreement
from node.policy.rules import ContentRule, GroupRule, Scope, check_unique_ids
from node.translatable import translatable


def default_unlisted_terms(labels: LabelScale, direction: Direction) -> DirectionTerms:
    """Terms for peers without an agreement in blocklist/open mode: every kind, lowest label.

    Outbound no profile field is shown; inbound every profile field is accepted.
    """
    fields = frozenset() if direction == "outbound" else frozenset({ANY_PROFILE_FIELD})
    return DirectionTerms(
        kinds=ALL_KINDS, max_label=labels.lowest, media=True, profile_fields=fields
    )


#: A content rule, the slots of its matchers, and whether its scope covers every crossing
#: of its directions (so evaluation can skip the scope check).
IndexedRule = tuple[ContentRule, tuple[int, ...], bool]


def _covers_everything(scope: Scope) -> bool:
    return scope.peers_mode == "all" and not (
        scope.labels or scope.author_groups or scope.recipient_groups
    )


@dataclass(frozen=True, slots=True)
class _Index:
    """Precomputed lookups so that evaluation does no parsing or sorting."""

    exact_peers: Mapping[str, PeerAgreement]
    wildcard_peers: Mapping[str, PeerAgreement]
    #: Every distinct matcher once; rules refer to them by position ("slot"), so equal
    #: matchers in several rules scan the text once per evaluation.
    matchers: tuple[Matcher, ...]
    #: Per direction: the keyword matchers' probes by slot, and the other matchers' slots,
    #: so one tight loop can prefilter every matcher of an evaluation.
    keyword_probes: Mapping[str, tuple[tuple[int, tuple[str, ...], tuple[bytes, ...]], ...]]
    other_slots: Mapping[str, tuple[int, ...]]
    content_rules: Mapping[str, tuple[IndexedRule, ...]]
    label_rules: Mapping[str, tuple[IndexedRule, ...]]
    #: Per direction: positions in ``content_rules`` of the rules using each matcher
    #: slot, and of the rules without matchers; rules whose matchers all fail their
    #: prefilter are never visited.
    rules_by_slot: Mapping[str, Mapping[int, tuple[int, ...]]]
    matcherless: Mapping[str, tuple[int, ...]]
    #: Per (direction, kind).
    group_rules: Mapping[tuple[str, str], tuple[GroupRule, ...]]
    unlisted: Mapping[str, DirectionTerms]


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    """One version of a node's boundary policy.

    ``federation_mode``: ``allowlist`` lets only peers with an ``allowed`` agreement
    cross; ``blocklist`` and ``open`` let every peer cross except ``blocked`` (and
    ``pending``) ones, unlisted peers under ``unlisted_outbound``/``unlisted_inbound``
    terms. The two evaluate identically; ``open`` records the intent to federate widely.
    ``peers`` maps each domain (or ``*.domain``) to its agreement.
    ``default_label`` applies to crossings that carry no label.
    Building a snapshot validates every label reference and compiles every matcher.
    """

    version: int
    federation_mode: FederationMode = "allowlist"
    labels: LabelScale = field(default_factory=LabelScale)
    default_label: str = "internal"
    peers: Mapping[str, PeerAgreement] = field(default_factory=dict)
    content_rules: tuple[ContentRule, ...] = ()
    group_rules: tuple[GroupRule, ...] = ()
    unlisted_outbound: DirectionTerms | None = None
    unlisted_inbound: DirectionTerms | None = None
    _index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice(self.federation_mode, FEDERATION_MODES, "federation mode", "federation_mode")
        labels = self.labels
        labels.check(self.default_label, "default_label")
        peers: dict[str, PeerAgreement] = {}
        for index, (key, agreement) in enumerate(self.peers.items()):
            path = f"peers[{index}]"
            if normalise_domain(key) != agreement.domain:
                raise InvalidPolicyError(
                    translatable("listed as {key!r} but the agreement is for {domain!r}"),
                    path,
                    key=key,
                    domain=agreement.domain,
                )
            if agreement.domain in peers:
                raise InvalidPolicyError(
                    translatable("duplicate peer {domain!r}"),
                    f"{path}.domain",
                    domain=agreement.domain,
                )
            labels.check(agreement.outbound.max_label, f"{path}.outbound.max_label")
            labels.check(agreement.inbound.max_label, f"{path}.inbound.max_label")
            peers[agreement.domain] = agreement
        object.__setattr__(self, "peers", MappingProxyType(peers))
        object.__setattr__(self, "content_rules", tuple(self.content_rules))
        object.__setattr__(self, "group_rules", tuple(self.group_rules))
        for index, rule in enumerate(self.content_rules):
            if rule.raise_to is not None:
                labels.check(rule.raise_to, f"content_rules[{index}].raise_to")
            for label in sorted(rule.scope.labels):
                labels.check(label, f"content_rules[{index}].scope.labels")
        for index, group_rule in enumerate(self.group_rules):
            for label in sorted(group_rule.scope.labels):
                labels.check(label, f"group_rules[{index}].scope.labels")
        check_unique_ids(self.content_rules, "content_rules")
        check_unique_ids(self.group_rules, "group_rules")
        content_ids = {rule.id for rule in self.content_rules}
        for index, group_rule in enumerate(self.group_rules):
            if group_rule.id in content_ids:
                raise InvalidPolicyError(
                    translatable("rule id {id!r} is also a content rule id"),
                    f"group_rules[{index}].id",
                    id=group_rule.id,
                )
        for direction in DIRECTIONS:
            name = f"unlisted_{direction}"
            terms = getattr(self, name)
            if terms is None:
                object.__setattr__(self, name, default_unlisted_terms(labels, direction))
            else:
                labels.check(terms.max_label, f"unlisted.{direction}.max_label")
        object.__setattr__(self, "_index", self._build_index())

    def _build_index(self) -> _Index:
        slots: dict[Matcher, int] = {}
        for rule in self.content_rules:
            for matcher in rule.matchers:
                slots.setdefault(matcher, len(slots))

        def with_slots(direction: str, label_rules: bool) -> tuple[IndexedRule, ...]:
            return tuple(
                (rule, tuple(slots[m] for m in rule.matchers), _covers_everything(rule.scope))
                for rule in self.content_rules
                if direction in rule.scope.directions and (rule.action == "label") == label_rules
            )

        def slots_for(direction: str) -> list[int]:
            used = {
                slots[m]
                for rule in self.content_rules
                if direction in rule.scope.directions
                for m in rule.matchers
            }
            return sorted(used)

        def by_slot(rules: tuple[IndexedRule, ...]) -> Mapping[int, tuple[int, ...]]:
            positions: dict[int, list[int]] = {}
            for position, (_, rule_slots, _) in enumerate(rules):
                for slot in rule_slots:
                    positions.setdefault(slot, []).append(position)
            return {slot: tuple(found) for slot, found in positions.items()}

        matchers = tuple(slots)
        content_rules: dict[str, tuple[IndexedRule, ...]] = {
            d: with_slots(d, False) for d in DIRECTIONS
        }
        return _Index(
            keyword_probes={
                d: tuple(
                    (slot, matcher.probes, matcher.word_probes)
                    for slot in slots_for(d)
                    if isinstance(matcher := matchers[slot], KeywordMatcher)
                )
                for d in DIRECTIONS
            },
            other_slots={
                d: tuple(
                    slot for slot in slots_for(d) if not isinstance(matchers[slot], KeywordMatcher)
                )
                for d in DIRECTIONS
            },
            exact_peers={d: a for d, a in self.peers.items() if not d.startswith("*.")},
            wildcard_peers={d: a for d, a in self.peers.items() if d.startswith("*.")},
            matchers=matchers,
            content_rules=content_rules,
            label_rules={d: with_slots(d, True) for d in DIRECTIONS},
            rules_by_slot={d: by_slot(content_rules[d]) for d in DIRECTIONS},
            matcherless={
                d: tuple(i for i, (_, slots, _) in enumerate(content_rules[d]) if not slots)
                for d in DIRECTIONS
            },
            group_rules={
                (d, kind): tuple(
                    r for r in self.group_rules if d in r.scope.directions and kind in r.kinds
                )
                for d in DIRECTIONS
                for kind in KINDS
            },
            unlisted={
                "outbound": self.unlisted_outbound
                or default_unlisted_terms(self.labels, "outbound"),
                "inbound": self.unlisted_inbound or default_unlisted_terms(self.labels, "inbound"),
            },
        )

    def agreements_for(self, peer_patterns: tuple[str, ...]) -> tuple[PeerAgreement, ...]:
        """Agreements covering a peer, most specific first (exact domain, then wildcards)."""
        index = self._index
        found = []
        exact = index.exact_peers.get(peer_patterns[0])
        if exact is not None:
            found.append(exact)
        if index.wildcard_peers:
            for pattern in peer_patterns[1:]:
                wildcard = index.wildcard_peers.get(pattern)
                if wildcard is not None:
                    found.append(wildcard)
        return tuple(found)
