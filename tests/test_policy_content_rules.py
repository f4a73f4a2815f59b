"""Content rules: each action, each scope dimension, dry runs, and how outcomes combine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from node.policy import (
    MAX_SCAN_CHARS,
    REDACTION,
    CardNumberMatcher,
    ContentAction,
    ContentRule,
    Crossing,
    Decision,
    DirectionTerms,
    EmailMatcher,
    KeywordMatcher,
    Matcher,
    PeerAgreement,
    PolicySnapshot,
    Recipient,
    RuleMode,
    Scope,
    evaluate,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
CARD = "4111 1111 1111 1111"
FALCON = KeywordMatcher(("falcon",))


def policy(*rules: ContentRule, max_label: str = "confidential") -> PolicySnapshot:
    terms = DirectionTerms(max_label=max_label)
    peers = {
        domain: PeerAgreement(domain, "allowed", terms, terms)
        for domain in ("sales.example", "hr.example", "a.corp.example")
    }
    return PolicySnapshot(version=3, peers=peers, content_rules=rules)


def rule(
    action: ContentAction = "block",
    *matchers: Matcher,
    rule_id: str = "r1",
    scope: Scope | None = None,
    mode: RuleMode = "enforce",
    raise_to: str | None = None,
) -> ContentRule:
    return ContentRule(
        id=rule_id,
        action=action,
        matchers=matchers or (FALCON,),
        scope=scope or Scope(),
        mode=mode,
        raise_to=raise_to,
    )


BASE = Crossing(
    direction="outbound",
    peer="sales.example",
    kind="posts",
    now=NOW,
    label="internal",
    fields={"content": "hello"},
)


def post(text: str = "about project falcon", **changes: Any) -> Crossing:
    return replace(BASE, fields={"content": text}, **changes)


def outcome(snapshot: PolicySnapshot, crossing: Crossing) -> str:
    return evaluate(snapshot, crossing).outcome


def messages(decision: Decision) -> list[str]:
    return [r.message for r in decision.reasons]


# --- actions ------------------------------------------------------------------------


def test_block_denies_with_a_reason_naming_rule_match_and_field() -> None:
    decision = evaluate(policy(rule("block", rule_id="no-falcon")), post())
    assert decision.outcome == "deny"
    reason = decision.reasons[0]
    assert (reason.rule_id, reason.code, reason.field, reason.matched) == (
        "no-falcon",
        "content_blocked",
        "content",
        "falcon",
    )
    assert reason.message == (
        "not sent to sales.example: rule 'no-falcon' matched keyword 'falcon' in content"
    )


def test_redact_replaces_the_matched_text_in_the_copy() -> None:
    decision = evaluate(policy(rule("redact", CardNumberMatcher())), post(f"pay {CARD} now"))
    assert decision.outcome == "redact"
    assert decision.transformed == {"content": f"pay {REDACTION} now"}


def test_redact_leaves_the_crossing_itself_unchanged() -> None:
    crossing = post(f"pay {CARD} now")
    evaluate(policy(rule("redact", CardNumberMatcher())), crossing)
    assert crossing.fields == {"content": f"pay {CARD} now"}


def test_redact_changes_only_the_copy_for_that_destination() -> None:
    snapshot = policy(
        rule(
            "redact",
            CardNumberMatcher(),
            scope=Scope(peers_mode="only", peers=frozenset({"sales.example"})),
        )
    )
    for_sales = evaluate(snapshot, post(f"pay {CARD}", peer="sales.example"))
    for_hr = evaluate(snapshot, post(f"pay {CARD}", peer="hr.example"))
    assert for_sales.transformed == {"content": f"pay {REDACTION}"}
    assert (for_hr.outcome, for_hr.transformed) == ("allow", None)


def test_redact_covers_every_field_and_merges_overlapping_matches() -> None:
    snapshot = policy(
        rule("redact", KeywordMatcher(("project falcon",)), rule_id="a"),
        rule("redact", FALCON, rule_id="b"),
    )
    crossing = replace(
        BASE, fields={"content": "the project falcon plan", "summary": "falcon", "other": "ok"}
    )
    decision = evaluate(snapshot, crossing)
    assert decision.transformed == {
        "content": f"the {REDACTION} plan",
        "summary": REDACTION,
        "other": "ok",
    }


def test_hold_sends_the_crossing_to_review() -> None:
    decision = evaluate(policy(rule("hold")), post())
    assert decision.outcome == "hold"
    assert decision.reasons[0].message.startswith("held for review before sending to sales.example")


def test_warn_lets_the_crossing_through_with_a_warning() -> None:
    decision = evaluate(policy(rule("warn", EmailMatcher())), post("mail ana@example.com"))
    assert decision.outcome == "allow"
    assert [r.code for r in decision.warnings] == ["content_warning"]
    assert decision.warnings[0].matched == "a***@example.com"


def test_label_action_raises_the_effective_label() -> None:
    snapshot = policy(rule("label", CardNumberMatcher(), raise_to="confidential"))
    decision = evaluate(snapshot, post(f"card {CARD}"))
    assert decision.outcome == "allow"
    assert decision.effective_label == "confidential"
    assert decision.reasons[0].code == "label_raised"


def test_label_action_raising_above_clearance_denies() -> None:
    snapshot = policy(
        rule(
            "label", CardNumberMatcher(), rule_id="cards-are-confidential", raise_to="confidential"
        ),
        max_label="internal",
    )
    decision = evaluate(snapshot, post(f"card {CARD}"))
    assert decision.outcome == "deny"
    assert decision.effective_label == "confidential"
    denial = decision.decisive()[0]
    assert (denial.code, denial.rule_id) == ("label_above_clearance", "cards-are-confidential")
    assert denial.message == (
        "not sent to sales.example: label confidential (raised from internal by rule "
        "'cards-are-confidential') is above internal, the highest label sales.example accepts"
    )


def test_label_action_never_lowers_a_label() -> None:
    snapshot = policy(rule("label", raise_to="public"))
    decision = evaluate(snapshot, post(label="confidential"))
    assert decision.effective_label == "confidential"
    assert decision.reasons == ()


def test_raised_label_brings_label_scoped_rules_into_scope() -> None:
    snapshot = policy(
        rule("label", CardNumberMatcher(), rule_id="raise", raise_to="confidential"),
        ContentRule(
            id="no-confidential-outside",
            action="block",
            scope=Scope(labels=frozenset({"confidential"})),
        ),
    )
    decision = evaluate(snapshot, post(f"card {CARD}"))
    assert (
        "not sent to sales.example: rule 'no-confidential-outside' matched label confidential"
        in (messages(decision))
    )


def test_raising_the_label_keeps_rules_for_the_original_label_in_force() -> None:
    snapshot = policy(
        rule("label", CardNumberMatcher(), rule_id="raise", raise_to="confidential"),
        ContentRule(id="hold-internal", action="hold", scope=Scope(labels=frozenset({"internal"}))),
    )
    assert outcome(snapshot, post(f"card {CARD}", label="internal")) == "hold"


def test_rule_without_matchers_applies_to_everything_in_scope() -> None:
    snapshot = policy(
        ContentRule(
            id="no-confidential-outside",
            action="block",
            scope=Scope(labels=frozenset({"confidential", "restricted"})),
        )
    )
    assert outcome(snapshot, post("harmless", label="internal")) == "allow"
    decision = evaluate(snapshot, post("harmless", label="confidential"))
    assert messages(decision) == [
        "not sent to sales.example: rule 'no-confidential-outside' matched label confidential"
    ]


# --- scope --------------------------------------------------------------------------


def test_scope_direction_limits_a_rule_to_outbound() -> None:
    snapshot = policy(rule(scope=Scope(directions=frozenset({"outbound"}))))
    assert outcome(snapshot, post()) == "deny"
    assert outcome(snapshot, post(direction="inbound")) == "allow"


def test_scope_direction_limits_a_rule_to_inbound() -> None:
    snapshot = policy(rule(scope=Scope(directions=frozenset({"inbound"}))))
    assert outcome(snapshot, post()) == "allow"
    decision = evaluate(snapshot, post(direction="inbound"))
    assert decision.reasons[0].message.startswith("not accepted from sales.example")


def test_scope_all_peers_applies_to_every_peer() -> None:
    snapshot = policy(rule(scope=Scope(peers_mode="all")))
    assert {outcome(snapshot, post(peer=p)) for p in ("sales.example", "hr.example")} == {"deny"}


def test_scope_only_peers_applies_to_listed_peers_alone() -> None:
    snapshot = policy(rule(scope=Scope(peers_mode="only", peers=frozenset({"sales.example"}))))
    assert outcome(snapshot, post(peer="sales.example")) == "deny"
    assert outcome(snapshot, post(peer="hr.example")) == "allow"


def test_scope_except_peers_applies_to_all_but_listed_peers() -> None:
    snapshot = policy(rule(scope=Scope(peers_mode="except", peers=frozenset({"sales.example"}))))
    assert outcome(snapshot, post(peer="sales.example")) == "allow"
    assert outcome(snapshot, post(peer="hr.example")) == "deny"


def test_scope_peers_accept_wildcards() -> None:
    snapshot = policy(rule(scope=Scope(peers_mode="only", peers=frozenset({"*.corp.example"}))))
    assert outcome(snapshot, post(peer="a.corp.example")) == "deny"
    assert outcome(snapshot, post(peer="sales.example")) == "allow"


def test_scope_author_groups_limit_a_rule_to_members() -> None:
    snapshot = policy(rule(scope=Scope(author_groups=frozenset({"finance"}))))
    assert outcome(snapshot, post(author_groups=frozenset({"finance", "staff"}))) == "deny"
    assert outcome(snapshot, post(author_groups=frozenset({"staff"}))) == "allow"


def test_scope_recipient_groups_limit_a_rule_to_messages_for_members() -> None:
    snapshot = policy(rule(scope=Scope(recipient_groups=frozenset({"partners"}))))
    to_partner = (Recipient("@bo", frozenset({"partners"})), Recipient("@cy"))
    assert outcome(snapshot, post(kind="direct_messages", recipients=to_partner)) == "deny"
    to_other = (Recipient("@cy", frozenset({"staff"})),)
    assert outcome(snapshot, post(kind="direct_messages", recipients=to_other)) == "allow"


def test_scope_labels_limit_a_rule_to_those_labels() -> None:
    snapshot = policy(rule(scope=Scope(labels=frozenset({"confidential"}))))
    assert outcome(snapshot, post(label="confidential")) == "deny"
    assert outcome(snapshot, post(label="internal")) == "allow"


# --- dry run ------------------------------------------------------------------------


def test_dry_run_rule_is_reported_but_never_changes_the_outcome() -> None:
    decision = evaluate(policy(rule("block", mode="dry_run", rule_id="trial")), post())
    assert decision.outcome == "allow"
    assert decision.reasons[0].dry_run
    assert decision.reasons[0].message == (
        "dry run: would not have been sent to sales.example: "
        "rule 'trial' matched keyword 'falcon' in content"
    )


def test_dry_run_redaction_does_not_transform_the_copy() -> None:
    decision = evaluate(policy(rule("redact", mode="dry_run")), post())
    assert (decision.outcome, decision.transformed) == ("allow", None)
    assert decision.reasons[0].message.startswith("dry run: would have been redacted")


def test_dry_run_label_rule_reports_the_denial_it_would_cause() -> None:
    snapshot = policy(
        rule("label", CardNumberMatcher(), mode="dry_run", raise_to="confidential"),
        max_label="internal",
    )
    decision = evaluate(snapshot, post(f"card {CARD}"))
    assert (decision.outcome, decision.effective_label) == ("allow", "internal")
    assert decision.reasons[0].message.startswith(
        "dry run: label would have been raised to confidential for sales.example, "
        "above internal, so it would not have crossed"
    )


# --- combining ----------------------------------------------------------------------


def test_most_restrictive_outcome_wins() -> None:
    snapshot = policy(
        rule("warn", rule_id="w"),
        rule("redact", rule_id="r"),
        rule("hold", rule_id="h"),
        rule("block", rule_id="b"),
    )
    assert outcome(snapshot, post()) == "deny"


def test_hold_beats_redact_and_keeps_the_redacted_copy_for_review() -> None:
    snapshot = policy(rule("redact", rule_id="r"), rule("hold", EmailMatcher(), rule_id="h"))
    decision = evaluate(snapshot, post("falcon, ask ana@example.com"))
    assert decision.outcome == "hold"
    assert decision.transformed == {"content": f"{REDACTION}, ask ana@example.com"}


def test_deny_returns_no_copy() -> None:
    snapshot = policy(rule("redact", rule_id="r"), rule("block", EmailMatcher(), rule_id="b"))
    decision = evaluate(snapshot, post("falcon, ask ana@example.com"))
    assert (decision.outcome, decision.transformed) == ("deny", None)


def test_every_reason_is_collected_not_just_the_first() -> None:
    snapshot = policy(
        rule("block", rule_id="one"),
        rule("hold", CardNumberMatcher(), rule_id="two"),
        rule("warn", EmailMatcher(), rule_id="three"),
    )
    decision = evaluate(snapshot, post(f"falcon {CARD} ana@example.com"))
    assert [r.rule_id for r in decision.reasons] == ["one", "two", "three"]


def test_reasons_never_contain_the_full_secret() -> None:
    snapshot = policy(
        rule("block", CardNumberMatcher()), rule("hold", CardNumberMatcher(), rule_id="h")
    )
    decision = evaluate(snapshot, post(f"card {CARD}"))
    for reason in decision.reasons:
        assert CARD not in reason.message
        assert reason.matched == "**** **** **** 1111"


def test_several_matches_in_a_field_are_counted() -> None:
    decision = evaluate(policy(rule()), post("falcon, falcon and FALCON"))
    assert decision.reasons[0].message.endswith(
        "matched keyword 'falcon' and 2 more matches in content"
    )


def test_each_matching_field_gets_its_own_reason() -> None:
    crossing = replace(BASE, fields={"content": "falcon", "summary": "Falcon"})
    decision = evaluate(policy(rule()), crossing)
    assert [(r.field, r.matched) for r in decision.reasons] == [
        ("content", "falcon"),
        ("summary", "Falcon"),
    ]


def test_text_too_long_to_scan_is_held_for_review() -> None:
    decision = evaluate(policy(rule()), post("x" * (MAX_SCAN_CHARS + 1)))
    assert decision.outcome == "hold"
    assert [r.code for r in decision.reasons] == ["too_long_to_scan"]


def test_secret_beyond_the_scan_cap_cannot_slip_through() -> None:
    text = "x " * MAX_SCAN_CHARS + CARD
    assert outcome(policy(rule("block", CardNumberMatcher())), post(text)) == "hold"


def test_crossing_without_text_is_not_scanned() -> None:
    reaction = replace(BASE, kind="reactions", fields={})
    assert evaluate(policy(rule()), reaction).outcome == "allow"
