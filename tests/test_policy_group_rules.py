"""Group rules: who may send which kinds to whom, by directory group."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from node.policy import (
    Crossing,
    DirectionTerms,
    GroupRule,
    InvalidPolicyError,
    PeerAgreement,
    PolicySnapshot,
    Recipient,
    Scope,
    evaluate,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
TERMS = DirectionTerms(max_label="restricted")

LEGAL_STAYS_HOME = GroupRule(
    id="legal-stays-home",
    description="Posts by members of Legal never leave the node",
    effect="deny",
    kinds=frozenset({"posts", "replies"}),
    scope=Scope(directions=frozenset({"outbound"}), author_groups=frozenset({"legal"})),
)
INTERNS_NO_DMS = GroupRule(
    id="interns-no-dms",
    description="Interns may not send direct messages to other nodes",
    effect="deny",
    kinds=frozenset({"direct_messages"}),
    scope=Scope(directions=frozenset({"outbound"}), author_groups=frozenset({"interns"})),
)
PARTNER_DMS = GroupRule(
    id="partner-dms",
    description="Direct messages from partner.example only reach members of Partners",
    effect="allow_only",
    kinds=frozenset({"direct_messages"}),
    scope=Scope(
        directions=frozenset({"inbound"}),
        peers_mode="only",
        peers=frozenset({"partner.example"}),
        recipient_groups=frozenset({"partners"}),
    ),
)


def policy(*rules: GroupRule) -> PolicySnapshot:
    peers = {
        d: PeerAgreement(d, "allowed", TERMS, TERMS) for d in ("sales.example", "partner.example")
    }
    return PolicySnapshot(version=1, peers=peers, group_rules=rules)


BASE = Crossing(
    direction="outbound", peer="sales.example", kind="posts", now=NOW, fields={"content": "hello"}
)


def crossing(**changes: Any) -> Crossing:
    return replace(BASE, **changes)


def outcome(snapshot: PolicySnapshot, c: Crossing) -> str:
    return evaluate(snapshot, c).outcome


LEGAL = frozenset({"legal", "staff"})


def test_posts_by_legal_never_leave_the_node() -> None:
    decision = evaluate(policy(LEGAL_STAYS_HOME), crossing(author_groups=LEGAL))
    assert decision.outcome == "deny"
    assert decision.reasons[0].message == (
        "not sent to sales.example: rule 'legal-stays-home' forbids posts by members of legal"
    )


def test_replies_by_legal_never_leave_the_node_either() -> None:
    assert (
        outcome(policy(LEGAL_STAYS_HOME), crossing(kind="replies", author_groups=LEGAL)) == "deny"
    )


def test_kinds_outside_a_group_rule_are_not_affected() -> None:
    reaction = crossing(kind="reactions", author_groups=LEGAL, fields={})
    assert outcome(policy(LEGAL_STAYS_HOME), reaction) == "allow"


def test_posts_by_non_members_are_not_affected() -> None:
    assert (
        outcome(policy(LEGAL_STAYS_HOME), crossing(author_groups=frozenset({"staff"}))) == "allow"
    )


def test_outbound_group_rule_does_not_affect_inbound() -> None:
    inbound = crossing(direction="inbound", author_groups=LEGAL)
    assert outcome(policy(LEGAL_STAYS_HOME), inbound) == "allow"


def test_interns_may_not_send_direct_messages_to_other_nodes() -> None:
    dm = crossing(kind="direct_messages", author_groups=frozenset({"interns"}))
    assert outcome(policy(INTERNS_NO_DMS), dm) == "deny"


def test_interns_may_still_post() -> None:
    assert (
        outcome(policy(INTERNS_NO_DMS), crossing(author_groups=frozenset({"interns"}))) == "allow"
    )


def inbound_dm(peer: str, *recipients: Recipient) -> Crossing:
    return crossing(direction="inbound", peer=peer, kind="direct_messages", recipients=recipients)


def test_direct_message_from_partner_reaches_members_of_partners() -> None:
    dm = inbound_dm("partner.example", Recipient("@bo", frozenset({"partners"})))
    assert outcome(policy(PARTNER_DMS), dm) == "allow"


def test_direct_message_from_partner_to_a_non_member_is_denied() -> None:
    dm = inbound_dm("partner.example", Recipient("@cy", frozenset({"staff"})))
    decision = evaluate(policy(PARTNER_DMS), dm)
    assert decision.outcome == "deny"
    assert decision.reasons[0].code == "group_not_permitted"
    assert decision.reasons[0].message == (
        "not accepted from partner.example: rule 'partner-dms' allows direct messages only to "
        "members of partners, and @cy is not one"
    )


def test_direct_message_from_partner_with_one_outsider_among_recipients_is_denied() -> None:
    dm = inbound_dm(
        "partner.example",
        Recipient("@bo", frozenset({"partners"})),
        Recipient("@cy"),
        Recipient("@di"),
    )
    decision = evaluate(policy(PARTNER_DMS), dm)
    assert decision.outcome == "deny"
    assert "@cy, @di are not" in decision.reasons[0].message


def test_direct_message_without_known_recipients_fails_closed() -> None:
    decision = evaluate(policy(PARTNER_DMS), inbound_dm("partner.example"))
    assert decision.outcome == "deny"
    assert "no recipient is known" in decision.reasons[0].message


def test_allow_only_rule_does_not_affect_other_peers() -> None:
    dm = inbound_dm("sales.example", Recipient("@cy", frozenset({"staff"})))
    assert outcome(policy(PARTNER_DMS), dm) == "allow"


def test_allow_only_author_groups_limit_who_may_send() -> None:
    comms_only = GroupRule(
        id="comms-only",
        effect="allow_only",
        kinds=frozenset({"posts"}),
        scope=Scope(directions=frozenset({"outbound"}), author_groups=frozenset({"comms"})),
    )
    assert outcome(policy(comms_only), crossing(author_groups=frozenset({"comms"}))) == "allow"
    decision = evaluate(policy(comms_only), crossing(author="@ana"))
    assert decision.reasons[0].message.endswith(
        "rule 'comms-only' allows posts only by members of comms, and @ana is not one"
    )


def test_group_rule_scoped_to_labels_applies_only_to_them() -> None:
    rule = replace(
        LEGAL_STAYS_HOME, scope=replace(LEGAL_STAYS_HOME.scope, labels=frozenset({"confidential"}))
    )
    assert outcome(policy(rule), crossing(author_groups=LEGAL, label="internal")) == "allow"
    decision = evaluate(policy(rule), crossing(author_groups=LEGAL, label="confidential"))
    assert decision.reasons[0].message.endswith("labelled confidential")


def test_dry_run_group_rule_never_changes_the_outcome() -> None:
    decision = evaluate(
        policy(replace(LEGAL_STAYS_HOME, mode="dry_run")), crossing(author_groups=LEGAL)
    )
    assert decision.outcome == "allow"
    assert decision.reasons[0].dry_run
    assert decision.reasons[0].message.startswith(
        "dry run: would not have been sent to sales.example"
    )


def test_allow_only_rule_needs_groups_to_allow() -> None:
    with pytest.raises(InvalidPolicyError, match="allow_only"):
        GroupRule(id="empty", effect="allow_only", scope=Scope())
