"""The admin's structured policy editor: form values <-> policy, and its pages."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from quart import Quart
from werkzeug.datastructures import MultiDict

from node.app import runtime_of
from node.models import Account, PolicyVersion
from node.policy import (
    CardNumberMatcher,
    ContentRule,
    EmailMatcher,
    IbanMatcher,
    KeywordMatcher,
    PhoneMatcher,
    PolicySnapshot,
    RegexMatcher,
    Scope,
    parse_policy_file,
    policy_to_toml,
)
from node.services.accounts import create_local_account
from tests.test_webui import CSRF_FIELD, node_key  # noqa: F401  (module fixture)
from tests.test_webui_admin import app, client_of, csrf_of, text_of  # noqa: F401  (fixture)
from webui import policy_editor
from webui.policy_editor import (
    ContentRuleForm,
    FormError,
    GroupRuleForm,
    ProfileFieldsForm,
    StaleFormError,
)

PEER = "sales.example"
POLICY = f"""federation_mode = "allowlist"
labels = ["public", "internal", "confidential", "restricted"]
default_label = "internal"

[[peers]]
domain = "{PEER}"
status = "allowed"
outbound = {{ max_label = "internal", profile_fields = ["title", "department"] }}
inbound = {{ max_label = "internal" }}

[[content_rules]]
id = "redact-cards"
description = "Card numbers never leave"
matchers = [{{ type = "card_number" }}, {{ type = "email" }}]
action = "redact"
scope = {{ directions = ["outbound"] }}

[[content_rules]]
id = "hold-merger"
matchers = [
    {{ type = "regex", pattern = 'project\\s+\\w+', ignore_case = true }},
    {{ type = "keyword", words = ["merger", "take over"] }},
]
action = "hold"
mode = "dry_run"
scope = {{ peers = {{ except = ["*.partner.example"] }}, author_groups = ["legal", "board"] }}

[[content_rules]]
id = "label-secret"
matchers = [{{ type = "keyword", words = ["secret"] }}]
action = "label"
raise_to = "restricted"
scope = {{ directions = ["outbound"], labels = ["internal"] }}

[[group_rules]]
id = "legal-stays-home"
description = "Posts by Legal stay on the node"
effect = "deny"
kinds = ["posts", "replies"]
scope = {{ directions = ["outbound"], author_groups = ["legal"] }}
"""


def policy() -> PolicySnapshot:
    return parse_policy_file(POLICY, 3)


def form(**fields: str | list[str]) -> MultiDict[str, str]:
    items: list[tuple[str, str]] = []
    for name, value in fields.items():
        items += [(name, v) for v in value] if isinstance(value, list) else [(name, value)]
    return MultiDict(items)


def ids(snapshot: PolicySnapshot) -> list[str]:
    return [rule.id for rule in snapshot.content_rules]


def assert_round_trips(snapshot: PolicySnapshot) -> None:
    """What the editor stores reads back as the snapshot it made."""
    assert parse_policy_file(policy_to_toml(snapshot), snapshot.version) == snapshot


# ---------------------------------------------------------------- rule forms


@pytest.mark.parametrize("rule_id", ["redact-cards", "hold-merger", "label-secret"])
def test_the_form_of_an_existing_content_rule_gives_the_same_rule(rule_id: str) -> None:
    rule = policy_editor.find_rule(policy(), "content", rule_id)
    assert isinstance(rule, ContentRule)

    values = ContentRuleForm.of(rule)

    assert values is not None
    assert values.rule(rule) == rule


def test_the_form_of_an_existing_group_rule_gives_the_same_rule() -> None:
    rule = policy().group_rules[0]

    values = GroupRuleForm.of(rule)

    assert values is not None
    assert values.rule(rule) == rule


def test_posted_fields_give_the_rule_they_describe() -> None:
    posted = form(
        original_id="", id="block-leaks", description="No leaks", action="block",
        raise_to="restricted", mode="enforce", keywords="leak\r\n\r\n  codename x  \r\n",
        patterns="ACME-\\d{4}", ignore_case="yes", detectors=["phone", "iban"],
        directions="outbound", peers_mode="only", peers="b.example, *.a.example c.example",
        labels=["internal", "public"], author_groups="sales, board", recipient_groups="",
    )  # fmt: skip

    rule = ContentRuleForm.read(posted).rule()

    assert rule == ContentRule(
        id="block-leaks",
        description="No leaks",
        action="block",
        matchers=(
            KeywordMatcher(("leak", "codename x")),
            RegexMatcher("ACME-\\d{4}", ignore_case=True),
            IbanMatcher(),
            PhoneMatcher(),
        ),
        scope=Scope(
            directions=frozenset({"outbound"}),
            peers_mode="only",
            peers=frozenset({"b.example", "*.a.example", "c.example"}),
            labels=frozenset({"internal", "public"}),
            author_groups=frozenset({"sales", "board"}),
        ),
    )


def test_the_label_to_raise_to_is_ignored_unless_the_action_raises_the_label() -> None:
    values = ContentRuleForm(id="w", action="warn", raise_to="restricted")

    assert values.rule().raise_to is None
    assert dataclasses.replace(values, action="label").rule().raise_to == "restricted"


def test_an_invalid_regular_expression_is_refused_naming_the_field_and_line() -> None:
    values = ContentRuleForm(id="bad", action="block", patterns="fine\nproject (unclosed")

    with pytest.raises(FormError) as refused:
        values.rule()

    assert refused.value.field == "patterns"
    assert str(refused.value).startswith("Regular expressions: line 2: invalid regular expression")


def scoped(**scope: Any) -> ContentRuleForm:
    return ContentRuleForm(id="x", action="block", scope=policy_editor.ScopeForm(**scope))


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (ContentRuleForm(id="has space", action="block"), "id"),
        (ContentRuleForm(id="x", action="explode"), "action"),
        (ContentRuleForm(id="x", action="label"), "raise_to"),
        (ContentRuleForm(id="x", action="block", mode="sometimes"), "mode"),
        (ContentRuleForm(id="x", action="block", detectors=("dna",)), "detectors"),
        (scoped(directions=()), "directions"),
        (scoped(peers_mode="only"), "peers"),
        (scoped(peers_mode="except", peers="not/a/domain"), "peers"),
        (GroupRuleForm(id="g", kinds=()), "kinds"),
        (GroupRuleForm(id="g", effect="allow_only"), "author_groups"),
    ],
)
def test_a_refused_value_is_attached_to_its_field(
    values: policy_editor.RuleForm, field: str
) -> None:
    with pytest.raises(FormError) as refused:
        values.rule()

    assert refused.value.field == field


def test_a_rule_the_form_cannot_show_exactly_is_left_to_the_policy_file() -> None:
    rule = ContentRule(
        id="two-lists",
        action="warn",
        matchers=(KeywordMatcher(("a",)), KeywordMatcher(("b",))),
    )
    mixed_case = dataclasses.replace(
        rule, matchers=(RegexMatcher("a+", ignore_case=True), RegexMatcher("b+"))
    )

    assert ContentRuleForm.of(rule) is None
    assert ContentRuleForm.of(mixed_case) is None
    assert ContentRuleForm.of(dataclasses.replace(rule, matchers=rule.matchers[:1])) is not None


# ---------------------------------------------------------------- rule edits


def test_a_new_rule_is_added_last_and_the_stored_file_reads_back_the_same() -> None:
    values = ContentRuleForm(id="warn-emails", action="warn", detectors=("email",))

    edit = policy_editor.save_rule(policy(), values)

    assert edit.changed
    assert edit.snapshot.version == 4
    assert ids(edit.snapshot) == ["redact-cards", "hold-merger", "label-secret", "warn-emails"]
    assert edit.snapshot.content_rules[-1].matchers == (EmailMatcher(),)
    assert edit.summary == "content rule 'warn-emails' added"
    assert parse_policy_file(edit.source, 4) == edit.snapshot
    assert_round_trips(edit.snapshot)


def test_an_edited_rule_stays_in_place_and_keeps_the_order_of_its_matchers() -> None:
    snapshot = policy()
    original = snapshot.content_rules[0]
    values = ContentRuleForm.of(original)
    assert values is not None
    edited = dataclasses.replace(values, id="mask-cards", keywords="iban", mode="dry_run")

    edit = policy_editor.save_rule(snapshot, edited)

    rule = edit.snapshot.content_rules[0]
    assert ids(edit.snapshot) == ["mask-cards", "hold-merger", "label-secret"]
    assert rule.matchers == (CardNumberMatcher(), EmailMatcher(), KeywordMatcher(("iban",)))
    assert (rule.mode, rule.description) == ("dry_run", original.description)
    assert edit.summary == "content rule 'mask-cards' changed (was 'redact-cards')"


def test_saving_a_rule_unchanged_changes_nothing() -> None:
    snapshot = policy()
    values = GroupRuleForm.of(snapshot.group_rules[0])
    assert values is not None

    assert not policy_editor.save_rule(snapshot, values).changed


def test_a_new_rule_may_not_take_an_id_in_use() -> None:
    with pytest.raises(FormError) as refused:
        policy_editor.save_rule(policy(), ContentRuleForm(id="legal-stays-home", action="warn"))

    assert refused.value.field == "id"
    assert "also a content rule id" in refused.value.message


def test_editing_a_rule_deleted_meanwhile_is_refused() -> None:
    values = ContentRuleForm(original_id="gone", id="gone", action="warn")

    with pytest.raises(FormError, match="There is no rule gone"):
        policy_editor.save_rule(policy(), values)


def test_deleting_a_rule_keeps_the_others_in_order() -> None:
    edit = policy_editor.delete_rule(policy(), "content", "hold-merger")

    assert ids(edit.snapshot) == ["redact-cards", "label-secret"]
    assert edit.snapshot.group_rules == policy().group_rules
    assert_round_trips(edit.snapshot)


def test_moving_rules_up_and_down_reorders_them() -> None:
    up = policy_editor.move_rule(policy(), "content", "label-secret", -1)
    down = policy_editor.move_rule(policy(), "content", "redact-cards", 1)

    assert ids(up.snapshot) == ["redact-cards", "label-secret", "hold-merger"]
    assert ids(down.snapshot) == ["hold-merger", "redact-cards", "label-secret"]
    assert up.summary == "content rule 'label-secret' moved up to position 2"


def test_moving_the_first_rule_up_changes_nothing() -> None:
    edit = policy_editor.move_rule(policy(), "content", "redact-cards", -1)

    assert not edit.changed
    assert ids(edit.snapshot) == ids(policy())


# ---------------------------------------------------------------- labels


def test_a_label_is_added_at_the_chosen_position() -> None:
    edit = policy_editor.add_label(policy(), " secret ", "3")

    assert edit.snapshot.labels.names == (
        "public", "internal", "confidential", "secret", "restricted",
    )  # fmt: skip
    assert_round_trips(edit.snapshot)


@pytest.mark.parametrize(("name", "position", "field"),
                         [("", "0", "name"), ("internal", "0", "name"), ("x", "9", "position"),
                          ("x", "top", "position")])  # fmt: skip
def test_a_label_that_cannot_be_added_is_refused(name: str, position: str, field: str) -> None:
    with pytest.raises(FormError) as refused:
        policy_editor.add_label(policy(), name, position)

    assert refused.value.field == field


def test_a_label_in_use_cannot_be_removed_and_the_uses_are_named() -> None:
    with pytest.raises(FormError) as refused:
        policy_editor.remove_label(policy(), "restricted")

    assert refused.value.field == "label"
    assert "content rule label-secret" in refused.value.message
    assert policy_editor.label_uses(policy(), "internal")[:2] == [
        "the default label",
        f"the outbound terms of {PEER}",
    ]


def test_an_unused_label_is_removed() -> None:
    edit = policy_editor.remove_label(policy(), "confidential")

    assert edit.snapshot.labels.names == ("public", "internal", "restricted")


def test_the_default_label_can_be_changed() -> None:
    edit = policy_editor.set_default_label(policy(), "public")

    assert edit.snapshot.default_label == "public"
    with pytest.raises(FormError):
        policy_editor.set_default_label(policy(), "nope")


# ---------------------------------------------------------------- profile fields


def test_profile_field_choices_are_the_policy_keys_of_the_names_people_use() -> None:
    choices = policy_editor.profile_field_choices(["Job title", "job title", "Team", "  "])

    assert [(c.key, c.names) for c in choices] == [
        ("email", ()),
        ("job_title", ("Job title", "job title")),
        ("team", ("Team",)),
    ]


def test_the_fields_a_peer_may_see_are_set_from_boxes_and_typed_names() -> None:
    values = ProfileFieldsForm.read(
        form(domain=PEER, fields=["team", "email"], other_fields="Job Title, profile.Office")
    )

    edit = policy_editor.set_profile_fields(policy(), values)

    outbound = edit.snapshot.peers[PEER].outbound
    assert outbound.profile_fields == {"team", "email", "job_title", "office"}
    assert outbound.max_label == "internal"
    assert edit.summary == f"profile fields shown to {PEER}: email, job_title, office, team"


def test_all_fields_is_stored_as_the_star_alone() -> None:
    values = ProfileFieldsForm(domain=PEER, fields=("*", "team"))

    edit = policy_editor.set_profile_fields(policy(), values)

    assert edit.snapshot.peers[PEER].outbound.profile_fields == {"*"}


def test_the_profile_fields_form_shows_unknown_keys_as_typed_names() -> None:
    choices = policy_editor.profile_field_choices(["Title"])
    agreement = policy().peers[PEER]

    values = ProfileFieldsForm.of(PEER, agreement.outbound.profile_fields, choices)

    assert values.fields == ("title",)
    assert values.other_fields == "department"
    assert policy_editor.set_profile_fields(policy(), values).changed is False


def test_a_form_opened_on_an_older_version_is_stale() -> None:
    policy_editor.check_base_version("3", 3)
    policy_editor.check_base_version("", 3)
    with pytest.raises(StaleFormError, match="version 4 is now in force"):
        policy_editor.check_base_version("3", 4)


# ---------------------------------------------------------------- pages

RULE_FORM = {
    "original_id": "",
    "id": "hold-codenames",
    "description": "Code names wait for review",
    "action": "hold",
    "raise_to": "",
    "mode": "enforce",
    "keywords": "bluebird\nredwing",
    "patterns": "",
    "directions": "outbound",
    "peers_mode": "all",
    "peers": "",
    "author_groups": "",
    "recipient_groups": "",
    "comment": "code names stay home",
}
EDITOR_PAGES = ["/admin/policy/content-rules", "/admin/policy/group-rules/legal-stays-home"]
EDITOR_FORMS = [
    ("/admin/policy/content-rules", RULE_FORM),
    ("/admin/policy/group-rules", {"id": "g", "effect": "deny", "kinds": "posts"}),
    ("/admin/policy/content-rules/redact-cards/delete", {}),
    ("/admin/policy/content-rules/hold-merger/up", {}),
    ("/admin/policy/labels", {"action": "add", "name": "secret", "position": "0"}),
    ("/admin/policy/profile-fields", {"domain": PEER, "fields": "*"}),
]


async def policy_applied(app: Quart) -> PolicySnapshot:  # noqa: F811
    return await runtime_of(app).site.policy.apply(POLICY, "test", "initial")


@pytest.mark.parametrize("path", EDITOR_PAGES)
async def test_an_employee_gets_404_on_the_editor_pages(app: Quart, path: str) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "bob")

    assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize(("path", "fields"), EDITOR_FORMS)
async def test_an_employee_cannot_use_the_editor_forms(
    app: Quart,  # noqa: F811
    path: str,
    fields: dict[str, str],
) -> None:
    await policy_applied(app)
    client, _ = await client_of(app, "bob")
    csrf = await csrf_of(client, "/home")

    response = await client.post(path, form={**fields, "csrf": csrf})

    assert response.status_code == 404
    assert await PolicyVersion.all().count() == 1


@pytest.mark.parametrize(("path", "fields"), EDITOR_FORMS)
async def test_the_editor_forms_refuse_a_missing_csrf_token(
    app: Quart,  # noqa: F811
    path: str,
    fields: dict[str, str],
) -> None:
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)

    response = await client.post(path, form=fields)

    assert response.status_code == 400
    assert await PolicyVersion.all().count() == 1


async def test_an_admin_adds_a_rule_through_the_form_as_a_new_version(app: Quart) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)
    page = await text_of(client, "/admin/policy/content-rules")
    csrf = CSRF_FIELD.search(page).group(1)  # type: ignore[union-attr]
    assert 'name="base_version" value="1"' in page

    response = await client.post(
        "/admin/policy/content-rules", form={**RULE_FORM, "csrf": csrf, "base_version": "1"}
    )

    assert response.status_code == 303
    snapshot = await runtime_of(app).site.policy.current()
    assert snapshot.version == 2
    assert ids(snapshot)[-1] == "hold-codenames"
    assert snapshot.content_rules[-1].matchers == (KeywordMatcher(("bluebird", "redwing")),)
    stored = await PolicyVersion.get(version=2)
    assert (stored.author, stored.comment) == ("web:root", "code names stay home")
    assert "# Fedwall boundary policy, version 2" in stored.source
    done = await text_of(client, response.headers["Location"])
    assert "Rule hold-codenames saved. Policy version 2 is in force." in done
    assert 'data-rule="hold-codenames"' in done


async def test_a_bad_rule_form_is_refused_with_422_keeping_the_values(app: Quart) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/policy/content-rules")
    bad = {**RULE_FORM, "patterns": "code (name", "csrf": csrf}

    response = await client.post("/admin/policy/content-rules", form=bad)

    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert re.search(r'name="patterns"[^>]*aria-invalid="true"', page)
    assert 'id="rule-patterns-error">line 1: invalid regular expression' in page
    assert ">code (name</textarea>" in page
    assert 'value="hold-codenames"' in page
    assert 'value="code names stay home"' in page
    assert await PolicyVersion.all().count() == 1


async def test_the_edit_page_shows_the_rule_and_saving_it_edits_in_place(app: Quart) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)
    page = await text_of(client, "/admin/policy/content-rules/hold-merger")
    csrf = CSRF_FIELD.search(page).group(1)  # type: ignore[union-attr]
    assert ">merger\ntake over</textarea>" in page
    assert 'value="except" checked' in page
    assert 'value="*.partner.example"' in page

    edited = {**RULE_FORM, "original_id": "hold-merger", "id": "hold-merger", "csrf": csrf}
    response = await client.post("/admin/policy/content-rules", form=edited)

    assert response.status_code == 303
    snapshot = await runtime_of(app).site.policy.current()
    assert ids(snapshot) == ["redact-cards", "hold-merger", "label-secret"]
    assert snapshot.content_rules[1].action == "hold"
    assert snapshot.content_rules[1].mode == "enforce"


async def test_rules_are_moved_and_deleted_through_the_forms(app: Quart) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/policy")

    moved = await client.post(
        "/admin/policy/content-rules/label-secret/up", form={"csrf": csrf, "base_version": "1"}
    )
    deleted = await client.post(
        "/admin/policy/content-rules/redact-cards/delete",
        form={"csrf": csrf, "base_version": "2", "comment": "cards are fine now"},
    )

    assert (moved.status_code, deleted.status_code) == (303, 303)
    snapshot = await runtime_of(app).site.policy.current()
    assert ids(snapshot) == ["label-secret", "hold-merger"]
    comments = await PolicyVersion.all().order_by("version").values_list("comment", flat=True)
    assert comments == [
        "initial",
        "content rule 'label-secret' moved up to position 2",
        "cards are fine now",
    ]


async def test_a_form_opened_before_another_change_is_refused_with_409(app: Quart) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/policy/content-rules")
    await runtime_of(app).site.policy.apply(POLICY, "cli", "meanwhile")

    response = await client.post(
        "/admin/policy/content-rules", form={**RULE_FORM, "csrf": csrf, "base_version": "1"}
    )

    assert response.status_code == 409
    assert "version 2 is now in force" in await response.get_data(as_text=True)
    assert await PolicyVersion.all().count() == 2


async def test_a_label_is_added_and_one_in_use_is_not_removed(app: Quart) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/policy")

    added = await client.post(
        "/admin/policy/labels",
        form={"csrf": csrf, "action": "add", "name": "secret", "position": "3"},
    )
    refused = await client.post(
        "/admin/policy/labels", form={"csrf": csrf, "action": "remove", "label": "restricted"}
    )

    assert added.status_code == 303
    snapshot = await runtime_of(app).site.policy.current()
    assert snapshot.labels.names[3] == "secret"
    assert refused.status_code == 422
    page = await refused.get_data(as_text=True)
    assert 'id="label-remove-label-error">restricted is still used by' in page
    assert "content rule label-secret" in page
    assert (await runtime_of(app).site.policy.current()).version == 2


async def test_the_profile_fields_a_peer_sees_are_chosen_among_those_in_use(app: Quart) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)
    await create_local_account(runtime_of(app).site, "carol", None)
    await Account.filter(username="carol").update(
        profile_fields=[{"name": "Job title", "value": "Buyer"}]
    )
    page = await text_of(client, "/admin/policy")
    assert 'name="fields" value="job_title"' in page
    assert 'name="other_fields" value="department, title"' in page
    csrf = CSRF_FIELD.search(page).group(1)  # type: ignore[union-attr]

    pairs = [("csrf", csrf), ("domain", PEER), ("fields", "job_title"), ("fields", "email"),
             ("other_fields", "Office"), ("comment", "")]  # fmt: skip

    response = await client.post(
        "/admin/policy/profile-fields",
        data=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 303
    snapshot = await runtime_of(app).site.policy.current()
    assert snapshot.peers[PEER].outbound.profile_fields == {"job_title", "email", "office"}
    stored = await PolicyVersion.get(version=2)
    assert stored.comment == f"profile fields shown to {PEER}: email, job_title, office"


async def test_the_editor_pages_render_in_french(app: Quart) -> None:  # noqa: F811
    await policy_applied(app)
    client, _ = await client_of(app, "root", admin=True)
    client.set_cookie("localhost", "fedwall_lang", "fr")

    for path in ["/admin/policy", "/admin/policy/content-rules/hold-merger", *EDITOR_PAGES]:
        page = await text_of(client, path)
        assert '<html lang="fr">' in page, path
        assert "Ce qui change, et pourquoi" in page, path
        for english in ("Add a label", "What the rule looks for", "Save the rule", "Scope"):
            assert f">{english}<" not in page, (path, english)


async def test_a_rule_the_form_cannot_show_is_left_to_the_policy_file(app: Quart) -> None:  # noqa: F811
    two_lists = POLICY.replace(
        'words = ["secret"] }]', 'words = ["secret"] }, { type = "keyword", words = ["x"] }]'
    )
    await runtime_of(app).site.policy.apply(two_lists, "test")
    client, _ = await client_of(app, "root", admin=True)

    page = await text_of(client, "/admin/policy/content-rules/label-secret")

    assert "edit it in the policy file" in page
    assert 'id="rule-form"' not in page
    assert 'id="rule-delete-form"' in page
