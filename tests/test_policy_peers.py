"""Federation modes, peer agreements and their terms: what may cross before any rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node.policy import (
    ALL_KINDS,
    Crossing,
    DirectionTerms,
    FederationMode,
    Kind,
    PeerAgreement,
    PeerStatus,
    PolicySnapshot,
    evaluate,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
EVERYTHING = DirectionTerms(max_label="restricted", profile_fields=frozenset({"*"}))


def agreement(
    domain: str,
    status: PeerStatus = "allowed",
    terms: DirectionTerms = EVERYTHING,
    expires: datetime | None = None,
) -> PeerAgreement:
    return PeerAgreement(domain, status, terms, terms, expires=expires)


def policy(*agreements: PeerAgreement, mode: FederationMode = "allowlist") -> PolicySnapshot:
    return PolicySnapshot(
        version=1,
        federation_mode=mode,
        peers={a.domain: a for a in agreements},
        unlisted_outbound=DirectionTerms(max_label="internal"),
    )


BASE = Crossing(
    direction="outbound", peer="sales.example", kind="posts", now=NOW, fields={"content": "hello"}
)


def post(peer: str = "sales.example", **changes: Any) -> Crossing:
    return replace(BASE, peer=peer, **changes)


def codes(snapshot: PolicySnapshot, crossing: Crossing) -> list[str]:
    return [r.code for r in evaluate(snapshot, crossing).reasons]


# --- federation modes ---------------------------------------------------------------


def test_allowlist_lets_an_allowed_peer_cross() -> None:
    assert evaluate(policy(agreement("sales.example")), post()).outcome == "allow"


def test_allowlist_denies_a_peer_without_agreement() -> None:
    decision = evaluate(policy(agreement("hr.example")), post("sales.example"))
    assert decision.outcome == "deny"
    assert [r.code for r in decision.reasons] == ["peer_not_allowlisted"]
    assert decision.reasons[0].message == (
        "not sent to sales.example: sales.example is not on this node's allowlist"
    )


@pytest.mark.parametrize("mode", ["blocklist", "open"])
def test_blocklist_and_open_let_an_unlisted_peer_cross_under_unlisted_terms(
    mode: FederationMode,
) -> None:
    snapshot = policy(mode=mode)
    assert evaluate(snapshot, post(label="internal")).outcome == "allow"
    assert codes(snapshot, post(label="confidential")) == ["label_above_clearance"]


@pytest.mark.parametrize("mode", ["allowlist", "blocklist", "open"])
def test_blocked_peer_is_denied_in_every_mode(mode: FederationMode) -> None:
    snapshot = policy(agreement("sales.example", "blocked"), mode=mode)
    assert codes(snapshot, post()) == ["peer_blocked"]


@pytest.mark.parametrize("mode", ["allowlist", "blocklist", "open"])
def test_pending_peer_is_denied_in_every_mode(mode: FederationMode) -> None:
    snapshot = policy(agreement("sales.example", "pending"), mode=mode)
    decision = evaluate(snapshot, post())
    assert decision.outcome == "deny"
    assert [r.code for r in decision.reasons] == ["peer_pending"]


def test_block_note_is_part_of_the_reason() -> None:
    blocked = PeerAgreement("spam.example", "blocked", EVERYTHING, EVERYTHING, note="spam wave")
    decision = evaluate(policy(blocked, mode="open"), post("spam.example"))
    assert decision.reasons[0].message == (
        "not sent to spam.example: spam.example is blocked (spam wave)"
    )


def test_wildcard_agreement_covers_subdomains() -> None:
    snapshot = policy(agreement("*.corp.example"))
    assert evaluate(snapshot, post("a.b.corp.example")).outcome == "allow"
    assert codes(snapshot, post("corp.example")) == ["peer_not_allowlisted"]


def test_explicit_block_beats_an_allow() -> None:
    snapshot = policy(agreement("a.corp.example"), agreement("*.corp.example", "blocked"))
    assert codes(snapshot, post("a.corp.example")) == ["peer_blocked"]


def test_most_specific_agreement_gives_the_terms() -> None:
    narrow = DirectionTerms(max_label="public")
    snapshot = policy(agreement("*.corp.example"), agreement("a.corp.example", terms=narrow))
    assert codes(snapshot, post("a.corp.example", label="internal")) == ["label_above_clearance"]
    assert evaluate(snapshot, post("b.corp.example", label="internal")).outcome == "allow"


def test_peer_domains_are_compared_case_insensitively() -> None:
    assert evaluate(policy(agreement("Sales.Example")), post("SALES.example.")).outcome == "allow"


def test_expired_agreement_lets_nothing_cross() -> None:
    snapshot = policy(agreement("sales.example", expires=NOW - timedelta(days=1)))
    decision = evaluate(snapshot, post())
    assert [r.code for r in decision.reasons] == ["agreement_expired"]
    assert "expired on 2026-04-30" in decision.reasons[0].message


def test_agreement_before_expiry_still_applies() -> None:
    snapshot = policy(agreement("sales.example", expires=NOW + timedelta(seconds=1)))
    assert evaluate(snapshot, post()).outcome == "allow"


def test_crossing_needs_a_timezone_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        post(now=datetime(2026, 5, 1, 12))


# --- terms: kinds, labels, media, profile fields ------------------------------------


@pytest.mark.parametrize("kind", sorted(ALL_KINDS - {"posts"}))
def test_kind_outside_the_terms_is_denied(kind: Kind) -> None:
    only_posts = DirectionTerms(max_label="restricted", kinds=frozenset({"posts"}))
    snapshot = policy(agreement("sales.example", terms=only_posts))
    decision = evaluate(snapshot, post(kind=kind))
    assert [r.code for r in decision.reasons] == ["kind_not_allowed"]
    assert kind.replace("_", " ") in decision.reasons[0].message


def test_kind_inside_the_terms_crosses() -> None:
    only_posts = DirectionTerms(max_label="restricted", kinds=frozenset({"posts"}))
    assert evaluate(policy(agreement("sales.example", terms=only_posts)), post()).outcome == "allow"


def test_confidential_post_is_not_delivered_to_peer_without_clearance() -> None:
    snapshot = policy(agreement("sales.example", terms=DirectionTerms(max_label="internal")))
    decision = evaluate(snapshot, post(label="confidential"))
    assert decision.outcome == "deny"
    assert decision.reasons[0].code == "label_above_clearance"
    assert decision.reasons[0].message == (
        "not sent to sales.example: label confidential is above internal, "
        "the highest label sales.example accepts"
    )


def test_label_at_the_peers_clearance_crosses() -> None:
    snapshot = policy(agreement("sales.example", terms=DirectionTerms(max_label="internal")))
    assert evaluate(snapshot, post(label="internal")).outcome == "allow"


def test_crossing_without_label_gets_the_default_label() -> None:
    snapshot = policy(agreement("sales.example", terms=DirectionTerms(max_label="public")))
    decision = evaluate(snapshot, post(label=None))
    assert decision.effective_label == "internal"
    assert decision.outcome == "deny"


def test_unknown_label_is_denied_not_raised() -> None:
    decision = evaluate(policy(agreement("sales.example")), post(label="top-secret"))
    assert decision.outcome == "deny"
    assert decision.reasons[0].code == "unknown_label"
    assert "'top-secret'" in decision.reasons[0].message


def test_inbound_clearance_names_the_sending_peer() -> None:
    snapshot = policy(agreement("sales.example", terms=DirectionTerms(max_label="internal")))
    decision = evaluate(snapshot, post(direction="inbound", label="restricted"))
    assert decision.reasons[0].message == (
        "not accepted from sales.example: label restricted is above internal, "
        "the highest label accepted from sales.example"
    )


def test_media_is_denied_when_the_terms_exclude_media() -> None:
    no_media = DirectionTerms(max_label="restricted", media=False)
    decision = evaluate(policy(agreement("sales.example", terms=no_media)), post(has_media=True))
    assert decision.outcome == "deny"
    assert decision.reasons[0].code == "media_not_allowed"
    assert "media not allowed" in decision.reasons[0].message


def test_post_without_media_crosses_when_the_terms_exclude_media() -> None:
    no_media = DirectionTerms(max_label="restricted", media=False)
    assert evaluate(policy(agreement("sales.example", terms=no_media)), post()).outcome == "allow"


def test_profile_fields_outside_the_terms_are_withheld_from_the_copy() -> None:
    terms = DirectionTerms(max_label="restricted", profile_fields=frozenset({"title"}))
    crossing = post(
        kind="profile_lookups",
        fields={"profile.title": "Engineer", "profile.phone": "+49 30 1234567", "name": "Ana"},
    )
    decision = evaluate(policy(agreement("sales.example", terms=terms)), crossing)
    assert decision.outcome == "redact"
    assert decision.transformed == {"profile.title": "Engineer", "name": "Ana"}
    assert [(r.code, r.field) for r in decision.reasons] == [
        ("profile_field_withheld", "profile.phone")
    ]


def test_star_lets_every_profile_field_cross() -> None:
    crossing = post(kind="profile_lookups", fields={"profile.title": "x", "profile.phone": "y"})
    decision = evaluate(policy(agreement("sales.example")), crossing)
    assert decision.outcome == "allow"
    assert decision.transformed is None
