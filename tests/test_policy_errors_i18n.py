"""The policy's own errors in the admin's language: English text unchanged, French pages."""

from __future__ import annotations

import html
import re

import pytest
from quart import Quart

from node.app import runtime_of
from node.models import PolicyVersion
from node.policy import (
    InvalidPolicyError,
    LabelScale,
    PolicyFileError,
    RegexMatcher,
    parse_policy_file,
)
from node.translatable import translatable
from tests.test_webui import node_key  # noqa: F401  (module fixture)
from tests.test_webui_admin import Client, app, client_of, csrf_of  # noqa: F401  (fixture)
from tests.test_webui_policy_editor import POLICY, RULE_FORM
from webui.i18n import LANGUAGE_COOKIE

DUPLICATE_ID = """labels = ["public", "internal"]

[[content_rules]]
id = "hold-merger"
action = "hold"

[[content_rules]]
id = "hold-merger"
action = "warn"
"""
POLICY_ERROR = re.compile(r'<p class="error" id="policy-error">(.*?)</p>', re.DOTALL)


def file_error(text: str) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as refused:
        parse_policy_file(text, 1)
    return refused.value


# ---------------------------------------------------------------- the English text


@pytest.mark.parametrize(
    ("text", "english"),
    [
        (DUPLICATE_ID, "line 8, content_rules[1].id: duplicate rule id 'hold-merger'"),
        (
            '[[content_rules]]\nid = "r"\naction = "explode"\n',
            "line 3, content_rules[0].action: unknown action 'explode' "
            "(expected one of block, redact, hold, warn, label)",
        ),
        (
            'default_label = "secret"\n',
            "line 1, default_label: unknown label 'secret' "
            "(known labels: public, internal, confidential, restricted)",
        ),
        (
            '[[content_rules]]\nid = "r"\naction = "block"\n'
            'matchers = [{ type = "regex", pattern = "a(" }]\n',
            "line 4, content_rules[0].matchers[0].pattern: invalid regular expression: "
            "missing ), unterminated subpattern at position 1",
        ),
        ('labels = ["a", 3]\n', "labels[1]: expected text, got 3"),
        ('[[peers]]\nstatus = "allowed"\n', "line 1, peers[0].domain: required key is missing"),
        (
            '[[content_rules]]\nid = "r"\naction = "block"\nscope = { peers = "some" }\n',
            'line 4, content_rules[0].scope.peers: expected "all", { only = [...] } '
            "or { except = [...] }",
        ),
        (
            "a = 1\na = 2\n",
            "line 2: not valid TOML: Cannot overwrite a value (at line 2, column 6)",
        ),
    ],
)
def test_the_english_text_of_a_policy_file_error_is_unchanged(text: str, english: str) -> None:
    assert str(file_error(text)) == english


def test_an_invalid_regular_expression_keeps_pythons_explanation_as_a_parameter() -> None:
    with pytest.raises(InvalidPolicyError) as refused:
        RegexMatcher("a(")

    assert refused.value.template == "invalid regular expression: {error}"
    assert refused.value.params == {"error": "missing ), unterminated subpattern at position 1"}
    assert str(refused.value) == (
        "pattern: invalid regular expression: missing ), unterminated subpattern at position 1"
    )


# ---------------------------------------------------------------- template and parameters


def test_an_error_located_under_a_prefix_keeps_its_template_and_parameters() -> None:
    error = InvalidPolicyError(translatable("duplicate peer {domain!r}"), "domain", domain="a.ex")

    moved = error.under("peers[2]")

    assert (moved.template, moved.params) == ("duplicate peer {domain!r}", {"domain": "a.ex"})
    assert str(moved) == "peers[2].domain: duplicate peer 'a.ex'"


def test_an_unknown_label_located_under_a_prefix_keeps_its_template_and_parameters() -> None:
    with pytest.raises(InvalidPolicyError) as refused:
        LabelScale(("public", "internal")).check("secret", "max_label")

    moved = refused.value.under("unlisted.outbound")

    assert moved.template == "unknown label {label!r} (known labels: {known})"
    assert moved.params == {"label": "secret", "known": "public, internal"}
    assert moved.path == "unlisted.outbound.max_label"


def test_the_file_error_of_a_snapshot_error_keeps_its_template_and_parameters() -> None:
    error = file_error(DUPLICATE_ID)

    assert (error.template, error.params) == ("duplicate rule id {id!r}", {"id": "hold-merger"})
    assert (error.line, error.path) == (8, "content_rules[1].id")
    assert error.message == "duplicate rule id 'hold-merger'"


# ---------------------------------------------------------------- the admin's pages


async def french_admin(app: Quart) -> Client:  # noqa: F811
    """An admin whose pages are in French."""
    client, _ = await client_of(app, "root", admin=True)
    client.set_cookie("localhost", LANGUAGE_COOKIE, "fr")
    return client


async def test_a_french_admin_sees_a_bad_regular_expression_refused_in_french(app: Quart) -> None:  # noqa: F811
    await runtime_of(app).site.policy.apply(POLICY, "test", "initial")
    client = await french_admin(app)
    csrf = await csrf_of(client, "/admin/policy/content-rules")

    response = await client.post(
        "/admin/policy/content-rules", form={**RULE_FORM, "patterns": "code (name", "csrf": csrf}
    )

    assert response.status_code == 422
    page = html.unescape(await response.get_data(as_text=True))
    problem = "expression régulière invalide : missing ), unterminated subpattern at position 5"
    assert f'id="rule-patterns-error">ligne 1 : {problem}</p>' in page
    assert f"Non appliqué. Expressions régulières : ligne 1 : {problem}" in page
    assert await PolicyVersion.all().count() == 1


async def test_a_french_admin_sees_a_policy_file_error_in_french_with_its_line(app: Quart) -> None:  # noqa: F811
    client = await french_admin(app)
    csrf = await csrf_of(client, "/admin/policy")

    response = await client.post(
        "/admin/policy", form={"source": DUPLICATE_ID, "action": "validate", "csrf": csrf}
    )

    assert response.status_code == 422
    found = POLICY_ERROR.search(await response.get_data(as_text=True))
    assert found is not None
    assert html.unescape(found.group(1)) == (
        "Ligne 8 : content_rules[1].id : identifiant de règle 'hold-merger' en double"
    )


async def test_a_toml_syntax_error_keeps_tomllibs_explanation_on_a_french_page(app: Quart) -> None:  # noqa: F811
    client = await french_admin(app)
    csrf = await csrf_of(client, "/admin/policy")

    response = await client.post(
        "/admin/policy", form={"source": "a = 1\na = 2\n", "action": "validate", "csrf": csrf}
    )

    found = POLICY_ERROR.search(await response.get_data(as_text=True))
    assert found is not None
    assert html.unescape(found.group(1)) == (
        "Ligne 2 : TOML invalide : Cannot overwrite a value (at line 2, column 6)"
    )


async def test_an_english_admin_sees_the_policy_file_error_as_before(app: Quart) -> None:  # noqa: F811
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/policy")

    response = await client.post(
        "/admin/policy", form={"source": DUPLICATE_ID, "action": "validate", "csrf": csrf}
    )

    found = POLICY_ERROR.search(await response.get_data(as_text=True))
    assert found is not None
    assert html.unescape(found.group(1)) == (
        "Line 8: content_rules[1].id: duplicate rule id 'hold-merger'"
    )
