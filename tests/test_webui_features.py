"""Web pages beyond the basics: sign-in limits, languages, profiles, settings, live updates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from quart import Quart

from node.app import runtime_of
from node.db import Database
from node.models import Account, Post
from node.services.accounts import create_local_account, update_profile
from node.services.follows import follow
from node.services.posts import Draft, create_post
from node.services.sessions import SESSION_COOKIE, open_session
from node.streaming import Event
from tests.conftest import make_user
from tests.test_webui import build_app, csrf_of, signed_in_client
from webui import catalogs
from webui.i18n import LANGUAGE_COOKIE
from webui.live import sse_message
from webui.signin_limits import SignInLimiter


@pytest.fixture(scope="module")
def node_key() -> tuple[str, str]:
    from node.keys import generate_key_pair

    return generate_key_pair()


@pytest.fixture
async def app(tmp_path: Path, db: Database, node_key: tuple[str, str]) -> AsyncIterator[Quart]:
    application = build_app(tmp_path, db, node_key)
    async with application.test_app():
        yield application


async def text_of(response: object) -> str:
    return str(await response.get_data(as_text=True))  # type: ignore[attr-defined]


# ---------------------------------------------------------------- sign-in limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_locks_a_pair_out_after_ten_failures_until_the_window_passes() -> None:
    clock = FakeClock()
    limiter = SignInLimiter(max_failures=10, window=300, clock=clock)
    key = limiter.key("192.0.2.1", "Alice")

    for _ in range(9):
        limiter.failed(key)
    assert limiter.retry_after(key) is None
    limiter.failed(key)
    assert limiter.retry_after(key) == 300
    assert limiter.retry_after(limiter.key("192.0.2.1", "bob")) is None
    assert limiter.retry_after(limiter.key("192.0.2.2", "alice")) is None

    clock.now += 301
    assert limiter.retry_after(key) is None


async def test_eleventh_sign_in_after_ten_failures_is_429_even_with_the_right_password(
    app: Quart,
) -> None:
    await make_user(runtime_of(app).site, "alice")
    client = app.test_client()
    for _ in range(10):
        response = await client.post("/login", form={"username": "alice", "password": "nope"})
        assert response.status_code == 401

    response = await client.post("/login", form={"username": "alice", "password": "password123"})

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in await text_of(response)
    assert "Set-Cookie" not in response.headers
    other = await client.post("/login", form={"username": "bob", "password": "nope"})
    assert other.status_code == 401


async def test_a_form_posted_from_another_site_is_refused(app: Quart) -> None:
    await make_user(runtime_of(app).site, "alice")

    response = await app.test_client().post(
        "/login",
        form={"username": "alice", "password": "password123"},
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers


# ---------------------------------------------------------------- assets


async def test_versioned_assets_are_cached_for_a_year(app: Quart) -> None:
    client, _ = await signed_in_client(app)
    page = await text_of(await client.get("/home"))
    start = page.index("/static/live.js?v=")
    url = page[start : page.index('"', start)]

    response = await client.get(url)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.mimetype in ("text/javascript", "application/javascript")
    stale = await client.get("/static/live.js?v=old")
    assert "immutable" not in stale.headers["Cache-Control"]


async def test_visitors_pages_load_no_script(app: Quart) -> None:
    page = await text_of(await app.test_client().get("/login"))

    assert "<script" not in page


# ---------------------------------------------------------------- languages


def test_french_catalog_translates_every_string_and_its_mo_is_up_to_date() -> None:
    assert catalogs.problems() == []


async def test_accept_language_french_gets_french_pages(app: Quart) -> None:
    response = await app.test_client().get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})

    body = await text_of(response)
    assert '<html lang="fr">' in body
    assert "Se connecter à wall.test" in body
    assert "Accept-Language" in response.headers["Vary"]


async def test_the_language_cookie_wins_over_accept_language(app: Quart) -> None:
    client = app.test_client()
    client.set_cookie("localhost", LANGUAGE_COOKIE, "en")

    body = await text_of(await client.get("/login", headers={"Accept-Language": "fr"}))

    assert '<html lang="en">' in body


async def test_the_language_link_sets_the_cookie_and_stays_on_the_site(app: Quart) -> None:
    client = app.test_client()

    response = await client.get("/language/fr", query_string={"next": "//evil.example/"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert f"{LANGUAGE_COOKIE}=fr" in response.headers["Set-Cookie"]
    assert (await client.get("/language/de")).status_code == 404


async def test_the_language_is_an_account_setting_that_follows_the_person(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    token = await csrf_of(client, "/settings")

    response = await client.post(
        "/settings/language", form={"csrf": token, "language": "fr", "next": "/home"}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    await alice.refresh_from_db()
    assert alice.language == "fr"
    # Another browser of the same person, whose cookie and browser say English.
    other = app.test_client()
    other.set_cookie("localhost", SESSION_COOKIE, await open_session(alice))
    other.set_cookie("localhost", LANGUAGE_COOKIE, "en")
    body = await text_of(await other.get("/home", headers={"Accept-Language": "en"}))
    assert '<html lang="fr">' in body


async def test_the_settings_form_shows_every_profile_field_and_one_empty_row(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    six = [{"name": f"Field {n}", "value": f"value {n}"} for n in range(6)]
    await update_profile(alice, profile_fields=six)

    page = await text_of(await client.get("/settings"))

    assert page.count('name="field_name_') == 7
    assert 'value="Field 5"' in page and 'value="value 5"' in page


async def test_a_directory_account_is_sent_to_the_directory_to_change_its_password(
    app: Quart,
) -> None:
    client, alice = await signed_in_client(app)
    await Account.filter(id=alice.id).update(directory_id="4f1c-entry", password_hash=None)

    page = await text_of(await client.get("/settings"))

    assert 'id="password-directory"' in page
    assert 'name="current_password"' not in page


async def test_an_unknown_account_language_is_refused_and_nothing_changes(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    token = await csrf_of(client, "/settings")

    response = await client.post("/settings/language", form={"csrf": token, "language": "xx"})

    assert response.status_code == 422
    await alice.refresh_from_db()
    assert alice.language is None


async def test_signed_in_people_switch_language_with_a_form_not_a_link(app: Quart) -> None:
    client, _ = await signed_in_client(app)

    body = await text_of(await client.get("/home", headers={"Accept-Language": "en"}))

    assert 'action="/settings/language"' in body
    assert 'href="/language/fr' not in body


async def test_rejected_sign_in_is_explained_in_french(app: Quart) -> None:
    await make_user(runtime_of(app).site, "alice")

    response = await app.test_client().post(
        "/login", form={"username": "alice", "password": "nope"}, headers={"Accept-Language": "fr"}
    )

    assert "nom d\u2019utilisateur ou mot de passe incorrect" in await text_of(response)


# ---------------------------------------------------------------- people


async def test_search_finds_local_colleagues_by_name(app: Quart) -> None:
    site = runtime_of(app).site
    await create_local_account(site, "bob", None, display_name="Bob Durand")
    client, _ = await signed_in_client(app)

    body = await text_of(await client.get("/search", query_string={"q": "durand"}))

    assert "Bob Durand" in body
    assert "@bob@wall.test" in body


async def test_searching_a_hashtag_opens_its_page(app: Quart) -> None:
    response = await app.test_client().get("/search", query_string={"q": "#launch"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/tags/launch"


async def test_visitors_never_make_the_node_fetch_an_unknown_remote_profile(app: Quart) -> None:
    calls: list[tuple[str, str]] = []

    async def resolver(username: str, domain: str) -> None:
        calls.append((username, domain))

    runtime_of(app).site.resolve_remote = resolver

    response = await app.test_client().get("/@carol@lab.example")

    assert response.status_code == 404
    assert calls == []


async def test_a_signed_in_colleague_opens_a_remote_profile_fetched_by_handle(
    app: Quart,
) -> None:
    site = runtime_of(app).site
    remote = await Account.create(
        username="carol", domain="lab.example", display_name="Carol Petit",
        uri="https://lab.example/users/carol", url="https://lab.example/@carol",
    )  # fmt: skip

    async def resolver(username: str, domain: str) -> Account | None:
        return remote if (username, domain) == ("carol", "lab.example") else None

    site.resolve_remote = resolver
    client, _ = await signed_in_client(app)

    body = await text_of(await client.get("/@carol@lab.example"))

    assert "Carol Petit" in body
    assert "Only the posts that reached this node are shown." in body


async def test_following_by_handle_leads_to_the_colleagues_profile(app: Quart) -> None:
    await create_local_account(runtime_of(app).site, "bob", None, display_name="Bob Durand")
    client, _alice = await signed_in_client(app)
    csrf = await csrf_of(client)

    response = await client.post("/follow", form={"csrf": csrf, "handle": "@bob"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/@bob"
    assert "You follow this colleague" in await text_of(await client.get("/@bob"))
    undo = await client.post("/follow", form={"csrf": csrf, "handle": "bob", "undo": "1"})
    assert undo.status_code == 302
    assert ">Follow</button>" in await text_of(await client.get("/@bob"))


async def test_following_an_unknown_handle_explains_it(app: Quart) -> None:
    client, _ = await signed_in_client(app)
    csrf = await csrf_of(client)

    response = await client.post("/follow", form={"csrf": csrf, "handle": "nobody"})

    assert response.status_code == 422
    assert "No colleague nobody was found." in await text_of(response)


async def test_profile_settings_change_the_wall(app: Quart) -> None:
    client, _alice = await signed_in_client(app)
    csrf = await csrf_of(client, "/settings")

    response = await client.post(
        "/settings/profile",
        form={
            "csrf": csrf,
            "display_name": "Alice Martin",
            "bio": "Finance team.\n\nAsk me about budgets.",
            "field_name_0": "Office",
            "field_value_0": "Lyon, 3rd floor",
            "locked": "1",
        },
    )

    assert response.status_code == 200
    assert "Your profile is saved." in await text_of(response)
    wall = await text_of(await client.get("/@alice"))
    assert "Alice Martin" in wall
    assert "<p>Ask me about budgets.</p>" in wall
    assert "Lyon, 3rd floor" in wall
    assert "approves followers" in wall
    settings_page = await text_of(await client.get("/settings"))
    assert "Finance team.\n\nAsk me about budgets.</textarea>" in settings_page


async def test_password_change_needs_the_current_password(app: Quart) -> None:
    site = runtime_of(app).site
    await make_user(site, "alice")
    client = app.test_client()
    await client.post("/login", form={"username": "alice", "password": "password123"})
    csrf = await csrf_of(client, "/settings")
    form = {"csrf": csrf, "new_password": "a new long one", "confirm_password": "a new long one"}

    wrong = await client.post("/settings/password", form={**form, "current_password": "nope"})
    right = await client.post(
        "/settings/password", form={**form, "current_password": "password123"}
    )

    assert wrong.status_code == 422
    assert "the current password is wrong" in await text_of(wrong)
    assert "Your password is changed." in await text_of(right)
    fresh = app.test_client()
    signed = await fresh.post("/login", form={"username": "alice", "password": "a new long one"})
    assert signed.status_code == 302


async def test_own_post_thread_offers_an_edit_form_that_changes_text_and_label(
    app: Quart,
) -> None:
    client, alice = await signed_in_client(app)
    post = await create_post(runtime_of(app).site, alice, Draft(text="first words"))
    csrf = await csrf_of(client)
    thread = await text_of(await client.get(f"/posts/{post.id}"))
    assert 'id="edit"' in thread

    response = await client.post(
        f"/posts/{post.id}/edit", form={"csrf": csrf, "text": "better words", "label": "public"}
    )

    assert response.status_code == 302
    stored = await Post.get(id=post.id)
    assert (stored.content_source, stored.label) == ("better words", "public")


async def test_notifications_link_to_the_post(app: Quart) -> None:
    site = runtime_of(app).site
    client, _alice = await signed_in_client(app)
    bob = await create_local_account(site, "bob", None)
    post = await create_post(site, bob, Draft(text="hello @alice"))

    body = await text_of(await client.get("/notifications"))

    assert f'href="/posts/{post.id}"' in body
    assert "mentioned you" in body


# ---------------------------------------------------------------- live updates


def test_live_messages_carry_ids_as_strings() -> None:
    big = 2**60 + 1
    message = sse_message(Event("update", {"post_id": big}, ("user:1",)))

    assert message == b'event: update\ndata: {"post_id":"' + str(big).encode() + b'"}\n\n'


async def test_the_live_stream_needs_a_session(app: Quart) -> None:
    response = await app.test_client().get("/live")

    assert response.status_code == 401


async def test_the_live_stream_announces_a_followed_colleagues_new_post(app: Quart) -> None:
    site = runtime_of(app).site
    client, alice = await signed_in_client(app)
    bob = await create_local_account(site, "bob", None)
    await follow(site, alice, bob)

    async with client.request("/live") as connection:
        await connection.send_complete()
        assert b"event: ready" in await asyncio.wait_for(connection.receive(), 5)
        post = await create_post(site, bob, Draft(text="live one"))
        message = await asyncio.wait_for(connection.receive(), 5)
        await connection.disconnect()

    name, data = message.decode().strip().split("\n")
    assert name == "event: update"
    assert orjson.loads(data.removeprefix("data: ")) == {"post_id": str(post.id)}


async def test_post_fragment_renders_a_visible_post_and_hides_others(app: Quart) -> None:
    site = runtime_of(app).site
    client, _alice = await signed_in_client(app)
    bob = await create_local_account(site, "bob", None)
    public = await create_post(site, bob, Draft(text="for all"))
    private = await create_post(site, bob, Draft(text="for followers", visibility="followers"))

    shown = await client.get(f"/live/posts/{public.id}")
    hidden = await client.get(f"/live/posts/{private.id}")

    assert shown.status_code == 200
    body = await text_of(shown)
    assert body.strip().startswith("<article")
    assert "for all" in body
    assert 'name="csrf"' in body
    assert hidden.status_code == 404


async def test_unread_count_is_served_for_the_badge(app: Quart) -> None:
    site = runtime_of(app).site
    client, alice = await signed_in_client(app)
    bob = await create_local_account(site, "bob", None)
    await follow(site, bob, alice)

    response = await client.get("/live/unread")

    assert response.status_code == 200
    assert await response.get_json() == {"unread": 1, "label": "1 unread"}
