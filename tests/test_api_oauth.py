"""OAuth 2.0: app registration, the consent page with PKCE, the token grants, revocation, scopes."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from quart import Quart

from node.db import Database
from node.models import AccessToken, AuthorizationCode
from tests import api_support
from tests.api_support import ApiClient, build_app, site_of, token_for, user_client
from tests.conftest import make_user

# Fixtures shared by the API tests.
node_key = api_support.node_key
api_app = api_support.api_app

REDIRECT = "https://client.example/callback"
PASSWORD = "password123"
OOB = "urn:ietf:wg:oauth:2.0:oob"
CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')


async def register(app: Quart, scopes: str = "read write follow") -> dict[str, str]:
    answer = await ApiClient(app).post(
        "/api/v1/apps",
        form={"client_name": "Tooter", "redirect_uris": REDIRECT, "scopes": scopes},
    )
    assert answer.status == 200, answer.body
    return answer.body


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


async def authorize(
    app: Quart,
    client: dict[str, str],
    *,
    challenge: str | None = None,
    scope: str = "read write",
    password: str = PASSWORD,
) -> tuple[int, str]:
    """Open the consent page, sign in and approve, as a person would; (status, Location)."""
    browser = app.test_client()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "xyz",
    }
    if challenge:
        query.update(code_challenge=challenge, code_challenge_method="S256")
    page = await browser.get("/oauth/authorize", query_string=query)
    assert page.status_code == 200
    match = CSRF_FIELD.search(await page.get_data(as_text=True))
    assert match is not None
    form = {**query, "csrf": match.group(1), "username": "alice", "password": password,
            "decision": "approve"}  # fmt: skip
    answer = await browser.post("/oauth/authorize", form=form)
    return answer.status_code, answer.headers.get("Location", "")


async def exchange(app: Quart, client: dict[str, str], **fields: str) -> tuple[int, dict[str, str]]:
    answer = await ApiClient(app).post(
        "/oauth/token",
        form={"client_id": client["client_id"], "client_secret": client["client_secret"], **fields},
    )
    return answer.status, answer.body


async def test_registering_an_app_returns_its_credentials(api_app: Quart) -> None:
    client = await register(api_app)
    assert client["name"] == "Tooter"
    assert client["redirect_uris"] == [REDIRECT]
    assert client["scopes"] == ["read", "write", "follow"]
    assert client["client_id"] and client["client_secret"]


async def test_registering_an_app_with_an_unknown_scope_is_refused(api_app: Quart) -> None:
    answer = await ApiClient(api_app).post(
        "/api/v1/apps",
        form={"client_name": "x", "redirect_uris": REDIRECT, "scopes": "read everything"},
    )
    assert answer.status == 422
    assert "everything" in (answer.error or "")


async def test_authorization_code_flow_with_pkce_issues_a_working_token(
    api_app: Quart, db: Database
) -> None:
    await make_user(site_of(api_app), "alice")
    client = await register(api_app)
    verifier, challenge = pkce_pair()
    status, location = await authorize(api_app, client, challenge=challenge)
    assert status == 302 and location.startswith(REDIRECT)
    returned = parse_qs(urlsplit(location).query)
    assert returned["state"] == ["xyz"]
    status, body = await exchange(
        api_app,
        client,
        grant_type="authorization_code",
        code=returned["code"][0],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["scope"] == "read write"
    me = await ApiClient(api_app, body["access_token"]).get("/api/v1/accounts/verify_credentials")
    assert me.status == 200 and me.body["username"] == "alice"


async def test_code_with_a_wrong_pkce_verifier_is_refused(api_app: Quart, db: Database) -> None:
    await make_user(site_of(api_app), "alice")
    client = await register(api_app)
    _, challenge = pkce_pair()
    _, location = await authorize(api_app, client, challenge=challenge)
    code = parse_qs(urlsplit(location).query)["code"][0]
    status, body = await exchange(
        api_app, client, grant_type="authorization_code", code=code, code_verifier="wrong" * 10
    )
    assert status == 400 and body["error"] == "invalid_grant"


async def test_a_code_can_be_used_only_once(api_app: Quart, db: Database) -> None:
    await make_user(site_of(api_app), "alice")
    client = await register(api_app)
    _, location = await authorize(api_app, client)
    code = parse_qs(urlsplit(location).query)["code"][0]
    first, _ = await exchange(api_app, client, grant_type="authorization_code", code=code)
    second, body = await exchange(api_app, client, grant_type="authorization_code", code=code)
    assert (first, second) == (200, 400)
    assert body["error"] == "invalid_grant"


async def test_consent_form_without_its_csrf_token_issues_no_code(
    api_app: Quart, db: Database
) -> None:
    await make_user(site_of(api_app), "alice")
    client = await register(api_app)
    answer = await api_app.test_client().post(
        "/oauth/authorize",
        form={"client_id": client["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
              "scope": "read", "username": "alice", "password": "password123",
              "decision": "approve"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert await AuthorizationCode.all().count() == 0


async def test_consent_page_with_a_wrong_password_shows_the_form_again(
    api_app: Quart, db: Database
) -> None:
    await make_user(site_of(api_app), "alice")
    client = await register(api_app)
    status, location = await authorize(api_app, client, password="not-the-password")
    assert status == 401 and location == ""
    assert await AuthorizationCode.all().count() == 0


async def test_consent_page_refuses_an_unregistered_redirect_uri(api_app: Quart) -> None:
    client = await register(api_app)
    page = await api_app.test_client().get(
        "/oauth/authorize",
        query_string={"response_type": "code", "client_id": client["client_id"],
                      "redirect_uri": "https://evil.example/", "scope": "read"},
    )  # fmt: skip
    assert page.status_code == 400
    assert "Location" not in page.headers


async def test_denying_consent_redirects_with_access_denied(api_app: Quart, db: Database) -> None:
    client = await register(api_app)
    browser = api_app.test_client()
    query = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT,
             "scope": "read", "state": "s1"}  # fmt: skip
    page = await browser.get("/oauth/authorize", query_string=query)
    csrf = CSRF_FIELD.search(await page.get_data(as_text=True))
    assert csrf is not None
    answer = await browser.post(
        "/oauth/authorize", form={**query, "csrf": csrf.group(1), "decision": "deny"}
    )
    returned = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert returned["error"] == ["access_denied"] and returned["state"] == ["s1"]


async def test_password_grant_accepts_the_username_or_the_email(
    api_app: Quart, db: Database
) -> None:
    await make_user(site_of(api_app), "alice", email="alice@corp.example")
    client = await register(api_app)
    by_name, _ = await exchange(
        api_app, client, grant_type="password", username="alice", password="password123"
    )
    by_mail, body = await exchange(
        api_app, client, grant_type="password", username="alice@corp.example",
        password="password123", scope="read",
    )  # fmt: skip
    assert (by_name, by_mail) == (200, 200)
    assert body["scope"] == "read" and body["refresh_token"]


async def test_password_grant_with_a_wrong_password_is_invalid_grant(
    api_app: Quart, db: Database
) -> None:
    await make_user(site_of(api_app), "alice")
    client = await register(api_app)
    status, body = await exchange(
        api_app, client, grant_type="password", username="alice", password="nope-nope"
    )
    assert status == 400 and body["error"] == "invalid_grant"


async def test_password_grant_is_off_in_production(
    tmp_path: Path, db: Database, node_key: tuple[str, str]
) -> None:
    app = build_app(tmp_path, db, node_key, environment="production", scheme="https")
    async with app.test_app():
        db.activate()
        await make_user(site_of(app), "alice")
        client = await register(app)
        status, body = await exchange(
            app, client, grant_type="password", username="alice", password="password123"
        )
        metadata = await ApiClient(app).get("/.well-known/oauth-authorization-server")
    assert status == 400 and body["error"] == "unsupported_grant_type"
    assert "password" not in metadata.body["grant_types_supported"]


async def test_password_grant_can_be_switched_on_in_production(
    tmp_path: Path, db: Database, node_key: tuple[str, str]
) -> None:
    app = build_app(
        tmp_path, db, node_key, environment="production", scheme="https", oauth_password_grant=True
    )
    async with app.test_app():
        db.activate()
        await make_user(site_of(app), "alice")
        client = await register(app)
        status, _ = await exchange(
            app, client, grant_type="password", username="alice", password="password123"
        )
    assert status == 200


async def test_refresh_token_rotates_and_revokes_the_old_pair(api_app: Quart, db: Database) -> None:
    await make_user(site_of(api_app), "alice")
    client = await register(api_app)
    _, first = await exchange(
        api_app, client, grant_type="password", username="alice", password="password123"
    )
    status, second = await exchange(
        api_app, client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert status == 200 and second["access_token"] != first["access_token"]
    old = await ApiClient(api_app, first["access_token"]).get("/api/v1/accounts/verify_credentials")
    new = await ApiClient(api_app, second["access_token"]).get(
        "/api/v1/accounts/verify_credentials"
    )
    assert (old.status, new.status) == (401, 200)
    reused, body = await exchange(
        api_app, client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert reused == 400 and body["error"] == "invalid_grant"


async def test_client_credentials_give_an_app_token_without_a_user(
    api_app: Quart, db: Database
) -> None:
    client = await register(api_app)
    status, body = await exchange(api_app, client, grant_type="client_credentials")
    assert status == 200
    app_client = ApiClient(api_app, body["access_token"])
    verified = await app_client.get("/api/v1/apps/verify_credentials")
    assert verified.status == 200 and verified.body["name"] == "Tooter"
    assert "client_secret" not in verified.body
    home = await app_client.get("/api/v1/timelines/home")
    assert home.status == 422
    assert home.body == {"error": "This method requires an authenticated user"}


async def test_wrong_client_secret_is_invalid_client(api_app: Quart, db: Database) -> None:
    client = await register(api_app)
    status, body = await exchange(
        api_app, {**client, "client_secret": "wrong"}, grant_type="client_credentials"
    )
    assert status == 401 and body["error"] == "invalid_client"


async def test_scope_beyond_the_apps_registration_is_invalid_scope(
    api_app: Quart, db: Database
) -> None:
    client = await register(api_app, scopes="read")
    status, body = await exchange(api_app, client, grant_type="client_credentials", scope="write")
    assert status == 400 and body["error"] == "invalid_scope"


async def test_revoked_token_is_refused_with_401(api_app: Quart, db: Database) -> None:
    await make_user(site_of(api_app), "alice")
    client = await register(api_app)
    _, body = await exchange(
        api_app, client, grant_type="password", username="alice", password="password123"
    )
    revoked = await ApiClient(api_app).post(
        "/oauth/revoke",
        form={"client_id": client["client_id"], "client_secret": client["client_secret"],
              "token": body["access_token"]},
    )  # fmt: skip
    assert revoked.status == 200
    after = await ApiClient(api_app, body["access_token"]).get("/api/v1/timelines/home")
    assert after.status == 401
    assert after.body == {"error": "The access token is invalid"}
    assert await AccessToken.filter(revoked_at__isnull=False).count() == 1


async def test_token_without_the_needed_scope_gets_403(api_app: Quart, db: Database) -> None:
    reader, _ = await user_client(api_app, "alice", scopes="read")
    answer = await reader.post("/api/v1/statuses", form={"status": "hello"})
    assert answer.status == 403
    assert answer.body == {"error": "This action is outside the authorized scopes"}


async def test_sub_scope_grants_only_its_area(api_app: Quart, db: Database) -> None:
    poster, _ = await user_client(api_app, "alice", scopes="write:statuses")
    posted = await poster.post("/api/v1/statuses", form={"status": "hello"})
    home = await poster.get("/api/v1/timelines/home")
    assert (posted.status, home.status) == (200, 403)


async def test_missing_token_on_a_user_endpoint_gets_401(api_app: Quart) -> None:
    answer = await ApiClient(api_app).get("/api/v1/timelines/home")
    assert answer.status == 401 and answer.body == {"error": "The access token is invalid"}


async def test_authorization_server_metadata_lists_the_endpoints(api_app: Quart) -> None:
    answer = await ApiClient(api_app).get("/.well-known/oauth-authorization-server")
    assert answer.body["token_endpoint"] == "http://wall.test/oauth/token"
    assert answer.body["code_challenge_methods_supported"] == ["S256"]
    assert "password" in answer.body["grant_types_supported"]
    assert "read:statuses" in answer.body["scopes_supported"]


async def test_token_is_accepted_as_access_token_query_parameter(
    api_app: Quart, db: Database
) -> None:
    alice = await make_user(site_of(api_app), "alice")
    token = await token_for(alice)
    answer = await ApiClient(api_app).get(
        "/api/v1/accounts/verify_credentials", query={"access_token": token}
    )
    assert answer.status == 200 and answer.body["id"] == str(alice.id)


async def test_out_of_band_redirect_shows_the_code_on_a_page(api_app: Quart, db: Database) -> None:
    await make_user(site_of(api_app), "alice")
    registered = await ApiClient(api_app).post(
        "/api/v1/apps", form={"client_name": "cli", "redirect_uris": OOB, "scopes": "read"}
    )
    client = registered.body
    browser = api_app.test_client()
    query = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": OOB,
             "scope": "read"}  # fmt: skip
    page = await browser.get("/oauth/authorize", query_string=query)
    csrf = CSRF_FIELD.search(await page.get_data(as_text=True))
    assert csrf is not None
    shown = await browser.post(
        "/oauth/authorize",
        form={**query, "csrf": csrf.group(1), "username": "alice", "password": PASSWORD,
              "decision": "approve"},
    )  # fmt: skip
    code = re.search(r'id="authorization-code">([^<]+)<', await shown.get_data(as_text=True))
    assert shown.status_code == 200 and code is not None
    status, _ = await exchange(
        api_app, client, grant_type="authorization_code", code=code.group(1), redirect_uri=OOB
    )
    assert status == 200
