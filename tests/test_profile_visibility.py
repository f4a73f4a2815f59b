"""Each person chooses which nodes see each profile field; the node's policy stays the ceiling.

Pure helpers first, then the service (SQLite and PostgreSQL through ``db``), the
outbound Update, the actor document, the client API and the settings page. The
same choice between real nodes is in ``test_policy_federation.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from quart import Quart
from quart import typing as quart_typing

from federation.delivery import OutboxProcessor
from node.app import runtime_of
from node.db import Database
from node.errors import ValidationError
from node.keys import generate_key_pair
from node.models import Account, Delivery, Follow
from node.policy import PolicySnapshot, parse_policy_file
from node.services.accounts import create_local_account, update_profile
from node.services.policy import (
    fields_shared_with,
    is_share_target,
    normalised_shared_with,
    shared_with,
    visible_profile_fields,
    visible_profile_values,
)
from node.site import Site
from tests import api_support
from tests.api_support import build_app, user_client
from tests.test_webui import csrf_of, signed_in_client
from webui.sharing import chosen_nodes, sharing_table

node_key = api_support.node_key
KEY = generate_key_pair()
NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
SALES, LAB, OTHER = "sales.example", "lab.example", "elsewhere.example"
AS_JSON = "application/activity+json"
POLICY_KEEPS = "not allowed by the node\u2019s policy"
LABELS = (
    'labels = ["public", "internal", "confidential", "restricted"]\ndefault_label = "internal"\n'
)


def policy(
    mode: str = "allowlist",
    peers: dict[str, str] | None = None,
    unlisted_fields: str = "[]",
    kinds: str = "",
) -> str:
    """A policy allowing ``peers`` (domain → outbound profile fields, as TOML)."""
    text = f'federation_mode = "{mode}"\n' + LABELS
    text += (
        f'[unlisted]\noutbound = {{ max_label = "internal", profile_fields = {unlisted_fields} }}\n'
    )
    for domain, fields in (peers or {}).items():
        text += (
            f'\n[[peers]]\ndomain = "{domain}"\nstatus = "allowed"\n'
            f'outbound = {{ max_label = "internal", profile_fields = {fields}{kinds} }}\n'
        )
    return text


def snapshot_of(source: str) -> PolicySnapshot:
    return parse_policy_file(source, 1)


BOTH_PEERS_ALL_FIELDS = snapshot_of(policy(peers={SALES: '["*"]', LAB: '["*"]'}))


def person(*fields: dict[str, Any], email: str | None = None) -> Account:
    return Account(username="alice", domain="", email=email, profile_fields=list(fields))


OFFICE_FOR_SALES = {"name": "Office", "value": "Lyon", "shared_with": [SALES]}
TEAM = {"name": "Team", "value": "Finance"}
PHONE_HOME = {"name": "Phone", "value": "+33 1 23 45 67 89", "shared_with": []}


# ---------------------------------------------------------------- the choice (pure)


def test_a_field_without_shared_with_is_shared_with_every_node() -> None:
    assert shared_with(TEAM) == {"*"}


def test_a_field_shared_with_one_peer_crosses_to_that_peer_only() -> None:
    alice = person(OFFICE_FOR_SALES, TEAM)

    assert fields_shared_with(alice, SALES) == {"profile.office": "Lyon", "profile.team": "Finance"}
    assert fields_shared_with(alice, LAB) == {"profile.team": "Finance"}


def test_a_field_shared_with_nobody_reaches_no_peer() -> None:
    alice = person(PHONE_HOME, TEAM)

    assert "profile.phone" not in fields_shared_with(alice, SALES)


def test_an_anonymous_requester_gets_only_fields_shared_with_every_node() -> None:
    alice = person(OFFICE_FOR_SALES, TEAM, {**PHONE_HOME, "shared_with": ["*"]})

    assert set(fields_shared_with(alice, None)) == {"profile.team", "profile.phone"}


def test_peer_names_are_compared_case_insensitively() -> None:
    alice = person({**OFFICE_FOR_SALES, "shared_with": ["Sales.Example"]})

    assert fields_shared_with(alice, "SALES.example.") == {"profile.office": "Lyon"}


def test_hiding_one_of_two_fields_with_the_same_crossing_name_hides_both() -> None:
    alice = person(TEAM, {"name": "team", "value": "Audit", "shared_with": []})

    assert fields_shared_with(alice, SALES) == {}


def test_a_malformed_shared_with_keeps_the_field_on_this_node() -> None:
    alice = person({**TEAM, "shared_with": "sales.example"})

    assert fields_shared_with(alice, SALES) == {}


def test_the_email_pseudo_field_is_not_a_choice() -> None:
    alice = person(PHONE_HOME, email="alice@wall.test")

    assert fields_shared_with(alice, SALES) == {"profile.email": "alice@wall.test"}


@pytest.mark.parametrize("target", ["*", "sales.example", "Sales.Example.", "localhost:8001"])
def test_share_targets_are_star_or_a_node_domain(target: str) -> None:
    assert is_share_target(target)


@pytest.mark.parametrize(
    "target", ["", "*.corp.example", "sales example", "https://sales.example", "a" * 300]
)
def test_anything_else_is_not_a_share_target(target: str) -> None:
    assert not is_share_target(target)


def test_star_among_domains_is_stored_as_star_alone() -> None:
    assert normalised_shared_with(["lab.example", "*", "Sales.example"]) == ["*"]


def test_domains_are_stored_lower_case_sorted_and_once() -> None:
    assert normalised_shared_with(["Sales.example", "lab.example", "sales.example"]) == [
        "lab.example",
        "sales.example",
    ]


# ---------------------------------------------------------------- person and policy (pure)


def test_a_peer_sees_a_field_only_when_the_person_and_the_policy_both_let_it() -> None:
    snapshot = snapshot_of(policy(peers={SALES: '["team"]', LAB: '["*"]'}))
    alice = person(OFFICE_FOR_SALES, TEAM)

    assert visible_profile_fields(snapshot, alice, SALES, NOW) == {"Team"}
    assert visible_profile_fields(snapshot, alice, LAB, NOW) == {"Team"}


def test_a_peer_whose_terms_exclude_profile_lookups_sees_no_field() -> None:
    snapshot = snapshot_of(policy(peers={SALES: '["*"]'}, kinds=', kinds = ["posts"]'))

    assert visible_profile_fields(snapshot, person(TEAM), SALES, NOW) == set()


def test_an_unsigned_requester_sees_fields_shared_with_every_node_that_unlisted_terms_allow() -> (
    None
):
    snapshot = snapshot_of(policy("open", unlisted_fields='["team", "office"]'))
    alice = person(OFFICE_FOR_SALES, TEAM, {"name": "Phone", "value": "123"})

    assert visible_profile_fields(snapshot, alice, None, NOW) == {"Team"}


def test_a_peer_gets_the_value_a_redacting_rule_left_not_the_original() -> None:
    source = policy(peers={SALES: '["*"]'}) + (
        '\n[[content_rules]]\nid = "no-phones"\nmatchers = [{ type = "phone" }]\n'
        'action = "redact"\nscope = { directions = ["outbound"] }\n'
    )
    alice = person(TEAM, {"name": "Desk", "value": "call +33 1 23 45 67 89"})

    shown = visible_profile_values(snapshot_of(source), alice, SALES, NOW)

    assert shown["Team"] == "Finance"
    assert "45 67" not in shown["Desk"] and "[redacted]" in shown["Desk"]


def test_an_unsigned_requester_sees_nothing_in_allowlist_mode() -> None:
    snapshot = snapshot_of(policy(unlisted_fields='["*"]', peers={SALES: '["*"]'}))

    assert visible_profile_fields(snapshot, person(TEAM), None, NOW) == set()


# ---------------------------------------------------------------- the settings table (pure)


def test_the_table_has_a_column_per_allowed_peer_and_marks_what_the_policy_keeps() -> None:
    snapshot = snapshot_of(policy(peers={SALES: '["team"]', LAB: '["*"]'}))
    alice = person(OFFICE_FOR_SALES, TEAM)

    table = sharing_table(snapshot, alice, alice.profile_fields, NOW)

    assert table.peers == (LAB, SALES)
    office = {cell.target: (cell.shared, cell.allowed) for cell in table.rows[0].cells}
    assert office == {LAB: (False, True), SALES: (True, False), "*": (False, False)}


def test_the_table_says_what_each_node_sees() -> None:
    alice = person(OFFICE_FOR_SALES, TEAM)

    table = sharing_table(BOTH_PEERS_ALL_FIELDS, alice, alice.profile_fields, NOW)

    assert dict(table.sees) == {SALES: ("Office", "Team"), LAB: ("Team",), "*": ()}


def test_a_chosen_node_without_a_column_is_kept() -> None:
    alice = person({**TEAM, "shared_with": [OTHER, SALES]})

    table = sharing_table(BOTH_PEERS_ALL_FIELDS, alice, alice.profile_fields, NOW)

    assert table.rows[0].kept == (OTHER,)


def test_keeping_any_other_node_but_unchecking_a_listed_peer_is_contradictory() -> None:
    assert chosen_nodes(["*", SALES], [LAB, SALES]) == (["*"], LAB)


def test_listed_peers_without_any_other_node_are_the_choice() -> None:
    assert chosen_nodes([SALES, OTHER], [LAB, SALES]) == ([OTHER, SALES], None)


# ---------------------------------------------------------------- keeping the choice


async def test_fields_given_without_shared_with_keep_the_choice_of_the_same_name(
    db: Database, site: Site
) -> None:
    alice = await create_local_account(site, "alice", None, key_pair=KEY)
    await update_profile(alice, profile_fields=[OFFICE_FOR_SALES, TEAM])

    await update_profile(
        alice,
        profile_fields=[{"name": "Office", "value": "Paris"}, {"name": "Desk", "value": "4B"}],
    )

    stored = await Account.get(id=alice.id)
    assert stored.profile_fields == [
        {"name": "Office", "value": "Paris", "shared_with": [SALES]},
        {"name": "Desk", "value": "4B"},
    ]


async def test_a_choice_of_this_node_only_is_kept_too(db: Database, site: Site) -> None:
    alice = await create_local_account(site, "alice", None, key_pair=KEY)
    await update_profile(alice, profile_fields=[PHONE_HOME])

    await update_profile(alice, profile_fields=[{"name": "Phone", "value": "+33 9"}])

    assert (await Account.get(id=alice.id)).profile_fields[0]["shared_with"] == []


async def test_shared_with_is_stored_normalised(db: Database, site: Site) -> None:
    alice = await create_local_account(site, "alice", None, key_pair=KEY)

    await update_profile(alice, profile_fields=[{**TEAM, "shared_with": ["Sales.Example", LAB]}])

    assert (await Account.get(id=alice.id)).profile_fields[0]["shared_with"] == [LAB, SALES]


@pytest.mark.parametrize(
    "targets",
    [
        "sales.example",
        ["not a node"],
        [42],
        ["*.corp.example"],
        [f"n{i}.example" for i in range(51)],
    ],
)
async def test_an_invalid_shared_with_is_refused_and_changes_nothing(
    db: Database, site: Site, targets: object
) -> None:
    alice = await create_local_account(site, "alice", None, key_pair=KEY)
    await update_profile(alice, profile_fields=[TEAM])

    with pytest.raises(ValidationError):
        await update_profile(alice, profile_fields=[{**TEAM, "shared_with": targets}])

    assert (await Account.get(id=alice.id)).profile_fields == [TEAM]


# ---------------------------------------------------------------- outbound Update


async def remote_follower(of: Account, username: str, domain: str) -> None:
    base = f"https://{domain}"
    account = await Account.create(
        username=username,
        domain=domain,
        uri=f"{base}/users/{username}",
        inbox_url=f"{base}/users/{username}/inbox",
        shared_inbox_url=f"{base}/inbox",
    )
    await Follow.create(follower=account, followee=of, state="accepted")


async def test_an_update_to_a_peer_lacks_a_field_not_shared_with_it_though_the_policy_allows_it(
    db: Database, site: Site
) -> None:
    await site.policy.apply(policy(peers={SALES: '["*"]', LAB: '["*"]'}), "test")
    alice = await create_local_account(site, "alice", None, key_pair=KEY)
    await remote_follower(alice, "sam", SALES)
    await remote_follower(alice, "lea", LAB)

    await update_profile(alice, profile_fields=[OFFICE_FOR_SALES, TEAM])
    await OutboxProcessor(site, db.dialect, asyncio.Event()).process_batch()

    sent = {
        d.peer_domain: [f["name"] for f in json.loads(d.body)["object"]["attachment"]]
        for d in await Delivery.all()
    }
    assert sent == {SALES: ["Office", "Team"], LAB: ["Team"]}


# ---------------------------------------------------------------- actor document, unsigned


@pytest.fixture
async def open_app(tmp_path: Path, db: Database, node_key: tuple[str, str]) -> AsyncIterator[Quart]:
    """A node that answers unsigned fetches (open mode, signed fetch not required)."""
    application = build_app(tmp_path, db, node_key, require_signed_fetch=False)
    async with application.test_app():
        db.activate()
        yield application


async def test_an_unsigned_fetch_shows_only_fields_shared_with_every_node_that_the_policy_allows(
    open_app: Quart,
) -> None:
    site = runtime_of(open_app).site
    await site.policy.apply(policy("open", unlisted_fields='["team", "office"]'), "test")
    alice = await create_local_account(site, "alice", None, key_pair=KEY)
    await update_profile(
        alice, profile_fields=[OFFICE_FOR_SALES, TEAM, {"name": "Phone", "value": "123"}]
    )

    response = await open_app.test_client().get("/users/alice", headers={"Accept": AS_JSON})

    assert response.status_code == 200
    actor = json.loads(await response.get_data())
    assert [field["name"] for field in actor["attachment"]] == ["Team"]


# ---------------------------------------------------------------- client API


async def test_the_client_api_keeps_the_choice_when_it_updates_fields(
    open_app: Quart, db: Database
) -> None:
    client, account = await user_client(open_app, "alice")
    await update_profile(account, profile_fields=[OFFICE_FOR_SALES])

    answer = await client.patch(
        "/api/v1/accounts/update_credentials",
        form={"fields_attributes[0][name]": "Office", "fields_attributes[0][value]": "Paris"},
    )

    assert answer.status == 200, answer.body
    assert answer.body["source"]["fields"] == [
        {"name": "Office", "value": "Paris", "verified_at": None}
    ]
    stored = await Account.get(id=account.id)
    assert stored.profile_fields == [{"name": "Office", "value": "Paris", "shared_with": [SALES]}]


async def test_anonymous_api_readers_see_only_fields_shared_with_every_node(
    open_app: Quart,
) -> None:
    client, account = await user_client(open_app, "alice")
    await update_profile(account, profile_fields=[OFFICE_FOR_SALES, TEAM])
    path = f"/api/v1/accounts/{account.id}"

    anonymous = await open_app.test_client().get(path)
    signed_in = await client.get(path)

    assert [f["name"] for f in json.loads(await anonymous.get_data())["fields"]] == ["Team"]
    assert [f["name"] for f in signed_in.body["fields"]] == ["Office", "Team"]


async def test_visitors_of_a_wall_see_only_fields_shared_with_every_node(open_app: Quart) -> None:
    colleague, account = await signed_in_client(open_app, "alice")
    await update_profile(account, profile_fields=[OFFICE_FOR_SALES, TEAM])

    visitor_page = await (await open_app.test_client().get("/@alice")).get_data(as_text=True)
    colleague_page = await (await colleague.get("/@alice")).get_data(as_text=True)

    assert "<dt>Team</dt>" in visitor_page and "<dt>Office</dt>" not in visitor_page
    assert "<dt>Office</dt>" in colleague_page


# ---------------------------------------------------------------- settings page


@pytest.fixture
async def app(tmp_path: Path, db: Database, node_key: tuple[str, str]) -> AsyncIterator[Quart]:
    application = build_app(tmp_path, db, node_key)
    async with application.test_app():
        db.activate()
        await runtime_of(application).site.policy.apply(
            policy(peers={SALES: '["*"]', LAB: '["team"]', "*.corp.example": '["*"]'}), "test"
        )
        yield application


async def post_form(
    client: quart_typing.TestClientProtocol, path: str, pairs: list[tuple[str, str]]
) -> Any:
    """A form post with repeated names (checkboxes), as a browser sends it."""
    return await client.post(
        path,
        data=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def profile_form(csrf: str, *rows: tuple[str, str, list[str]]) -> list[tuple[str, str]]:
    """The profile form with the sharing table's columns, one row per (name, value, checked)."""
    pairs = [("csrf", csrf), ("display_name", "Alice"), ("bio", ""), ("sharing", "1")]
    pairs += [("share_columns", LAB), ("share_columns", SALES)]
    for index, (name, value, checked) in enumerate(rows):
        pairs += [(f"field_name_{index}", name), (f"field_value_{index}", value)]
        pairs += [(f"field_share_{index}", target) for target in checked]
    return pairs


async def test_the_settings_page_has_a_sharing_column_for_each_allowed_peer(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    await update_profile(alice, profile_fields=[TEAM])

    page = await (await client.get("/settings")).get_data(as_text=True)

    assert '<th scope="col">lab.example</th>' in page
    assert '<th scope="col">sales.example</th>' in page
    assert 'aria-label="Share Team with sales.example"' in page
    assert '<div class="table-wrap">\n  <table id="sharing"' in page
    assert "*.corp.example" in page
    assert "will be set here once" not in page


async def test_the_settings_page_marks_a_field_the_policy_keeps_from_a_peer(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    await update_profile(alice, profile_fields=[{"name": "Office", "value": "Lyon"}])

    page = await (await client.get("/settings")).get_data(as_text=True)

    lab_cell = page.split('aria-label="Share Office with lab.example"', 1)[1].split("</td>", 1)[0]
    sales_cell = page.split('aria-label="Share Office with sales.example"', 1)[1]
    assert POLICY_KEEPS in lab_cell
    assert POLICY_KEEPS not in sales_cell.split("</td>", 1)[0]


async def test_saving_the_sharing_table_stores_the_choice(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    csrf = await csrf_of(client, "/settings")

    response = await post_form(
        client,
        "/settings/profile",
        profile_form(csrf, ("Office", "Lyon", [SALES]), ("Team", "Finance", ["*", LAB, SALES])),
    )

    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert "sales.example sees: Office, Team" in page
    assert "lab.example sees: Team" in page
    stored = await Account.get(id=alice.id)
    assert stored.profile_fields == [OFFICE_FOR_SALES, TEAM]


async def test_keeping_any_other_node_while_unchecking_a_peer_is_refused(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    csrf = await csrf_of(client, "/settings")

    response = await post_form(
        client, "/settings/profile", profile_form(csrf, ("Office", "Lyon", ["*", SALES]))
    )

    assert response.status_code == 422
    assert "lab.example included" in await response.get_data(as_text=True)
    assert (await Account.get(id=alice.id)).profile_fields == []


async def test_a_form_without_the_sharing_table_keeps_every_choice(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    await update_profile(alice, profile_fields=[OFFICE_FOR_SALES])
    csrf = await csrf_of(client, "/settings")

    await client.post(
        "/settings/profile",
        form={"csrf": csrf, "field_name_0": "Office", "field_value_0": "Paris"},
    )

    stored = await Account.get(id=alice.id)
    assert stored.profile_fields == [{"name": "Office", "value": "Paris", "shared_with": [SALES]}]
