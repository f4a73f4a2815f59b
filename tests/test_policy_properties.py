"""Properties of the policy engine, checked on generated policies and crossings."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from node.policy import (
    ALL_KINDS,
    CONTENT_ACTIONS,
    DEFAULT_LABELS,
    DIRECTIONS,
    GROUP_EFFECTS,
    KINDS,
    OUTCOME_RANK,
    PEERS_MODES,
    CardNumberMatcher,
    ContentRule,
    Crossing,
    DirectionTerms,
    EmailMatcher,
    GroupRule,
    IbanMatcher,
    KeywordMatcher,
    PeerAgreement,
    PhoneMatcher,
    PolicySnapshot,
    Recipient,
    RegexMatcher,
    Scope,
    evaluate,
    parse_policy_file,
    policy_to_toml,
)
from node.policy.detectors import luhn_valid
from node.policy.matchers import ScanText

PEERS = ("sales.example", "hr.example", "a.corp.example")
GROUPS = ("legal", "interns", "partners", "staff")
WORDS = ("falcon", "merger", "hello", "budget", "team", "update", "Falcon", "TEAM")
SECRETS = (
    "4111 1111 1111 1111",
    "ana@example.com",
    "DE89 3704 0044 0532 0130 00",
    "+49 30 1234567",
)
MATCHERS = (
    KeywordMatcher(("falcon",)),
    KeywordMatcher(("merger", "budget cut")),
    RegexMatcher(r"\bteam\b", ignore_case=True),
    CardNumberMatcher(),
    EmailMatcher(),
    IbanMatcher(),
    PhoneMatcher(),
)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

# Scope conditions are often absent, so that generated rules overlap and interact.
group_sets = st.just(frozenset[str]()) | st.frozensets(st.sampled_from(GROUPS), max_size=2)
label_sets = st.just(frozenset[str]()) | st.frozensets(st.sampled_from(DEFAULT_LABELS), max_size=2)


@st.composite
def scopes(draw: st.DrawFn) -> Scope:
    mode = draw(st.sampled_from(PEERS_MODES[:1] + PEERS_MODES))
    peers = (
        frozenset()
        if mode == "all"
        else draw(
            st.frozensets(st.sampled_from((*PEERS, "*.corp.example")), min_size=1, max_size=2)
        )
    )
    return Scope(
        directions=draw(
            st.just(frozenset(DIRECTIONS)) | st.frozensets(st.sampled_from(DIRECTIONS), min_size=1)
        ),
        peers_mode=mode,
        peers=peers,
        author_groups=draw(group_sets),
        recipient_groups=draw(group_sets),
        labels=draw(label_sets),
    )


#: Scopes that only look at labels, so that generated label interactions are frequent.
label_scopes = st.builds(
    Scope, labels=st.frozensets(st.sampled_from(DEFAULT_LABELS), min_size=1, max_size=2)
)


@st.composite
def content_rules(
    draw: st.DrawFn, rule_id: str = "c", scope: st.SearchStrategy[Scope] | None = None
) -> ContentRule:
    action = draw(st.sampled_from(CONTENT_ACTIONS))
    return ContentRule(
        id=rule_id,
        action=action,
        matchers=tuple(draw(st.lists(st.sampled_from(MATCHERS), max_size=2, unique=True))),
        raise_to=draw(st.sampled_from(DEFAULT_LABELS)) if action == "label" else None,
        scope=draw(scope if scope is not None else scopes()),
        mode=draw(st.sampled_from(["enforce", "dry_run"])),
    )


@st.composite
def group_rules(draw: st.DrawFn, rule_id: str = "g") -> GroupRule:
    effect = draw(st.sampled_from(GROUP_EFFECTS))
    scope = draw(scopes())
    if effect == "allow_only" and not (scope.author_groups or scope.recipient_groups):
        scope = replace(scope, author_groups=frozenset({draw(st.sampled_from(GROUPS))}))
    return GroupRule(
        id=rule_id,
        effect=effect,
        kinds=draw(st.frozensets(st.sampled_from(KINDS), min_size=1)),
        scope=scope,
        mode=draw(st.sampled_from(["enforce", "dry_run"])),
    )


# Mostly generous terms, so that rules, not terms, decide most generated crossings.
terms = st.builds(
    DirectionTerms,
    max_label=st.sampled_from(("internal", "confidential", "restricted", "restricted")),
    kinds=st.just(ALL_KINDS) | st.frozensets(st.sampled_from(KINDS), min_size=1),
    media=st.sampled_from((True, True, True, False)),
    profile_fields=st.frozensets(st.sampled_from(("title", "phone", "*")), max_size=2),
)


@st.composite
def snapshots(draw: st.DrawFn, scope: st.SearchStrategy[Scope] | None = None) -> PolicySnapshot:
    domains = draw(st.lists(st.sampled_from((*PEERS, "*.corp.example")), min_size=2, unique=True))
    peers = {
        d: PeerAgreement(
            d,
            draw(st.sampled_from(["allowed"] * 6 + ["blocked", "pending"])),
            draw(terms),
            draw(terms),
            note=draw(st.text(max_size=10)),
        )
        for d in domains
    }
    n_content = draw(st.integers(0, 4))
    n_group = draw(st.integers(0, 2))
    return PolicySnapshot(
        version=draw(st.integers(1, 1000)),
        federation_mode=draw(st.sampled_from(["allowlist", "blocklist", "open"])),
        default_label=draw(st.sampled_from(("public", "internal"))),
        peers=peers,
        content_rules=tuple(draw(content_rules(f"c{i}", scope)) for i in range(n_content)),
        group_rules=tuple(draw(group_rules(f"g{i}")) for i in range(n_group)),
        unlisted_outbound=draw(st.none() | terms),
    )


@st.composite
def crossings(draw: st.DrawFn) -> Crossing:
    pieces = draw(st.lists(st.sampled_from(WORDS + SECRETS), max_size=6))
    fields = {"content": " ".join(pieces)}
    if draw(st.booleans()):
        fields["summary"] = draw(st.sampled_from(WORDS + SECRETS))
    if draw(st.booleans()):
        fields["profile.title"] = draw(st.sampled_from(WORDS))
    return Crossing(
        direction=draw(st.sampled_from(DIRECTIONS)),
        peer=draw(st.sampled_from((*PEERS, *PEERS, "unknown.example"))),
        kind=draw(st.sampled_from(KINDS)),
        now=draw(st.datetimes(timezones=st.just(UTC))),
        label=draw(st.sampled_from(("public", "internal", "internal", "confidential", None))),
        fields=fields,
        has_media=draw(st.sampled_from((False, False, True))),
        author="@ana",
        author_groups=draw(group_sets),
        recipients=tuple(
            Recipient(f"@r{i}", groups)
            for i, groups in enumerate(draw(st.lists(group_sets, max_size=2)))
        ),
    )


def with_rule(
    snapshot: PolicySnapshot, rule: ContentRule | GroupRule, position: int
) -> PolicySnapshot:
    if isinstance(rule, ContentRule):
        rules = list(snapshot.content_rules)
        rules.insert(position % (len(rules) + 1), rule)
        return replace(snapshot, content_rules=tuple(rules))
    groups = list(snapshot.group_rules)
    groups.insert(position % (len(groups) + 1), rule)
    return replace(snapshot, group_rules=tuple(groups))


extra_rules = content_rules("extra") | group_rules("extra")


@PROPERTY_SETTINGS
@given(snapshots(), crossings(), extra_rules, st.integers(0, 10))
def test_adding_an_enforced_rule_never_makes_an_outcome_less_restrictive(
    snapshot: PolicySnapshot, crossing: Crossing, rule: ContentRule | GroupRule, position: int
) -> None:
    rule = replace(rule, mode="enforce")
    before = evaluate(snapshot, crossing)
    after = evaluate(with_rule(snapshot, rule, position), crossing)
    assert OUTCOME_RANK[after.outcome] >= OUTCOME_RANK[before.outcome]


GENEROUS = DirectionTerms(max_label="restricted", profile_fields=frozenset({"*"}))


@st.composite
def label_scoped_snapshots(draw: st.DrawFn) -> PolicySnapshot:
    """Every peer welcome; content rules that look only at labels."""
    n_content = draw(st.integers(1, 4))
    return PolicySnapshot(
        version=1,
        federation_mode="open",
        peers={p: PeerAgreement(p, "allowed", GENEROUS, GENEROUS) for p in PEERS},
        content_rules=tuple(draw(content_rules(f"c{i}", label_scopes)) for i in range(n_content)),
    )


@PROPERTY_SETTINGS
@given(
    label_scoped_snapshots() | snapshots(),
    crossings(),
    st.sampled_from(DEFAULT_LABELS),
    st.integers(0, 10),
)
def test_raising_the_label_never_makes_an_outcome_less_restrictive(
    snapshot: PolicySnapshot, crossing: Crossing, raise_to: str, position: int
) -> None:
    raise_all = ContentRule(id="raise-all", action="label", raise_to=raise_to)
    before = evaluate(snapshot, crossing)
    after = evaluate(with_rule(snapshot, raise_all, position), crossing)
    assert OUTCOME_RANK[after.outcome] >= OUTCOME_RANK[before.outcome]


@PROPERTY_SETTINGS
@given(snapshots(), crossings(), extra_rules, st.integers(0, 10))
def test_dry_run_rules_never_change_an_outcome(
    snapshot: PolicySnapshot, crossing: Crossing, rule: ContentRule | GroupRule, position: int
) -> None:
    rule = replace(rule, mode="dry_run")
    before = evaluate(snapshot, crossing)
    after = evaluate(with_rule(snapshot, rule, position), crossing)
    assert (after.outcome, after.transformed, after.effective_label) == (
        before.outcome,
        before.transformed,
        before.effective_label,
    )
    assert [r for r in after.reasons if not r.dry_run] == [
        r for r in before.reasons if not r.dry_run
    ]


@PROPERTY_SETTINGS
@given(snapshots(), crossings())
def test_redacted_copies_never_contain_a_redacted_secret(
    snapshot: PolicySnapshot, crossing: Crossing
) -> None:
    redact_all = ContentRule(
        id="redact-everything-secret",
        action="redact",
        matchers=(CardNumberMatcher(), EmailMatcher(), IbanMatcher(), PhoneMatcher()),
    )
    decision = evaluate(with_rule(snapshot, redact_all, 0), crossing)
    if decision.outcome == "deny":
        assert decision.transformed is None
        return
    assert decision.transformed is not None or not any(
        secret in text for secret in SECRETS for text in crossing.fields.values()
    )
    for text in (decision.transformed or {}).values():
        assert not any(secret in text for secret in SECRETS)
    for reason in decision.reasons:
        assert not any(secret in reason.message for secret in SECRETS)


@PROPERTY_SETTINGS
@given(snapshots())
def test_every_snapshot_survives_a_round_trip_through_its_policy_file(
    snapshot: PolicySnapshot,
) -> None:
    assert parse_policy_file(policy_to_toml(snapshot), snapshot.version) == snapshot


# --- the prefilters never hide a match ----------------------------------------------

# Letters that case-fold unusually: dotless i, dotted I, long s, Kelvin sign, sharp s.
TRICKY = "aks\u0131\u0130\u017f\u212a\u00df\u1e9e\u00e90 -_.\n"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=TRICKY, min_size=1, max_size=4), st.text(alphabet=TRICKY, max_size=30))
def test_keyword_prefilter_never_hides_a_match(keyword: str, text: str) -> None:
    if not keyword.strip():
        return
    matcher = KeywordMatcher((keyword,))
    expected = [m.span() for m in matcher._pattern.finditer(text)]
    assert [(s.start, s.end) for s in matcher.find(ScanText(text))] == expected


PATTERNS = (r"\bPRJ-\d{4}\b", r"(?i)pass(word)?\s*[:=]", r"\d{3}-\d{2}", r"(?i:ab)c", r"x|yz")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(PATTERNS), st.text(alphabet="PRJprjASWORDasword-:= 0123٣xyzcbBA", max_size=30)
)
def test_regex_prefilter_never_hides_a_match(pattern: str, text: str) -> None:
    expected = [m.span() for m in re.finditer(pattern, text)]
    assert [(s.start, s.end) for s in RegexMatcher(pattern).find(ScanText(text))] == expected


# --- detectors on generated numbers -------------------------------------------------


def luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=15, max_size=15), st.sampled_from([" ", "-", ""]))
def test_every_luhn_valid_sixteen_digit_number_is_found(body: str, separator: str) -> None:
    number = luhn_complete("4" + body[1:])
    card = separator.join(number[i : i + 4] for i in range(0, 16, 4))
    text = f"my card {card} thanks"
    assert [text[s.start : s.end] for s in CardNumberMatcher().find(ScanText(text))] == [card]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=15, max_size=15), st.integers(0, 15), st.integers(1, 9)
)
def test_a_card_number_with_one_wrong_digit_is_not_found(
    body: str, position: int, change: int
) -> None:
    number = luhn_complete("4" + body[1:])
    wrong = number[:position] + str((int(number[position]) + change) % 10) + number[position + 1 :]
    assert CardNumberMatcher().find(ScanText(f"card {wrong}")) == ()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=18, max_size=18), st.booleans())
def test_every_mod97_valid_german_iban_is_found(bban: str, spaced: bool) -> None:
    numeric = int(bban + "131400")  # "DE00" moved to the end, letters as numbers
    iban = f"DE{98 - numeric % 97:02d}{bban}"
    if spaced:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    text = f"IBAN: {iban}."
    assert [text[s.start : s.end] for s in IbanMatcher().find(ScanText(text))] == [iban]
