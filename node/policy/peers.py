"""What a peer node has agreed to exchange with this node, per direction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from node.policy.errors import InvalidPolicyError
from node.policy.kinds import (
    ALL_KINDS,
    ANY_PROFILE_FIELD,
    PEER_STATUSES,
    Kind,
    PeerStatus,
    check_choice,
    check_domain_pattern,
    check_kinds,
    normalise_domain,
)
from node.translatable import translatable


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectionTerms:
    """The terms for one direction of an agreement.

    ``kinds``: activity kinds that may cross. ``max_label``: the most sensitive label
    that may cross (checked against the snapshot's scale when the snapshot is built).
    ``media``: whether activities with attachments may cross; when not, such crossings
    are denied outright (a future version may strip the media instead).
    ``profile_fields``: profile fields that may cross (``"*"`` for all); other
    ``profile.*`` fields are withheld from the copy.
    """

    kinds: frozenset[Kind] = ALL_KINDS
    max_label: str
    media: bool = True
    profile_fields: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        object.__setattr__(self, "profile_fields", frozenset(self.profile_fields))
        check_kinds(self.kinds, "kinds")
        if not isinstance(self.media, bool):
            raise InvalidPolicyError(
                translatable("media must be true or false, not {media!r}"),
                "media",
                media=self.media,
            )

    def shows_profile_field(self, name: str) -> bool:
        return ANY_PROFILE_FIELD in self.profile_fields or name in self.profile_fields


@dataclass(frozen=True, slots=True)
class PeerAgreement:
    """This node's agreement with one peer domain (or ``*.domain`` for all subdomains).

    Only ``allowed`` agreements let anything cross; ``pending`` ones are being
    negotiated and let nothing cross; ``blocked`` beats any other agreement that also
    covers the peer. An agreement past ``expires`` lets nothing cross.
    """

    domain: str
    status: PeerStatus
    outbound: DirectionTerms
    inbound: DirectionTerms
    note: str = ""
    expires: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalise_domain(self.domain))
        check_domain_pattern(self.domain, "domain")
        check_choice(self.status, PEER_STATUSES, "peer status", "status")
        if self.expires is not None and self.expires.tzinfo is None:
            raise InvalidPolicyError(
                translatable("expires needs a time zone offset (e.g. 2027-03-31T00:00:00Z)"),
                "expires",
            )

    def terms(self, direction: str) -> DirectionTerms:
        return self.outbound if direction == "outbound" else self.inbound
