"""Policy reasons and service errors in the reader's language (French here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from quart import Quart

from node.app import runtime_of
from node.db import Database
from node.errors import NotFound, ValidationError
from node.models import Account
from node.policy import (
    ContentRule,
    Crossing,
    Decision,
    DirectionTerms,
    KeywordMatcher,
    PeerAgreement,
    PolicySnapshot,
    evaluate,
)
from node.services import audit
from node.services.conversations import Undelivered
from node.translatable import translatable
from tests.test_webui import build_app, csrf_of, node_key, signed_in_client  # noqa: F401  (fixture)
from tests.test_webui_admin import ALLOWING_POLICY, PEER, client_of, remote_follower
from webui.chat import undelivered_notices
from webui.i18n import LANGUAGE_COOKIE, reason_text, service_message

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
FRENCH = {"Accept-Language": "fr"}
NO_FALCON = ContentRule(id="no-falcon", action="block", matchers=(KeywordMatcher(("falcon",)),))


@pytest.fixture
async def app(tmp_path: Path, db: Database, node_key: tuple[str, str]) -> AsyncIterator[Quart]:  # noqa: F811
    application = build_app(tmp_path, db, node_key)
    async with application.test_app():
        yield application


def falcon_decision() -> Decision:
    """An outbound post to sales.example that a keyword rule blocks."""
    agreement = PeerAgreement(
        PEER, "allowed", DirectionTerms(max_label="internal"), DirectionTerms(max_label="internal")
    )
    snapshot = PolicySnapshot(version=3, peers={PEER: agreement}, content_rules=(NO_FALCON,))
    crossing = Crossing(
        direction="outbound", peer=PEER, kind="posts", now=NOW, label="internal",
        fields={"content": "Project falcon starts"},
    )  # fmt: skip
    return evaluate(snapshot, crossing)


async def test_the_french_preview_gives_the_reason_a_peer_is_refused_in_french(app: Quart) -> None:
    client, alice = await client_of(app, "alice")
    client.set_cookie("localhost", LANGUAGE_COOKIE, "fr")
    await runtime_of(app).site.policy.apply(ALLOWING_POLICY, "test")
    await remote_follower(app, "bob", PEER, alice)
    csrf = await csrf_of(client, "/home")

    response = await client.post(
        "/preview",
        form={"csrf": csrf, "text": "Budget", "visibility": "public", "label": "confidential"},
    )

    html = await response.get_data(as_text=True)
    assert (
        f"non envoyé à {PEER} : la classification confidential est au-dessus de internal, "
        f"la plus haute que {PEER} accepte"
    ) in html
    assert "not sent to" not in html


async def test_the_french_settings_page_says_the_display_name_is_too_long_with_the_limit(
    app: Quart,
) -> None:
    client, _ = await signed_in_client(app)
    client.set_cookie("localhost", LANGUAGE_COOKIE, "fr")
    csrf = await csrf_of(client, "/settings")

    response = await client.post(
        "/settings/profile", form={"csrf": csrf, "display_name": "A" * 101, "bio": ""}
    )

    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert "nom affiché trop long : 100 caractères au maximum" in html


async def test_the_french_audit_log_shows_a_stored_reason_in_french(app: Quart) -> None:
    client, _ = await client_of(app, "root", admin=True)
    client.set_cookie("localhost", LANGUAGE_COOKIE, "fr")
    decision = falcon_decision()
    await audit.record_decision(decision, object_id=None, actor=None, label="internal")

    response = await client.get("/admin/audit")

    html = await response.get_data(as_text=True)
    assert (
        f"non envoyé à {PEER} : la règle « no-falcon » a trouvé le mot-clé &#39;falcon&#39; "
        "dans content"
    ) in html


async def test_a_reason_stored_before_templates_is_shown_as_its_english_message(
    app: Quart,
) -> None:
    old = {"rule": "hold-merger", "code": "content_held", "message": "held: merger talk"}

    async with app.test_request_context("/", headers=FRENCH):
        assert reason_text(old) == "held: merger talk"


async def test_a_french_chat_notice_gives_the_policy_reason_in_french(app: Quart) -> None:
    decision = falcon_decision()
    carol = Account(username="carol", domain=PEER)
    missing = [Undelivered(carol, PEER, "deny", ("in English",), decision.decisive())]

    async with app.test_request_context("/", headers=FRENCH):
        (notice,) = undelivered_notices(missing, runtime_of(app).site)

    assert notice == (
        f"non remis à carol@{PEER} : non envoyé à {PEER} : la règle « no-falcon » a trouvé "
        "le mot-clé 'falcon' dans content"
    )


async def test_a_service_error_is_translated_then_filled_in(app: Quart) -> None:
    error = ValidationError(
        translatable("description too long: at most {limit} characters"), limit=300
    )

    async with app.test_request_context("/", headers=FRENCH):
        assert service_message(error) == "description trop longue : 300 caractères au maximum"
    assert error.message == "description too long: at most 300 characters"


async def test_a_service_error_the_catalog_does_not_know_stays_in_english(app: Quart) -> None:
    error = NotFound("no such {thing} here", thing="widget")

    async with app.test_request_context("/", headers=FRENCH):
        assert service_message(error) == "no such widget here"
