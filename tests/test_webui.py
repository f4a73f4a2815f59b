"""The web pages, through Quart's test client on a real app and the test database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart import typing as quart_typing

from node.app import runtime_of
from node.db import Database
from node.models import Account, Post, WebSession
from node.services.accounts import create_local_account, set_disabled
from node.services.posts import Draft, create_post
from node.services.sessions import open_session
from tests import api_support
from tests.api_support import build_app
from tests.conftest import make_user
from webui.pages import SESSION_COOKIE

# The node app and its module-scoped key pair are shared with the API tests.
node_key = api_support.node_key

CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
async def app(tmp_path: Path, db: Database, node_key: tuple[str, str]) -> AsyncIterator[Quart]:
    """A started node app; the test's own queries keep using the ``db`` fixture's context."""
    application = build_app(tmp_path, db, node_key)
    async with application.test_app():
        yield application


async def signed_in_client(
    app: Quart, username: str = "alice"
) -> tuple[quart_typing.TestClientProtocol, Account]:
    """A client holding a real session of a new account (the sign-in form has its own tests)."""
    account = await create_local_account(runtime_of(app).site, username, None)
    client = app.test_client()
    client.set_cookie("localhost", SESSION_COOKIE, await open_session(account))
    return client, account


async def csrf_of(client: quart_typing.TestClientProtocol, path: str = "/home") -> str:
    response = await client.get(path)
    assert response.status_code == 200
    match = CSRF_FIELD.search(await response.get_data(as_text=True))
    assert match is not None
    return match.group(1)


def set_cookie_headers(response: Any) -> list[str]:
    return list(response.headers.getlist("Set-Cookie"))


async def test_signing_in_sets_an_http_only_session_cookie(app: Quart) -> None:
    await make_user(runtime_of(app).site, "alice")
    client = app.test_client()

    response = await client.post("/login", form={"username": "alice", "password": "password123"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    (cookie,) = set_cookie_headers(response)
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert await WebSession.all().count() == 1
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    assert not await WebSession.filter(token_hash=token).exists()
    assert (await client.get("/home")).status_code == 200


async def test_session_cookie_is_secure_on_an_https_node(
    tmp_path: Path, db: Database, node_key: tuple[str, str]
) -> None:
    app = build_app(tmp_path, db, node_key, scheme="https", environment="production")
    async with app.test_app():
        await make_user(runtime_of(app).site, "alice")

        response = await app.test_client().post(
            "/login", form={"username": "alice", "password": "password123"}
        )

    (cookie,) = set_cookie_headers(response)
    assert "Secure" in cookie


async def test_wrong_password_is_401_without_a_cookie(app: Quart) -> None:
    await make_user(runtime_of(app).site, "alice")
    client = app.test_client()

    response = await client.post("/login", form={"username": "alice", "password": "wrong-one"})

    assert response.status_code == 401
    assert set_cookie_headers(response) == []
    assert "wrong username or password" in (await response.get_data(as_text=True)).lower()
    assert await WebSession.all().count() == 0


async def test_sign_in_follows_a_local_next_target(app: Quart) -> None:
    await make_user(runtime_of(app).site, "alice")

    response = await app.test_client().post(
        "/login?next=/tags/release", form={"username": "alice", "password": "password123"}
    )

    assert response.headers["Location"] == "/tags/release"


OFF_SITE_TARGETS = [
    "https://evil.example/",
    "//evil.example/",
    # Browsers read a backslash as a slash and drop tabs and newlines inside URLs.
    "/\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
]


async def test_sign_in_ignores_off_site_next_targets(app: Quart) -> None:
    await make_user(runtime_of(app).site, "alice")
    client = app.test_client()

    for target in OFF_SITE_TARGETS:
        response = await client.post(
            "/login",
            query_string={"next": target},
            form={"username": "alice", "password": "password123"},
        )

        assert response.headers["Location"] == "/home", target


async def test_home_redirects_visitors_to_the_sign_in_page(app: Quart) -> None:
    response = await app.test_client().get("/home")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert "/home" in response.headers["Location"]


async def test_pages_send_a_content_security_policy(app: Quart) -> None:
    client = app.test_client()

    for path in ("/login", "/", "/local", "/tags/anything", "/@nobody"):
        response = await client.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy, path
        assert "script-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy, path
        assert response.headers["X-Frame-Options"] == "DENY", path


async def test_posting_without_the_csrf_token_is_400_and_creates_nothing(app: Quart) -> None:
    client, _ = await signed_in_client(app)

    response = await client.post("/posts", form={"text": "forged", "visibility": "public"})

    assert response.status_code == 400
    assert await Post.all().count() == 0


async def test_posting_with_a_wrong_csrf_token_is_400_and_creates_nothing(app: Quart) -> None:
    client, _ = await signed_in_client(app)

    response = await client.post("/posts", form={"text": "forged", "csrf": "0" * 64})

    assert response.status_code == 400
    assert await Post.all().count() == 0


async def test_posting_with_the_csrf_token_publishes_to_home(app: Quart) -> None:
    client, _ = await signed_in_client(app)
    csrf = await csrf_of(client)

    response = await client.post(
        "/posts", form={"csrf": csrf, "text": "Quarterly numbers are in", "visibility": "public"}
    )

    assert response.status_code == 302
    stored = await Post.get(content_source="Quarterly numbers are in")
    assert stored.visibility == "public"
    home = await client.get("/home")
    assert "Quarterly numbers are in" in await home.get_data(as_text=True)


async def test_rejected_post_shows_the_reason_and_creates_nothing(app: Quart) -> None:
    client, _ = await signed_in_client(app)
    csrf = await csrf_of(client)

    response = await client.post("/posts", form={"csrf": csrf, "text": "x" * 501})

    assert response.status_code == 422
    assert "post too long" in await response.get_data(as_text=True)
    assert await Post.all().count() == 0


async def test_hostile_post_content_is_escaped_on_the_page(app: Quart) -> None:
    client, alice = await signed_in_client(app)
    hostile = "<script>alert('x')</script> <img src=x onerror=alert(1)>"
    await create_post(runtime_of(app).site, alice, Draft(text=hostile))

    body = await (await client.get("/home")).get_data(as_text=True)

    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(" in body


async def test_followers_post_is_not_shown_on_the_wall_to_visitors(app: Quart) -> None:
    site = runtime_of(app).site
    alice = await create_local_account(site, "alice", None)
    await create_post(site, alice, Draft(text="out in the open"))
    await create_post(site, alice, Draft(text="just for followers", visibility="followers"))

    body = await (await app.test_client().get("/@alice")).get_data(as_text=True)

    assert "out in the open" in body
    assert "just for followers" not in body


async def test_signing_out_ends_the_session(app: Quart) -> None:
    client, _ = await signed_in_client(app)
    csrf = await csrf_of(client)

    response = await client.post("/logout", form={"csrf": csrf})

    assert response.status_code == 302
    assert await WebSession.all().count() == 0
    assert (await client.get("/home")).status_code == 302


async def test_a_disabled_accounts_session_no_longer_signs_it_in(app: Quart) -> None:
    client, _ = await signed_in_client(app)

    await set_disabled("alice")

    response = await client.get("/home")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
