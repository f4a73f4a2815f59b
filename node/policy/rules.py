"""Content rules (what text may cross) and group rules (who may send what to whom)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from node.policy.errors import InvalidPolicyError
from node.policy.kinds import (
    ALL_DIRECTIONS,
    ALL_KINDS,
    DIRECTIONS,
    RULE_MODES,
    Direction,
    Kind,
    RuleMode,
    check_choice,
    check_domain_pattern,
    check_kinds,
    normalise_domain,
)
from node.policy.matchers import Matcher
from node.translatable import translatable

PeersMode: TypeAlias = Literal["all", "only", "except"]
ContentAction: TypeAlias = Literal["block", "redact", "hold", "warn", "label"]
GroupEffect: TypeAlias = Literal["deny", "allow_only"]

PEERS_MODES: Final[tuple[PeersMode, ...]] = get_args(PeersMode)
CONTENT_ACTIONS: Final[tuple[ContentAction, ...]] = get_args(ContentAction)
GROUP_EFFECTS: Final[tuple[GroupEffect, ...]] = get_args(GroupEffect)
RULE_ID_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """Which crossings a rule looks at. An empty set means "any".

    ``peers_mode``: ``all`` peers, ``only`` those in ``peers``, or all ``except`` them
    (``*.domain`` entries cover subdomains). ``author_groups``: the author is in at least
    one of them. ``recipient_groups``: at least one recipient is in at least one of them.
    ``labels``: the crossing's own label, or one a ``label`` rule raised it to, is one
    of them (so raising a label never takes a crossing out of a rule's scope).
    For an ``allow_only`` group rule the two group sets are not conditions but the
    groups allowed to send or receive (see :class:`GroupRule`).
    """

    directions: frozenset[Direction] = ALL_DIRECTIONS
    peers_mode: PeersMode = "all"
    peers: frozenset[str] = frozenset()
    author_groups: frozenset[str] = frozenset()
    recipient_groups: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("directions", "peers", "author_groups", "recipient_groups", "labels"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        object.__setattr__(self, "peers", frozenset(normalise_domain(p) for p in self.peers))
        if not self.directions:
            raise InvalidPolicyError(
                translatable("a scope needs at least one direction"), "directions"
            )
        for direction in sorted(self.directions):
            check_choice(direction, DIRECTIONS, "direction", "directions")
        check_choice(self.peers_mode, PEERS_MODES, "peers mode", "peers")
        if self.peers_mode == "all" and self.peers:
            raise InvalidPolicyError(
                translatable("peers are listed but the scope covers all peers"), "peers"
            )
        if self.peers_mode != "all" and not self.peers:
            raise InvalidPolicyError(
                translatable("peers mode {mode!r} needs peers"), "peers", mode=self.peers_mode
            )
        for peer in sorted(self.peers):
            check_domain_pattern(peer, "peers")

    def covers_peer(self, peer_patterns: frozenset[str]) -> bool:
        """``peer_patterns``: the peer and the wildcards covering it (``domain_patterns``)."""
        if self.peers_mode == "all":
            return True
        listed = not self.peers.isdisjoint(peer_patterns)
        return listed if self.peers_mode == "only" else not listed


def _check_rule_id(rule_id: str) -> None:
    if not rule_id or not set(rule_id) <= RULE_ID_CHARS:
        raise InvalidPolicyError(
            translatable("rule ids are non-empty letters, digits, '-', '_' or '.': {id!r}"),
            "id",
            id=rule_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentRule:
    """Look for ``matchers`` in the text of in-scope crossings and act on a match.

    A rule matches when any matcher finds something in any field; a rule without
    matchers matches every crossing in its scope (useful with ``scope.labels``).
    Actions: ``block`` denies, ``redact`` replaces the matched text in the copy for that
    destination, ``hold`` sends the crossing to review, ``warn`` lets it cross with a
    warning, ``label`` raises the effective label to ``raise_to`` (and clearance is then
    checked against the raised label). A ``dry_run`` rule only reports what it would do.
    """

    id: str
    description: str = ""
    matchers: tuple[Matcher, ...] = ()
    action: ContentAction
    raise_to: str | None = None
    scope: Scope = Scope()
    mode: RuleMode = "enforce"

    def __post_init__(self) -> None:
        object.__setattr__(self, "matchers", tuple(self.matchers))
        _check_rule_id(self.id)
        check_choice(self.action, CONTENT_ACTIONS, "action", "action")
        check_choice(self.mode, RULE_MODES, "mode", "mode")
        if self.action == "label" and not self.raise_to:
            raise InvalidPolicyError(translatable("a 'label' rule needs raise_to"), "raise_to")
        if self.action != "label" and self.raise_to is not None:
            raise InvalidPolicyError(
                translatable("raise_to only applies to the 'label' action"), "raise_to"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRule:
    """Restrict who may send which ``kinds`` to whom, by directory group.

    ``deny``: in-scope crossings of these kinds are denied; the scope's group sets are
    conditions ("posts by members of legal").
    ``allow_only``: in-scope crossings of these kinds are denied unless the author is in
    ``scope.author_groups`` (when given) and every recipient is in
    ``scope.recipient_groups`` (when given); a crossing with no recipients to check is
    denied (fail closed).
    """

    id: str
    description: str = ""
    scope: Scope = Scope()
    effect: GroupEffect
    kinds: frozenset[Kind] = ALL_KINDS
    mode: RuleMode = "enforce"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        _check_rule_id(self.id)
        check_choice(self.effect, GROUP_EFFECTS, "effect", "effect")
        check_choice(self.mode, RULE_MODES, "mode", "mode")
        if not self.kinds:
            raise InvalidPolicyError(translatable("a group rule needs at least one kind"), "kinds")
        check_kinds(self.kinds, "kinds")
        if (
            self.effect == "allow_only"
            and not self.scope.author_groups
            and not self.scope.recipient_groups
        ):
            raise InvalidPolicyError(
                translatable(
                    "an 'allow_only' rule needs scope.author_groups or scope.recipient_groups"
                ),
                "scope",
            )


def check_unique_ids(rules: Iterable[ContentRule | GroupRule], table: str) -> None:
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.id in seen:
            raise InvalidPolicyError(
                translatable("duplicate rule id {id!r}"), f"{table}[{index}].id", id=rule.id
            )
        seen.add(rule.id)
