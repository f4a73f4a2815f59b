"""The admin console and the composer's audience preview, through Quart's test client."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from quart import Quart
from quart import typing as quart_typing

from node.app import runtime_of
from node.db import Database
from node.models import Account, AuditEntry, Delivery, PeerStats, PolicyVersion, ReviewItem
from node.services import audit, reviews
from node.services.accounts import create_local_account
from node.services.policy import count_crossing, note_peer_request
from node.services.sessions import open_session
from tests.test_webui import CSRF_FIELD, build_app, node_key  # noqa: F401  (module fixture)
from webui.admin import federation_map, health_of
from webui.i18n import LANGUAGE_COOKIE
from webui.pages import SESSION_COOKIE

PEER = "sales.example"
ADMIN_PAGES = [
    "/admin",
    "/admin/peers",
    "/admin/policy",
    "/admin/reviews",
    "/admin/audit",
    "/admin/users",
    "/admin/deliveries",
]
ADMIN_FORMS = [
    ("/admin/peers", {"domain": PEER, "action": "block"}),
    (f"/admin/requests/{PEER}/approve", {}),
    ("/admin/policy", {"source": "", "action": "apply"}),
    ("/admin/reviews/1/approve", {}),
    ("/admin/users/bob/disable", {}),
    ("/admin/groups", {"name": "sales", "action": "create"}),
    ("/admin/deliveries/retry", {"peer": PEER}),
]
ALLOWING_POLICY = f"""federation_mode = "allowlist"
labels = ["public", "internal", "confidential", "restricted"]
default_label = "internal"

[[peers]]
domain = "{PEER}"
status = "allowed"
outbound = {{ max_label = "internal" }}
inbound = {{ max_label = "internal" }}

[[content_rules]]
id = "redact-cards"
matchers = [{{ type = "card_number" }}]
action = "redact"
scope = {{ directions = ["outbound"] }}
"""

Client = quart_typing.TestClientProtocol


@pytest.fixture
async def app(tmp_path: Path, db: Database, node_key: tuple[str, str]) -> AsyncIterator[Quart]:  # noqa: F811
    application = build_app(tmp_path, db, node_key)
    async with application.test_app():
        yield application


async def client_of(app: Quart, username: str, *, admin: bool = False) -> tuple[Client, Account]:
    account = await create_local_account(runtime_of(app).site, username, None, admin=admin)
    client = app.test_client()
    client.set_cookie("localhost", SESSION_COOKIE, await open_session(account))
    return client, account


async def csrf_of(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, path
    match = CSRF_FIELD.search(await response.get_data(as_text=True))
    assert match is not None
    return match.group(1)


async def text_of(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, path
    return await response.get_data(as_text=True)


async def remote_follower(app: Quart, username: str, domain: str, followee: Account) -> Account:
    from node.models import Follow

    remote = await Account.create(
        username=username, domain=domain, uri=f"https://{domain}/users/{username}",
        inbox_url=f"https://{domain}/users/{username}/inbox",
    )  # fmt: skip
    await Follow.create(follower=remote, followee=followee, state="accepted")
    return remote


# ---------------------------------------------------------------- access control


@pytest.mark.parametrize("path", ADMIN_PAGES)
async def test_an_employee_gets_404_on_every_admin_page(app: Quart, path: str) -> None:
    client, _ = await client_of(app, "bob")

    assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize("path", ADMIN_PAGES)
async def test_an_anonymous_visitor_gets_404_on_every_admin_page(app: Quart, path: str) -> None:
    assert (await app.test_client().get(path)).status_code == 404


@pytest.mark.parametrize(("path", "form"), ADMIN_FORMS)
async def test_an_employee_cannot_use_any_admin_form(
    app: Quart, path: str, form: dict[str, str]
) -> None:
    client, _ = await client_of(app, "bob")
    csrf = await csrf_of(client, "/home")

    response = await client.post(path, form={**form, "csrf": csrf})

    assert response.status_code == 404
    assert await PolicyVersion.all().count() == 0


@pytest.mark.parametrize(("path", "form"), ADMIN_FORMS)
async def test_every_admin_form_refuses_a_missing_csrf_token(
    app: Quart, path: str, form: dict[str, str]
) -> None:
    client, _ = await client_of(app, "root", admin=True)
    await create_local_account(runtime_of(app).site, "bob", None)

    response = await client.post(path, form=form)

    assert response.status_code == 400
    assert await PolicyVersion.all().count() == 0
    assert not (await Account.get(username="bob")).disabled


async def test_only_admins_see_the_admin_link(app: Quart) -> None:
    admin, _ = await client_of(app, "root", admin=True)
    employee, _ = await client_of(app, "bob")

    assert 'id="nav-admin"' in await text_of(admin, "/home")
    assert 'id="nav-admin"' not in await text_of(employee, "/home")


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize("path", ADMIN_PAGES)
async def test_every_admin_page_renders_for_an_admin_in_both_languages(
    app: Quart, path: str
) -> None:
    client, _ = await client_of(app, "root", admin=True)
    await count_crossing(PEER, "inbound", False)

    english = await text_of(client, path)
    client.set_cookie("localhost", "fedwall_lang", "fr")
    french = await text_of(client, path)

    assert 'aria-label="Administration"' in english
    assert '<html lang="fr">' in french
    assert "Vue générale" in french


async def test_overview_shows_traffic_denials_backlog_and_the_federation_picture(
    app: Quart,
) -> None:
    client, admin = await client_of(app, "root", admin=True)
    await runtime_of(app).site.policy.apply(ALLOWING_POLICY, "test")
    for allowed in (True, True, False):
        await count_crossing(PEER, "outbound", allowed)
    await count_crossing(PEER, "inbound", False)
    await Delivery.create(
        activity_id="https://wall.test/a/1", inbox_url=f"https://{PEER}/inbox", peer_domain=PEER,
        sender=admin, body="{}", state="dead", next_attempt_at=dt.datetime.now(dt.UTC),
        last_error="HTTP 500 from the peer",
    )  # fmt: skip

    page = await text_of(client, "/admin")

    assert f'<tr data-peer="{PEER}">' in page
    assert '<td class="outbound">2 / <span class="denied">1</span></td>' in page
    assert '<td class="inbound">0 / <span class="denied">1</span></td>' in page
    assert "dead: 1" in page
    assert "failing" in page
    assert f'<g class="link link-allowed" data-peer="{PEER}" data-status="allowed">' in page
    assert "<svg" in page and "<script" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_the_federation_picture_puts_peers_around_the_node() -> None:
    placed = federation_map([("a.example", "allowed"), ("b.example", "blocked")])

    assert (placed[0].x, placed[0].y) == (240.0, 70.0)
    assert (placed[1].x, placed[1].y) == (240.0, 410.0)
    assert placed[1].status == "blocked"


def test_a_peer_with_dead_deliveries_is_failing() -> None:
    from node.services.peers import PeerSummary

    summary = PeerSummary(PEER, "allowed", None, None, None)

    assert health_of(summary, {"dead": 2}) == "failing"
    assert health_of(summary, {"retrying": 1}) == "degraded"
    assert health_of(summary, {}) == "silent"


# ---------------------------------------------------------------- peers


async def test_blocking_a_peer_through_the_form_stores_a_new_policy_version(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    site = runtime_of(app).site
    await site.policy.apply(ALLOWING_POLICY, "test")
    csrf = await csrf_of(client, "/admin/peers")

    response = await client.post(
        "/admin/peers", form={"csrf": csrf, "domain": PEER, "action": "block"}
    )

    assert response.status_code == 302
    snapshot = await site.policy.current()
    assert snapshot.version == 2
    assert snapshot.peers[PEER].status == "blocked"
    latest = await PolicyVersion.get(version=2)
    assert latest.author == "web:root"
    page = await text_of(client, response.headers["Location"])
    assert "policy version 2" in page
    assert f'data-peer="{PEER}" data-status="blocked"' in page


async def test_allowing_a_new_peer_through_the_form_gives_it_an_agreement(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/peers")

    await client.post("/admin/peers", form={"csrf": csrf, "domain": PEER, "action": "allow"})

    snapshot = await runtime_of(app).site.policy.current()
    assert snapshot.version == 1
    assert snapshot.peers[PEER].status == "allowed"


async def test_limiting_a_peer_sets_its_highest_label(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/peers")

    response = await client.post(
        "/admin/peers",
        form={"csrf": csrf, "domain": PEER, "action": "limit", "max_label": "public"},
    )

    assert response.status_code == 302
    snapshot = await runtime_of(app).site.policy.current()
    assert snapshot.peers[PEER].outbound.max_label == "public"


async def test_an_invalid_domain_is_refused_with_the_reason(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/peers")

    response = await client.post(
        "/admin/peers", form={"csrf": csrf, "domain": "not a domain", "action": "allow"}
    )

    assert response.status_code == 422
    assert 'class="error"' in await response.get_data(as_text=True)
    assert await PolicyVersion.all().count() == 0


async def test_an_invalid_domain_is_explained_in_french_to_a_french_admin(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    client.set_cookie("localhost", LANGUAGE_COOKIE, "fr")
    csrf = await csrf_of(client, "/admin/peers")

    response = await client.post(
        "/admin/peers", form={"csrf": csrf, "domain": "not a domain", "action": "allow"}
    )

    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "n\u2019est ni un domaine ni un motif" in page


async def test_a_pending_request_shows_what_the_peer_tried_and_can_be_approved(
    app: Quart,
) -> None:
    client, _ = await client_of(app, "root", admin=True)
    await note_peer_request("new.example", "Follow of alice")

    page = await text_of(client, "/admin/peers")
    assert 'data-request="new.example"' in page
    assert "Follow of alice" in page
    csrf = CSRF_FIELD.search(page).group(1)  # type: ignore[union-attr]

    response = await client.post("/admin/requests/new.example/approve", form={"csrf": csrf})

    assert response.status_code == 302
    snapshot = await runtime_of(app).site.policy.current()
    assert snapshot.peers["new.example"].status == "allowed"


# ---------------------------------------------------------------- policy


async def test_an_invalid_policy_names_the_line_and_changes_nothing(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/policy")
    broken = ALLOWING_POLICY.replace('action = "redact"', 'action = "explode"')

    response = await client.post(
        "/admin/policy", form={"csrf": csrf, "source": broken, "action": "apply"}
    )

    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    line = broken.splitlines().index('action = "explode"') + 1
    assert f"Line {line}: " in page
    assert await PolicyVersion.all().count() == 0


async def test_a_valid_policy_is_validated_then_applied_and_listed(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    csrf = await csrf_of(client, "/admin/policy")
    form = {"csrf": csrf, "source": ALLOWING_POLICY, "comment": "cards stay home"}

    checked = await client.post("/admin/policy", form={**form, "action": "validate"})
    assert checked.status_code == 200
    assert "The draft is valid" in await checked.get_data(as_text=True)
    assert await PolicyVersion.all().count() == 0

    applied = await client.post("/admin/policy", form={**form, "action": "apply"})
    assert applied.status_code == 302
    page = await text_of(client, applied.headers["Location"])
    assert "In force: version 1" in page
    assert "cards stay home" in page
    assert "redact-cards" in await text_of(client, "/admin/policy/1")


# ---------------------------------------------------------------- reviews


async def held_delivery(app: Quart, author: Account) -> ReviewItem:
    from node.services.posts import Draft, create_post

    post = await create_post(runtime_of(app).site, author, Draft(text="The merger is on"))
    delivery = await Delivery.create(
        activity_id=f"{post.uri}/activity", inbox_url=f"https://{PEER}/inbox", peer_domain=PEER,
        sender=author, body="{}", next_attempt_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    from node.policy import Reason

    reason = Reason("hold-merger", "content_held", "merger talk waits for review", effect="hold")
    return await reviews.hold(delivery, [reason], post=post)


async def test_approving_a_held_post_through_the_form_requeues_its_delivery(app: Quart) -> None:
    client, admin = await client_of(app, "root", admin=True)
    item = await held_delivery(app, admin)

    page = await text_of(client, "/admin/reviews")
    assert "The merger is on" in page
    assert "merger talk waits for review" in page
    csrf = CSRF_FIELD.search(page).group(1)  # type: ignore[union-attr]

    response = await client.post(f"/admin/reviews/{item.id}/approve", form={"csrf": csrf})

    assert response.status_code == 302
    decided = await ReviewItem.get(id=item.id).prefetch_related("delivery")
    assert decided.state == "approved"
    assert decided.decided_by == "web:root"
    assert decided.delivery.state == "pending"


async def test_rejecting_a_held_post_ends_its_delivery(app: Quart) -> None:
    client, admin = await client_of(app, "root", admin=True)
    item = await held_delivery(app, admin)
    csrf = await csrf_of(client, "/admin/reviews")

    await client.post(f"/admin/reviews/{item.id}/reject", form={"csrf": csrf})

    assert (await Delivery.get(id=item.delivery_id)).state == "dead"  # type: ignore[attr-defined]


# ---------------------------------------------------------------- audit


async def test_audit_log_filters_by_peer_and_decision_and_shows_the_chain(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    await audit.append("crossing", direction="inbound", peer=PEER, decision="deny",
                       rule_ids=["peer-blocked"])  # fmt: skip
    await audit.append("crossing", direction="outbound", peer="other.example", decision="allow")

    page = await text_of(client, f"/admin/audit?peer={PEER}&decision=deny")

    assert "Chain verified: intact (2 entries)." in page
    assert f'data-decision="deny" data-peer="{PEER}"' in page
    assert "other.example</td>" not in page
    by_rule = await text_of(client, "/admin/audit?rule=peer-blocked")
    assert "other.example</td>" not in by_rule
    assert f"{PEER}</td>" in by_rule
    today = dt.datetime.now(dt.UTC).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert "No entries match." in await text_of(client, f"/admin/audit?since={tomorrow}")


async def test_audit_rule_filter_is_done_by_the_database_and_survives_quotes(
    app: Quart, db: Database
) -> None:
    client, _ = await client_of(app, "root", admin=True)
    odd = "o'brien\\rule"
    await audit.append("crossing", direction="outbound", peer=PEER, decision="deny",
                       rule_ids=["cards", odd])  # fmt: skip
    await audit.append("crossing", direction="outbound", peer="other.example", decision="deny",
                       rule_ids=["cardsx"])  # fmt: skip

    def peers(entries: list[AuditEntry]) -> list[str | None]:
        return [e.peer_domain for e in entries]

    query = AuditEntry.all()
    assert peers(await audit.naming_rule(query, "cards", db.dialect)) == [PEER]
    assert peers(await audit.naming_rule(query, odd, db.dialect)) == [PEER]
    assert await audit.naming_rule(query, "x' OR '1'='1", db.dialect) == []
    page = await text_of(client, "/admin/audit?rule=" + quote(odd))
    assert f"{PEER}</td>" in page and "other.example</td>" not in page


# ---------------------------------------------------------------- users and deliveries


async def test_an_admin_disables_an_employee(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    await create_local_account(runtime_of(app).site, "bob", None)
    csrf = await csrf_of(client, "/admin/users")

    response = await client.post("/admin/users/bob/disable", form={"csrf": csrf})

    assert response.status_code == 302
    assert (await Account.get(username="bob")).disabled


async def test_an_admin_creates_a_group_and_adds_members(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    await create_local_account(runtime_of(app).site, "bob", None)
    csrf = await csrf_of(client, "/admin/users")

    await client.post("/admin/groups", form={"csrf": csrf, "name": "sales", "action": "create"})
    await client.post(
        "/admin/groups",
        form={"csrf": csrf, "name": "sales", "usernames": "bob", "action": "add"},
    )

    page = await text_of(client, "/admin/users")
    assert 'data-group="sales"' in page
    assert "@bob" in page.split('data-group="sales"', 1)[1]


async def test_a_dead_delivery_shows_its_last_error_and_is_retried(app: Quart) -> None:
    client, admin = await client_of(app, "root", admin=True)
    delivery = await Delivery.create(
        activity_id="https://wall.test/a/2", inbox_url=f"https://{PEER}/inbox", peer_domain=PEER,
        sender=admin, body="{}", state="dead", attempts=8,
        next_attempt_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        last_error="connection refused",
    )  # fmt: skip

    assert f'data-delivery="{delivery.id}" data-state="dead"' in await text_of(
        client, f"/admin/deliveries?peer={PEER}&state=dead"
    )
    page = await text_of(client, f"/admin/deliveries/{delivery.id}")
    assert "connection refused" in page
    csrf = CSRF_FIELD.search(page).group(1)  # type: ignore[union-attr]

    response = await client.post(
        "/admin/deliveries/retry", form={"csrf": csrf, "id": str(delivery.id)}
    )

    assert response.status_code == 302
    retried = await Delivery.get(id=delivery.id)
    assert retried.state == "retrying"
    assert retried.next_attempt_at <= dt.datetime.now(dt.UTC)


# ---------------------------------------------------------------- audience preview


async def test_the_preview_shows_the_redaction_notice_for_a_card_number(app: Quart) -> None:
    client, alice = await client_of(app, "alice")
    await runtime_of(app).site.policy.apply(ALLOWING_POLICY, "test")
    await remote_follower(app, "bob", PEER, alice)
    csrf = await csrf_of(client, "/home")
    form = {"csrf": csrf, "visibility": "public", "label": "internal"}

    plain = await client.post("/preview", form={**form, "text": "Lunch at noon"})
    card = await client.post("/preview", form={**form, "text": "Card 4111 1111 1111 1111"})

    assert plain.status_code == 200
    plain_html = await plain.get_data(as_text=True)
    assert f'data-peer="{PEER}" data-outcome="allow"' in plain_html
    assert "@bob@sales.example" in plain_html
    card_html = await card.get_data(as_text=True)
    assert f'data-peer="{PEER}" data-outcome="redact"' in card_html
    assert "Redaction notice" in card_html
    assert "4111 1111 1111 1111" not in card_html.split("redacted-copy", 1)[1]


async def test_the_preview_says_a_label_above_the_peers_clearance_is_not_sent(
    app: Quart,
) -> None:
    client, alice = await client_of(app, "alice")
    await runtime_of(app).site.policy.apply(ALLOWING_POLICY, "test")
    await remote_follower(app, "bob", PEER, alice)
    csrf = await csrf_of(client, "/home")

    response = await client.post(
        "/preview",
        form={"csrf": csrf, "text": "Budget", "visibility": "public", "label": "confidential"},
    )

    html = await response.get_data(as_text=True)
    assert f'data-peer="{PEER}" data-outcome="deny"' in html
    assert 'class="reasons"' in html


async def test_the_preview_needs_a_csrf_token_and_a_session(app: Quart) -> None:
    client, _ = await client_of(app, "alice")

    assert (await client.post("/preview", form={"text": "hi"})).status_code == 400
    anonymous = await app.test_client().post("/preview", form={"text": "hi"})
    assert anonymous.status_code == 302


async def test_the_preview_of_a_node_only_post_reaches_no_other_node(app: Quart) -> None:
    client, alice = await client_of(app, "alice")
    await remote_follower(app, "bob", PEER, alice)
    csrf = await csrf_of(client, "/home")

    response = await client.post(
        "/preview", form={"csrf": csrf, "text": "Hello", "visibility": "node"}
    )

    html = await response.get_data(as_text=True)
    assert "data-peer=" not in html
    assert "it never leaves the node" in html
    assert await PeerStats.all().count() == 0


async def test_the_policy_page_shows_each_rules_recent_matches_and_dry_runs(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    dry = ALLOWING_POLICY + (
        '\n[[content_rules]]\nid = "hold-merger"\nmatchers = [{ type = "keyword", '
        'words = ["merger"] }]\naction = "hold"\nmode = "dry_run"\n'
    )
    await runtime_of(app).site.policy.apply(dry, "test")
    await audit.append(
        "crossing", direction="outbound", peer=PEER, decision="allow", rule_ids=["hold-merger"],
        details={"reasons": [{"rule": "hold-merger", "message": "dry run: would have held",
                              "dry_run": True}]},
    )  # fmt: skip

    page = await text_of(client, "/admin/policy")

    held = page.split('data-rule="hold-merger"', 1)[1].split("</li>\n", 1)[0]
    assert "dry run: would have held" in held
    assert "would have:" in held
    cards = page.split('data-rule="redact-cards"', 1)[1].split('data-rule="hold-merger"', 1)[0]
    assert "No recent match." in cards
