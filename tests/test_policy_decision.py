"""Decisions as people see them: explain(), previews, and the label scale."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from node.policy import (
    ContentRule,
    Crossing,
    DirectionTerms,
    EmailMatcher,
    InvalidPolicyError,
    KeywordMatcher,
    LabelScale,
    PeerAgreement,
    PolicySnapshot,
    UnknownLabelError,
    evaluate,
    explain,
    preview,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def snapshot(*rules: ContentRule) -> PolicySnapshot:
    peers = {
        "sales.example": PeerAgreement(
            "sales.example",
            "allowed",
            DirectionTerms(max_label="internal"),
            DirectionTerms(max_label="internal"),
        ),
        "hr.example": PeerAgreement(
            "hr.example",
            "allowed",
            DirectionTerms(max_label="confidential"),
            DirectionTerms(max_label="internal"),
        ),
    }
    return PolicySnapshot(version=7, peers=peers, content_rules=rules)


POST = Crossing(
    direction="outbound",
    peer="sales.example",
    kind="posts",
    now=NOW,
    label="internal",
    fields={"content": "hello"},
)
WARN_EMAIL = ContentRule(id="mind-addresses", action="warn", matchers=(EmailMatcher(),))
BLOCK_FALCON = ContentRule(id="no-falcon", action="block", matchers=(KeywordMatcher(("falcon",)),))


# --- explain ------------------------------------------------------------------------


def test_explain_says_where_an_allowed_post_goes() -> None:
    assert explain(evaluate(snapshot(), POST)) == "sent to sales.example"


def test_explain_says_where_an_allowed_inbound_activity_comes_from() -> None:
    inbound = replace(POST, direction="inbound")
    assert explain(evaluate(snapshot(), inbound)) == "accepted from sales.example"


def test_explain_gives_the_decisive_reason_and_counts_the_rest() -> None:
    decision = evaluate(
        snapshot(BLOCK_FALCON), replace(POST, label="confidential", fields={"content": "falcon"})
    )
    assert explain(decision) == (
        "not sent to sales.example: label confidential is above internal, the highest label "
        "sales.example accepts (1 more reason)"
    )


def test_explain_shows_the_first_warning() -> None:
    decision = evaluate(snapshot(WARN_EMAIL), replace(POST, fields={"content": "ana@example.com"}))
    assert explain(decision) == (
        "sent to sales.example (warning for sales.example: rule 'mind-addresses' "
        "matched e-mail address a***@example.com in content)"
    )


def test_decision_records_the_policy_version_and_peer() -> None:
    decision = evaluate(snapshot(), POST)
    assert (decision.policy_version, decision.peer, decision.direction) == (
        7,
        "sales.example",
        "outbound",
    )


def test_decision_says_whether_anything_crosses() -> None:
    assert evaluate(snapshot(), POST).crosses
    assert not evaluate(snapshot(), replace(POST, label="restricted")).crosses


# --- preview ------------------------------------------------------------------------


def test_preview_decides_for_every_peer() -> None:
    crossings = [
        replace(POST, peer=p, label="confidential") for p in ("sales.example", "hr.example")
    ]
    decisions = preview(snapshot(), crossings)
    assert {peer: d.outcome for peer, d in decisions.items()} == {
        "sales.example": "deny",
        "hr.example": "allow",
    }


def test_preview_is_the_same_as_evaluate() -> None:
    crossing = replace(POST, fields={"content": "falcon"})
    assert preview(snapshot(BLOCK_FALCON), [crossing])["sales.example"] == evaluate(
        snapshot(BLOCK_FALCON), crossing
    )


def test_preview_refuses_two_crossings_for_one_peer() -> None:
    with pytest.raises(ValueError, match="two crossings"):
        preview(snapshot(), [POST, POST])


# --- label scale --------------------------------------------------------------------


def test_label_scale_orders_labels_lowest_first() -> None:
    scale = LabelScale()
    assert scale.compare("public", "confidential") < 0
    assert scale.at_most("internal", "internal")
    assert not scale.at_most("restricted", "confidential")
    assert scale.higher("confidential", "internal") == "confidential"
    assert (scale.lowest, scale.highest) == ("public", "restricted")


def test_label_scale_names_are_configurable() -> None:
    scale = LabelScale(("open", "team", "secret"))
    assert scale.rank("secret") == 2
    assert list(scale) == ["open", "team", "secret"]


def test_unknown_label_error_names_the_known_labels() -> None:
    with pytest.raises(UnknownLabelError) as error:
        LabelScale().rank("top-secret")
    assert str(error.value) == (
        "unknown label 'top-secret' (known labels: public, internal, confidential, restricted)"
    )


def test_label_scale_rejects_duplicates() -> None:
    with pytest.raises(InvalidPolicyError, match="unique"):
        LabelScale(("a", "b", "a"))


def test_snapshot_rejects_a_peer_clearance_off_the_scale() -> None:
    terms = DirectionTerms(max_label="secret")
    with pytest.raises(UnknownLabelError) as error:
        PolicySnapshot(
            version=1, peers={"x.example": PeerAgreement("x.example", "allowed", terms, terms)}
        )
    assert error.value.path == "peers[0].outbound.max_label"


def test_snapshot_rejects_duplicate_rule_ids() -> None:
    with pytest.raises(InvalidPolicyError) as error:
        PolicySnapshot(version=1, content_rules=(BLOCK_FALCON, BLOCK_FALCON))
    assert error.value.path == "content_rules[1].id"
