"""Helpers for the client API tests: a node app on the test database and an API client.

Tests import the fixtures ``node_key`` and ``api_app`` from here. Tokens are
issued through the token service (fast); the OAuth flows themselves have their
own tests.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from quart import Quart

from node.app import create_app, runtime_of
from node.config import KEYS_DIR, settings_from_mapping
from node.db import Database
from node.keys import generate_key_pair
from node.models import Account, OAuthApp
from node.runtime import node_key_paths
from node.services import tokens
from node.services.accounts import create_local_account
from node.site import Site

ALL_SCOPES = "read write follow push"


@pytest.fixture(scope="module")
def node_key() -> tuple[str, str]:
    """One node key pair per module: RSA generation is the slow part of starting a node."""
    return generate_key_pair()


def build_app(tmp_path: Path, db: Database, node_key: tuple[str, str], **settings: Any) -> Quart:
    """A node app (``http://wall.test``) on the test database, with its key files in place."""
    (tmp_path / KEYS_DIR).mkdir(exist_ok=True)
    private_pem, public_pem = node_key
    private_path, public_path = node_key_paths(tmp_path)
    private_path.write_text(private_pem, encoding="utf-8")
    public_path.write_text(public_pem, encoding="utf-8")
    values = {
        "domain": "wall.test",
        "scheme": "http",
        "environment": "development",
        "database_url": db.url,
        "secret_key": "k" * 40,
        "max_post_length": 500,
        "workers": False,
        **settings,
    }
    return create_app(settings_from_mapping(tmp_path, values))


@pytest.fixture
async def api_app(tmp_path: Path, db: Database, node_key: tuple[str, str]) -> AsyncIterator[Quart]:
    """A started node app; the test's own queries keep using the ``db`` fixture's context."""
    application = build_app(tmp_path, db, node_key)
    async with application.test_app():
        db.activate()
        yield application


def site_of(app: Quart) -> Site:
    return runtime_of(app).site


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


class ApiClient:
    """Calls the API of ``app`` with an optional bearer token; answers are decoded JSON."""

    def __init__(self, app: Quart, token: str | None = None) -> None:
        self.app = app
        self.client = app.test_client()
        self.token = token

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: dict[str, Any] | None = None,
        query: dict[str, Any] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if self.token:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        body: dict[str, Any] = {}
        if json is not None:
            body["json"] = json
        if form is not None:
            body["form"] = form
        if data is not None:
            body["data"] = data
        response = await self.client.open(
            path,
            method=method,
            query_string=query,  # type: ignore[arg-type]  # lists of pairs work too
            headers=sent,
            **body,
        )
        raw = await response.get_data(as_text=False)
        decoded: Any
        try:
            decoded = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            decoded = raw.decode(errors="replace")
        return Answer(response.status_code, decoded, response.headers)

    async def get(self, path: str, **options: Any) -> Answer:
        return await self.call("GET", path, **options)

    async def post(self, path: str, **options: Any) -> Answer:
        return await self.call("POST", path, **options)

    async def put(self, path: str, **options: Any) -> Answer:
        return await self.call("PUT", path, **options)

    async def patch(self, path: str, **options: Any) -> Answer:
        return await self.call("PATCH", path, **options)

    async def delete(self, path: str, **options: Any) -> Answer:
        return await self.call("DELETE", path, **options)


async def token_for(
    account: Account | None, scopes: str = ALL_SCOPES, app_name: str = "test app"
) -> str:
    """A token for ``account`` (None: an app-only token) from a registered app."""
    app = await OAuthApp.create(
        name=app_name,
        client_id=secrets.token_hex(16),
        client_secret_hash="0" * 64,
        redirect_uris="urn:ietf:wg:oauth:2.0:oob",
        scopes=ALL_SCOPES,
    )
    secret, _ = await tokens.issue_token(account, app, scopes)
    return secret


async def user_client(
    app: Quart, username: str, scopes: str = ALL_SCOPES, **options: Any
) -> tuple[ApiClient, Account]:
    """A new local account (password ``password123``) and a client holding its token."""
    account = await create_local_account(site_of(app), username, "password123", **options)
    return ApiClient(app, await token_for(account, scopes)), account
