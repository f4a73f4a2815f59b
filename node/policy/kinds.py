"""The fixed vocabulary of the policy language: directions, activity kinds, modes."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias, get_args

from node.policy.errors import InvalidPolicyError
from node.translatable import translatable

Direction: TypeAlias = Literal["outbound", "inbound"]
Kind: TypeAlias = Literal[
    "posts", "replies", "reactions", "follows", "direct_messages", "profile_lookups"
]
FederationMode: TypeAlias = Literal["allowlist", "blocklist", "open"]
PeerStatus: TypeAlias = Literal["allowed", "blocked", "pending"]
RuleMode: TypeAlias = Literal["enforce", "dry_run"]

DIRECTIONS: Final[tuple[Direction, ...]] = get_args(Direction)
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
FEDERATION_MODES: Final[tuple[FederationMode, ...]] = get_args(FederationMode)
PEER_STATUSES: Final[tuple[PeerStatus, ...]] = get_args(PeerStatus)
RULE_MODES: Final[tuple[RuleMode, ...]] = get_args(RuleMode)

ALL_DIRECTIONS: Final[frozenset[Direction]] = frozenset(DIRECTIONS)
ALL_KINDS: Final[frozenset[Kind]] = frozenset(KINDS)

#: Crossing fields whose name starts with this are profile fields ("profile.title"); the
#: peer's ``profile_fields`` terms decide which of them cross.
PROFILE_FIELD_PREFIX: Final = "profile."
#: In ``profile_fields``, this entry lets every profile field cross.
ANY_PROFILE_FIELD: Final = "*"


Choice: TypeAlias = Literal[
    "direction",
    "activity kind",
    "federation mode",
    "peer status",
    "peers mode",
    "action",
    "mode",
    "effect",
]
# One whole sentence per choice, so that a translation can make its words agree.
_UNKNOWN_CHOICE: Final[dict[Choice, str]] = {
    "direction": translatable("unknown direction {value!r} (expected one of {choices})"),
    "activity kind": translatable("unknown activity kind {value!r} (expected one of {choices})"),
    "federation mode": translatable(
        "unknown federation mode {value!r} (expected one of {choices})"
    ),
    "peer status": translatable("unknown peer status {value!r} (expected one of {choices})"),
    "peers mode": translatable("unknown peers mode {value!r} (expected one of {choices})"),
    "action": translatable("unknown action {value!r} (expected one of {choices})"),
    "mode": translatable("unknown mode {value!r} (expected one of {choices})"),
    "effect": translatable("unknown effect {value!r} (expected one of {choices})"),
}


def check_choice(value: object, choices: tuple[str, ...], what: Choice, path: str) -> None:
    """Raise unless ``value`` is one of ``choices``, naming the alternatives."""
    if value not in choices:
        raise InvalidPolicyError(
            _UNKNOWN_CHOICE[what], path, value=value, choices=", ".join(choices)
        )


def check_kinds(kinds: frozenset[str], path: str) -> None:
    for kind in sorted(kinds):
        check_choice(kind, KINDS, "activity kind", path)


def kind_text(kind: str) -> str:
    """``direct_messages`` -> ``direct messages``, for messages people read."""
    return kind.replace("_", " ")


def normalise_domain(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def check_domain_pattern(domain: str, path: str) -> None:
    """A peer domain, or ``*.suffix`` for every subdomain of ``suffix`` (not ``suffix`` itself)."""
    body = domain[2:] if domain.startswith("*.") else domain
    if not body or "*" in body or " " in body or "/" in body or body.startswith("."):
        raise InvalidPolicyError(
            translatable("not a domain or '*.domain' pattern: {domain!r}"), path, domain=domain
        )


def domain_patterns(domain: str) -> frozenset[str]:
    """``domain`` and every wildcard pattern that covers it.

    ``a.corp.example`` -> ``{"a.corp.example", "*.corp.example", "*.example"}``, so scope
    and agreement lookups are set intersections instead of pattern matching.
    """
    parts = domain.split(".")
    return frozenset([domain, *("*." + ".".join(parts[i:]) for i in range(1, len(parts)))])
