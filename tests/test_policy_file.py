"""The policy file: parsing, defaults, errors that name path and line, and round trips."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from node.policy import (
    ALL_KINDS,
    CardNumberMatcher,
    ContentRule,
    DirectionTerms,
    GroupRule,
    KeywordMatcher,
    LabelScale,
    PeerAgreement,
    PolicyFileError,
    PolicySnapshot,
    RegexMatcher,
    Scope,
    parse_policy_file,
    policy_to_toml,
    policyfile,
)

EXAMPLE = """\
# Boundary policy of the finance node
federation_mode = "allowlist"
labels = ["public", "internal", "confidential", "restricted"]
default_label = "internal"

[[peers]]
domain = "sales.example"
status = "allowed"
note = "Intra-group agreement 2026-03"
expires = 2027-03-31T00:00:00Z
outbound = { kinds = ["posts", "replies"], max_label = "internal", media = true, profile_fields = ["title", "department"] }
inbound = { kinds = ["posts", "replies", "direct_messages"], max_label = "confidential", media = true }

[[peers]]
domain = "*.partner.example"
status = "pending"

[peers.outbound]
kinds = ["posts", "follows"]
max_label = "public"
media = false

[[content_rules]]
id = "redact-card-numbers"
description = "Payment card numbers never leave the node"
matchers = [{ type = "card_number" }]
action = "redact"
mode = "enforce"
scope = { directions = ["outbound"], peers = "all" }

[[content_rules]]
id = "project-codes"
matchers = [
    { type = "regex", pattern = '\\bPRJ-\\d{4}\\b' },
    { type = "keyword", words = ["project falcon"] },
]
action = "hold"
scope = { peers = { except = ["sales.example"] } }

[[content_rules]]
id = "no-confidential-outside"
action = "block"
scope = { directions = ["outbound"], labels = ["confidential", "restricted"] }

[[group_rules]]
id = "legal-stays-home"
description = "Posts by members of Legal never leave the node"
effect = "deny"
kinds = ["posts", "replies"]
scope = { directions = ["outbound"], author_groups = ["legal"] }

[[group_rules]]
id = "partner-dms"
effect = "allow_only"
kinds = ["direct_messages"]
mode = "dry_run"
scope.directions = ["inbound"]
scope.peers = { only = ["partner.example"] }
scope.recipient_groups = ["partners"]
"""  # noqa: E501 (inline tables must stay on one line)


def parse_error(text: str) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as error:
        parse_policy_file(text, version=1)
    return error.value


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    return lines[occurrence - 1]


# --- reading ------------------------------------------------------------------------


def test_example_policy_file_parses_into_a_snapshot() -> None:
    snapshot = parse_policy_file(EXAMPLE, version=4)
    assert (snapshot.version, snapshot.federation_mode, snapshot.default_label) == (
        4,
        "allowlist",
        "internal",
    )
    sales = snapshot.peers["sales.example"]
    assert sales.outbound == DirectionTerms(
        kinds=frozenset({"posts", "replies"}),
        max_label="internal",
        media=True,
        profile_fields=frozenset({"title", "department"}),
    )
    assert snapshot.peers["*.partner.example"].outbound == DirectionTerms(
        kinds=frozenset({"posts", "follows"}), max_label="public", media=False
    )
    assert sales.expires == datetime(2027, 3, 31, tzinfo=UTC)
    assert snapshot.content_rules[1].matchers == (
        RegexMatcher(r"\bPRJ-\d{4}\b"),
        KeywordMatcher(("project falcon",)),
    )
    assert snapshot.content_rules[1].scope == Scope(
        peers_mode="except", peers=frozenset({"sales.example"})
    )
    assert snapshot.group_rules[1].mode == "dry_run"


def test_an_empty_file_is_the_default_policy() -> None:
    snapshot = parse_policy_file("", version=1)
    assert snapshot == PolicySnapshot(version=1)
    assert (snapshot.federation_mode, snapshot.labels, snapshot.default_label) == (
        "allowlist",
        LabelScale(),
        "internal",
    )


def test_omitted_terms_take_the_documented_defaults() -> None:
    snapshot = parse_policy_file('[[peers]]\ndomain = "x.example"\nstatus = "allowed"\n', 1)
    agreement = snapshot.peers["x.example"]
    assert agreement.outbound == DirectionTerms(
        kinds=ALL_KINDS, max_label="public", media=True, profile_fields=frozenset()
    )
    assert agreement.inbound == DirectionTerms(
        kinds=ALL_KINDS, max_label="public", media=True, profile_fields=frozenset({"*"})
    )
    assert agreement.note == ""


def test_omitted_rule_keys_take_the_documented_defaults() -> None:
    snapshot = parse_policy_file('[[content_rules]]\nid = "r"\naction = "warn"\n', 1)
    assert snapshot.content_rules == (ContentRule(id="r", action="warn"),)


def test_default_label_falls_back_to_the_lowest_label_of_a_custom_scale() -> None:
    snapshot = parse_policy_file('labels = ["open", "team", "secret"]\n', 1)
    assert snapshot.default_label == "open"


# --- errors -------------------------------------------------------------------------


def test_toml_syntax_error_reports_its_line() -> None:
    text = 'federation_mode = "allowlist"\nlabels = ["public",\ndefault_label = \n'
    error = parse_error(text)
    assert error.line == 3
    assert error.message.startswith("not valid TOML")


def test_unknown_default_label_reports_path_and_line() -> None:
    text = 'federation_mode = "open"\n\ndefault_label = "secret"\n'
    error = parse_error(text)
    assert (error.path, error.line) == ("default_label", 3)
    assert "unknown label 'secret'" in error.message


def test_unknown_peer_clearance_reports_path_and_line() -> None:
    text = EXAMPLE.replace('max_label = "confidential"', 'max_label = "secret"')
    error = parse_error(text)
    assert error.path == "peers[0].inbound.max_label"
    assert error.line == line_of(text, 'max_label = "secret"')


def test_bad_regex_reports_path_and_line() -> None:
    text = EXAMPLE.replace("'\\bPRJ-\\d{4}\\b'", "'PRJ-(\\d{4}'")
    error = parse_error(text)
    assert error.path == "content_rules[1].matchers[0].pattern"
    assert error.line == line_of(text, "PRJ-(")
    assert "invalid regular expression" in error.message


def test_unknown_action_reports_path_and_line_of_that_rule() -> None:
    text = EXAMPLE.replace('action = "block"', 'action = "blok"')
    error = parse_error(text)
    assert error.path == "content_rules[2].action"
    assert error.line == line_of(text, 'action = "blok"')
    assert error.message == (
        "unknown action 'blok' (expected one of block, redact, hold, warn, label)"
    )
    assert str(error).startswith(f"line {error.line}, content_rules[2].action: unknown action")


def test_unknown_kind_reports_path_and_line() -> None:
    text = EXAMPLE.replace(
        'effect = "deny"\nkinds = ["posts", "replies"]', 'effect = "deny"\nkinds = ["stories"]'
    )
    error = parse_error(text)
    assert error.path == "group_rules[0].kinds"
    assert error.line == line_of(text, '"stories"')
    assert "unknown activity kind 'stories'" in error.message


def test_error_in_a_sub_table_reports_its_line() -> None:
    text = EXAMPLE.replace('max_label = "public"', 'max_label = "secret"')
    error = parse_error(text)
    assert error.path == "peers[1].outbound.max_label"
    assert error.line == line_of(text, 'max_label = "secret"')


def test_error_in_a_dotted_key_reports_its_line() -> None:
    text = EXAMPLE.replace('scope.directions = ["inbound"]', 'scope.directions = ["sideways"]')
    error = parse_error(text)
    assert error.path == "group_rules[1].scope.directions"
    assert error.line == line_of(text, "sideways")


def test_unknown_scope_label_reports_path_and_line() -> None:
    text = EXAMPLE.replace('labels = ["confidential", "restricted"]', 'labels = ["secret"]')
    error = parse_error(text)
    assert error.path == "content_rules[2].scope.labels"
    assert error.line == line_of(text, 'labels = ["secret"]')


def test_misspelt_key_is_an_error_not_ignored() -> None:
    text = EXAMPLE.replace('action = "hold"', 'acton = "hold"')
    error = parse_error(text)
    # The missing action is noticed before the stray key.
    assert (error.path, error.message) == ("content_rules[1].action", "required key is missing")
    assert error.line == line_of(text, 'id = "project-codes"')
    text = EXAMPLE.replace('mode = "enforce"', 'mood = "enforce"')
    error = parse_error(text)
    assert (error.path, error.message) == ("content_rules[0].mood", "unknown key")
    assert error.line == line_of(text, "mood =")


def test_duplicate_rule_id_points_at_the_second_rule() -> None:
    text = EXAMPLE.replace('id = "project-codes"', 'id = "redact-card-numbers"')
    error = parse_error(text)
    assert error.path == "content_rules[1].id"
    assert error.line == line_of(text, 'id = "redact-card-numbers"', occurrence=2)


def test_label_rule_without_raise_to_is_an_error() -> None:
    error = parse_error('\n[[content_rules]]\nid = "r"\naction = "label"\n')
    assert (error.path, error.line) == ("content_rules[0].raise_to", 3)


def test_value_of_the_wrong_type_is_an_error() -> None:
    text = EXAMPLE.replace("media = true,", 'media = "yes",', 1)
    error = parse_error(text)
    assert error.path == "peers[0].outbound.media"
    assert error.line == line_of(text, 'media = "yes"')
    assert error.message == "expected true or false, got 'yes'"


def test_expiry_without_time_zone_is_an_error() -> None:
    text = EXAMPLE.replace("2027-03-31T00:00:00Z", "2027-03-31T00:00:00")
    error = parse_error(text)
    assert error.path == "peers[0].expires"
    assert error.line == line_of(text, "expires =")


def test_unknown_matcher_type_is_an_error() -> None:
    text = EXAMPLE.replace('type = "card_number"', 'type = "passport"')
    error = parse_error(text)
    assert error.path == "content_rules[0].matchers[0].type"
    assert "unknown matcher type 'passport'" in error.message


def test_malformed_peers_scope_is_an_error() -> None:
    text = EXAMPLE.replace('peers = "all"', 'peers = ["sales.example"]')
    error = parse_error(text)
    assert error.path == "content_rules[0].scope.peers"
    assert error.line == line_of(text, 'peers = ["sales.example"]')


def test_duplicate_peer_is_an_error() -> None:
    text = EXAMPLE.replace('domain = "*.partner.example"', 'domain = "Sales.Example"')
    error = parse_error(text)
    assert error.path == "peers[1].domain"
    assert error.line == line_of(text, 'domain = "Sales.Example"')


# --- writing ------------------------------------------------------------------------


def test_example_survives_a_round_trip() -> None:
    snapshot = parse_policy_file(EXAMPLE, version=4)
    assert parse_policy_file(policy_to_toml(snapshot), version=4) == snapshot


def test_awkward_text_survives_a_round_trip() -> None:
    terms = DirectionTerms(
        kinds=frozenset({"posts"}), max_label="b", media=False, profile_fields=frozenset({"*"})
    )
    snapshot = PolicySnapshot(
        version=9,
        federation_mode="open",
        labels=LabelScale(("a", "b", "c d")),
        default_label="c d",
        peers={
            "x.example": PeerAgreement(
                "x.example", "blocked", terms, terms, note='say "hi"\\\n\ttab \x7f é 🙂'
            )
        },
        content_rules=(
            ContentRule(
                id="quotes",
                action="label",
                raise_to="c d",
                description='it\'s "quoted"',
                matchers=(
                    RegexMatcher("it's [\\w']+\\n", ignore_case=True),
                    RegexMatcher(r"\d{3}\.\d"),
                    KeywordMatcher(('say "hi"', "C:\\temp")),
                    CardNumberMatcher(),
                ),
                scope=Scope(
                    directions=frozenset({"inbound"}),
                    peers_mode="only",
                    peers=frozenset({"*.x.example", "y.example"}),
                    author_groups=frozenset({"r&d"}),
                    labels=frozenset({"a"}),
                ),
                mode="dry_run",
            ),
        ),
        group_rules=(
            GroupRule(id="g", effect="deny", scope=Scope(recipient_groups=frozenset({"x"}))),
        ),
        unlisted_inbound=terms,
    )
    assert parse_policy_file(policy_to_toml(snapshot), version=9) == snapshot


def test_policy_show_spells_out_every_default() -> None:
    text = policy_to_toml(parse_policy_file('[[content_rules]]\nid = "r"\naction = "warn"\n', 2))
    assert text.splitlines()[:4] == [
        "# Fedwall boundary policy, version 2",
        'federation_mode = "allowlist"',
        'labels = ["public", "internal", "confidential", "restricted"]',
        'default_label = "internal"',
    ]
    assert 'scope = { directions = ["outbound", "inbound"], peers = "all" }' in text
    assert 'mode = "enforce"' in text


def test_the_layout_documented_in_the_module_parses() -> None:
    assert policyfile.__doc__ is not None
    layout = textwrap.dedent(policyfile.__doc__.split("::\n\n", 1)[1].split("\nDefaults:")[0])
    # The documented rule shows raise_to, which only a "label" rule may have.
    snapshot = parse_policy_file(layout.replace('action = "redact"', 'action = "label"'), 1)
    assert snapshot.content_rules[0].raise_to == "confidential"
    assert snapshot.peers["sales.example"].outbound.profile_fields == {"title", "department"}
