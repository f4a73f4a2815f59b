"""OAuth 2.0 as Mastodon offers it: app registration, the consent page, tokens, revocation.

- ``POST /api/v1/apps`` registers a client; its secret is shown once and stored
  as a SHA-256 digest.
- ``GET /oauth/authorize`` shows a login-and-consent page (CSRF-protected by a
  double-submit cookie); approving issues a one-time code bound to the client,
  the redirect URI, the scopes and — when the client sent one — a PKCE S256
  challenge.
- ``POST /oauth/token`` exchanges a code, a refresh token, client credentials
  or (when ``oauth_password_grant`` is on) a username or e-mail and password.
  Refresh tokens rotate: using one revokes it and its access token.
- ``POST /oauth/revoke`` revokes an access or refresh token of the client.

Token-endpoint errors use RFC 6749's ``{"error", "error_description"}``, as
Mastodon's Doorkeeper does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from quart import Blueprint, Response, render_template, request
from tortoise.transactions import in_transaction

from node.api.errors import ApiError
from node.api.routing import Api, Call, Params, Router, json_response, read_params
from node.errors import AuthenticationFailed
from node.models import AccessToken, Account, AuthorizationCode, OAuthApp, RefreshToken
from node.services import accounts, sessions, tokens
from node.services.tokens import digest

router = Router()

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = dt.timedelta(minutes=10)
CSRF_COOKIE = "fedwall_oauth"
DEFAULT_SCOPES = "read"

_SUB_SCOPES = {
    "read": ("accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists",
             "mutes", "notifications", "search", "statuses"),
    "write": ("accounts", "blocks", "bookmarks", "conversations", "favourites", "filters",
              "follows", "lists", "media", "mutes", "notifications", "reports", "statuses"),
    "admin:read": ("accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks",
                   "email_domain_blocks", "canonical_email_blocks"),
    "admin:write": ("accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks",
                    "email_domain_blocks", "canonical_email_blocks"),
}  # fmt: skip
KNOWN_SCOPES = frozenset(
    ["follow", "push", "profile", *_SUB_SCOPES]
    + [f"{parent}:{sub}" for parent, subs in _SUB_SCOPES.items() for sub in subs]
)
# Fedwall's own admin areas (peers, policies, …) are admin sub-scopes too.
_EXTENSION_SCOPE = re.compile(r"^admin:(read|write):[a-z_]{1,40}$")
_SCOPE_MEANINGS = {
    "read": "Read everything your account can see",
    "write": "Post, edit and delete in your name",
    "follow": "Follow and unfollow accounts",
    "push": "Receive push notifications",
    "profile": "Know who you are",
    "admin:read": "Read the node's administration data",
    "admin:write": "Change the node's administration settings",
}


def parse_scopes(raw: str | None) -> list[str]:
    """Scopes from a space- (or ``+``-) separated string; unknown ones are a 422/400."""
    names = [s for s in re.split(r"[\s+]+", raw or "") if s]
    return list(dict.fromkeys(names))


def invalid_scopes(names: list[str]) -> list[str]:
    return [s for s in names if s not in KNOWN_SCOPES and not _EXTENSION_SCOPE.match(s)]


def within(granted: str, requested: list[str]) -> bool:
    """True when every requested scope is covered by the ``granted`` ones."""
    return all(tokens.scope_granted(granted, scope) for scope in requested)


def scope_meaning(scope: str) -> str:
    if scope in _SCOPE_MEANINGS:
        return _SCOPE_MEANINGS[scope]
    parent, _, area = scope.rpartition(":")
    verb = "Read" if parent.endswith("read") else "Change"
    return f"{verb} your {area.replace('_', ' ')}"


def valid_redirect_uri(uri: str) -> bool:
    """OOB, or an absolute URI without a fragment (custom schemes allowed for apps)."""
    if uri == OOB_REDIRECT:
        return True
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or parts.scheme.lower() in ("javascript", "data"):
        return False
    return bool(parts.netloc) or parts.scheme.lower() not in ("http", "https")


def redirect_uris_of(app: OAuthApp) -> list[str]:
    return [u for u in app.redirect_uris.split() if u]


def application_entity(app: OAuthApp, client_secret: str | None = None) -> dict[str, Any]:
    uris = redirect_uris_of(app)
    entity: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
        "vapid_key": "",
    }
    if client_secret is not None:
        entity.update(client_id=app.client_id, client_secret=client_secret)
        entity["client_secret_expires_at"] = 0
    return entity


# ---------------------------------------------------------------- apps


@router.post("/api/v1/apps", access="none", bucket="apps")
async def register_app(call: Call) -> Any:
    """Register a client; the answer holds the only copy of its secret."""
    params = call.params
    name = (params.text("client_name") or "").strip()
    if not name:
        raise ApiError(422, "Validation failed: Application name can't be blank")
    if len(name) > 200:
        raise ApiError(422, "Validation failed: Application name is too long")
    raw_uris = params.get("redirect_uris")
    uris = (
        [str(u) for u in raw_uris]
        if isinstance(raw_uris, list)
        else (params.strings("redirect_uris") or [""])[0].split()
    )
    if not uris:
        raise ApiError(422, "Validation failed: Redirect URI can't be blank")
    if not all(valid_redirect_uri(u) and len(u) <= 2000 for u in uris):
        raise ApiError(422, "Validation failed: Redirect URI must be an absolute URI.")
    scopes = parse_scopes(params.text("scopes")) or [DEFAULT_SCOPES]
    unknown = invalid_scopes(scopes)
    if unknown:
        raise ApiError(422, f"Validation failed: Scopes are invalid: {' '.join(unknown)}")
    website = params.text("website") or None
    if website and not website.startswith(("https://", "http://")):
        raise ApiError(422, "Validation failed: Website must be an http(s) URL")
    secret = secrets.token_urlsafe(32)
    app = await OAuthApp.create(
        name=name,
        website=website,
        client_id=secrets.token_urlsafe(32),
        client_secret_hash=digest(secret),
        redirect_uris="\n".join(uris),
        scopes=" ".join(scopes),
    )
    return application_entity(app, secret)


@router.get("/api/v1/apps/verify_credentials", access="app")
async def verify_app(call: Call) -> Any:
    assert call.grant is not None
    app_id = call.grant.token.app_id  # type: ignore[attr-defined]
    app = await OAuthApp.get_or_none(id=app_id) if app_id else None
    if app is None:
        raise ApiError(404, "Record not found")
    return application_entity(app)


# ---------------------------------------------------------------- token endpoint


def oauth_error(status: int, code: str, description: str) -> ApiError:
    return ApiError(status, code, description=description)


def _client_credentials(params: Params) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            client_id, _, secret = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, None
        return client_id, secret
    return params.text("client_id"), params.text("client_secret")


async def authenticate_client(params: Params, *, secret_optional: bool = False) -> OAuthApp:
    """The calling client; a missing or wrong secret is ``invalid_client`` (401)."""
    client_id, secret = _client_credentials(params)
    app = await OAuthApp.get_or_none(client_id=client_id) if client_id else None
    if app is None:
        raise oauth_error(401, "invalid_client", "Client authentication failed: unknown client.")
    if secret is None and secret_optional:
        return app
    if secret is None or not hmac.compare_digest(digest(secret), app.client_secret_hash):
        raise oauth_error(401, "invalid_client", "Client authentication failed: wrong secret.")
    return app


def _invalid_grant(detail: str) -> ApiError:
    return oauth_error(
        400,
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the "
        f"redirection URI used in the authorization request, or was issued to another client. "
        f"({detail})",
    )


def _requested_scopes(params: Params, allowed: str, default: str) -> str:
    requested = parse_scopes(params.text("scope")) or default.split()
    if invalid_scopes(requested) or not within(allowed, requested):
        raise oauth_error(
            400, "invalid_scope", "The requested scope is invalid, unknown, or malformed."
        )
    return " ".join(requested)


def pkce_matches(verifier: str, challenge: str) -> bool:
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return hmac.compare_digest(computed.rstrip(b"=").decode(), challenge)


async def _issue(
    account: Account | None, app: OAuthApp, scopes: str, *, refresh: bool
) -> dict[str, Any]:
    secret, row = await tokens.issue_token(account, app, scopes)
    body: dict[str, Any] = {
        "access_token": secret,
        "token_type": "Bearer",
        "scope": scopes,
        "created_at": int(row.created_at.timestamp()),
    }
    if refresh:
        refresh_secret = secrets.token_urlsafe(32)
        await RefreshToken.create(token_hash=digest(refresh_secret), access_token=row)
        body["refresh_token"] = refresh_secret
    return body


@router.post("/oauth/token", access="none", bucket="sign_in")
async def token(call: Call) -> Any:
    """RFC 6749 token endpoint with Mastodon's grants."""
    params = call.params
    grant_type = params.text("grant_type") or ""
    if grant_type == "authorization_code":
        body = await _code_grant(params)
    elif grant_type == "refresh_token":
        body = await _refresh_grant(params)
    elif grant_type == "client_credentials":
        app = await authenticate_client(params)
        scopes = _requested_scopes(params, app.scopes, DEFAULT_SCOPES)
        body = await _issue(None, app, scopes, refresh=False)
    elif grant_type == "password" and call.runtime.settings.oauth_password_grant:
        app = await authenticate_client(params)
        scopes = _requested_scopes(params, app.scopes, DEFAULT_SCOPES)
        try:
            account = await accounts.authenticate(
                params.text("username") or "",
                params.text("password") or "",
                settings=call.runtime.settings,
            )
        except AuthenticationFailed as exc:
            raise _invalid_grant(exc.message) from None
        body = await _issue(account, app, scopes, refresh=True)
    else:
        raise oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        )
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _code_grant(params: Params) -> dict[str, Any]:
    app = await authenticate_client(params, secret_optional=True)
    code = params.text("code") or ""
    row = await AuthorizationCode.get_or_none(code_hash=digest(code)).prefetch_related("account")
    if row is None or row.app_id != app.id:  # type: ignore[attr-defined]
        raise _invalid_grant("unknown code")
    if row.used or row.expires_at < dt.datetime.now(dt.UTC):
        raise _invalid_grant("the code was used or has expired")
    if (params.text("redirect_uri") or row.redirect_uri) != row.redirect_uri:
        raise _invalid_grant("redirect_uri differs")
    if row.code_challenge:
        verifier = params.text("code_verifier") or ""
        if not verifier or not pkce_matches(verifier, row.code_challenge):
            raise _invalid_grant("code_verifier does not match the code challenge")
    else:
        # Without PKCE the client must prove it holds its secret.
        await authenticate_client(params)
    if row.account.disabled:
        raise _invalid_grant("the account is disabled")
    async with in_transaction():
        # The conditional update makes a code single-use even under concurrent requests.
        claimed = await AuthorizationCode.filter(code_hash=row.code_hash, used=False).update(
            used=True
        )
        if not claimed:
            raise _invalid_grant("the code was used")
        return await _issue(row.account, app, row.scopes, refresh=True)


async def _refresh_grant(params: Params) -> dict[str, Any]:
    app = await authenticate_client(params)
    presented = params.text("refresh_token") or ""
    row = await RefreshToken.get_or_none(
        token_hash=digest(presented), revoked_at=None
    ).prefetch_related("access_token__account")
    old = row.access_token if row else None
    if row is None or old is None or old.app_id != app.id:  # type: ignore[attr-defined]
        raise _invalid_grant("unknown or revoked refresh token")
    account = old.account
    if account is None or account.disabled:
        raise _invalid_grant("the account is disabled")
    scopes = _requested_scopes(params, old.scopes, old.scopes)
    now = dt.datetime.now(dt.UTC)
    async with in_transaction():
        revoked = await RefreshToken.filter(token_hash=row.token_hash, revoked_at=None).update(
            revoked_at=now
        )
        if not revoked:
            raise _invalid_grant("the refresh token was used")
        await AccessToken.filter(id=old.id, revoked_at=None).update(revoked_at=now)
        return await _issue(account, app, scopes, refresh=True)


@router.post("/oauth/revoke", access="none", bucket="sign_in")
async def revoke(call: Call) -> Any:
    """Revoke an access or refresh token of the calling client (RFC 7009: always 200)."""
    app = await authenticate_client(call.params)
    presented = call.params.text("token") or ""
    now = dt.datetime.now(dt.UTC)
    access = await AccessToken.get_or_none(token_hash=digest(presented), app_id=app.id)
    if access is None:
        refresh = await RefreshToken.get_or_none(token_hash=digest(presented)).prefetch_related(
            "access_token"
        )
        if refresh is not None and refresh.access_token.app_id == app.id:  # type: ignore[attr-defined]
            access = refresh.access_token
    if access is not None:
        async with in_transaction():
            await AccessToken.filter(id=access.id, revoked_at=None).update(revoked_at=now)
            await RefreshToken.filter(access_token_id=access.id, revoked_at=None).update(
                revoked_at=now
            )
    return {}


@router.get("/.well-known/oauth-authorization-server", access="none")
async def server_metadata(call: Call) -> Any:
    """RFC 8414 metadata, as Mastodon 4.3 publishes it."""
    base = call.site.base_url
    grants = ["authorization_code", "client_credentials", "refresh_token"]
    if call.runtime.settings.oauth_password_grant:
        grants.append("password")
    return {
        "issuer": base + "/",
        "service_documentation": base + "/api/v1/fedwall/openapi.json",
        "authorization_endpoint": base + "/oauth/authorize",
        "token_endpoint": base + "/oauth/token",
        "app_registration_endpoint": base + "/api/v1/apps",
        "revocation_endpoint": base + "/oauth/revoke",
        "userinfo_endpoint": base + "/oauth/userinfo",
        "scopes_supported": sorted(KNOWN_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }


@router.get("/oauth/userinfo", scope=("profile", "read:accounts"))
async def userinfo(call: Call) -> Any:
    account = call.user
    return {
        "iss": call.site.base_url + "/",
        "sub": account.uri,
        "name": account.display_name,
        "preferred_username": account.username,
        "profile": account.url or account.uri,
        "picture": account.avatar_url,
    }


# ---------------------------------------------------------------- consent page


class AuthorizationRequest:
    """A validated ``/oauth/authorize`` request."""

    def __init__(
        self,
        app: OAuthApp,
        redirect_uri: str,
        scopes: list[str],
        state: str | None,
        challenge: str | None,
        challenge_method: str | None,
    ) -> None:
        self.app = app
        self.redirect_uri = redirect_uri
        self.scopes = scopes
        self.state = state
        self.challenge = challenge
        self.challenge_method = challenge_method

    def hidden_fields(self) -> list[tuple[str, str]]:
        fields = [
            ("response_type", "code"),
            ("client_id", self.app.client_id),
            ("redirect_uri", self.redirect_uri),
            ("scope", " ".join(self.scopes)),
        ]
        for name, value in (
            ("state", self.state),
            ("code_challenge", self.challenge),
            ("code_challenge_method", self.challenge_method),
        ):
            if value:
                fields.append((name, value))
        return fields

    def redirect_with(self, **values: str) -> Response:
        if self.state:
            values["state"] = self.state
        separator = "&" if "?" in self.redirect_uri else "?"
        location = self.redirect_uri + separator + urlencode(values)
        return Response("", status=302, headers={"Location": location, "Cache-Control": "no-store"})


class PageError(Exception):
    """The request cannot be answered by redirecting back to the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RedirectError(Exception):
    """An error the client learns about through its redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


async def parse_authorization(params: Params) -> AuthorizationRequest:
    client_id = params.text("client_id") or ""
    app = await OAuthApp.get_or_none(client_id=client_id) if client_id else None
    if app is None:
        raise PageError("Unknown application (client_id).")
    registered = redirect_uris_of(app)
    redirect_uri = params.text("redirect_uri") or (registered[0] if len(registered) == 1 else "")
    if redirect_uri not in registered:
        raise PageError("The redirect URI is not one the application registered.")
    request_ = AuthorizationRequest(
        app,
        redirect_uri,
        parse_scopes(params.text("scope")) or [DEFAULT_SCOPES],
        params.text("state"),
        params.text("code_challenge"),
        params.text("code_challenge_method"),
    )
    if (params.text("response_type") or "") != "code":
        raise RedirectError("unsupported_response_type", "Only response_type=code is supported.")
    if invalid_scopes(request_.scopes) or not within(app.scopes, request_.scopes):
        raise RedirectError("invalid_scope", "The requested scope is invalid or not registered.")
    if request_.challenge:
        if (request_.challenge_method or "plain") != "S256":
            raise RedirectError("invalid_request", "Only the S256 code challenge is supported.")
        if not re.fullmatch(r"[A-Za-z0-9_-]{43,128}", request_.challenge):
            raise RedirectError("invalid_request", "The code challenge is malformed.")
    return request_


def _csp_for(redirect_uri: str) -> str:
    parts = urlsplit(redirect_uri)
    target = (
        f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https")
        else f"{parts.scheme}:"
        if redirect_uri != OOB_REDIRECT
        else ""
    )
    return (
        "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
        f"form-action 'self' {target}; frame-ancestors 'none'; base-uri 'none'"
    ).replace("'self' ;", "'self';")


def add_pages(bp: Blueprint, api: Api) -> None:
    """The HTML consent page: ``GET`` and ``POST /oauth/authorize``."""
    settings = api.runtime.settings

    def csrf_for(nonce: str) -> str:
        return hmac.new(
            settings.secret_key.encode(), b"oauth-consent:" + nonce.encode(), "sha256"
        ).hexdigest()

    async def signed_in() -> Account | None:
        return await sessions.account_for(request.cookies.get(sessions.SESSION_COOKIE))

    async def page(
        auth: AuthorizationRequest,
        nonce: str,
        account: Account | None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        body = await render_template(
            "oauth_authorize.html",
            site=api.site,
            viewer=None,
            app=auth.app,
            scopes=[(s, scope_meaning(s)) for s in auth.scopes],
            hidden=auth.hidden_fields(),
            csrf=csrf_for(nonce),
            account=account,
            error=error,
            action="/oauth/authorize",
            redirect_uri=auth.redirect_uri,
        )
        response = Response(body, status=status, content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = _csp_for(auth.redirect_uri)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            httponly=True,
            secure=settings.scheme == "https",
            samesite="Strict",
            path="/oauth",
            max_age=3600,
        )
        return response

    async def error_page(message: str, status: int = 400) -> Response:
        body = await render_template(
            "oauth_error.html", site=api.site, viewer=None, message=message
        )
        return Response(body, status=status, content_type="text/html; charset=utf-8")

    @bp.get("/oauth/authorize")
    async def authorize_page() -> Response:
        try:
            auth = await parse_authorization(await read_params())
        except PageError as exc:
            return await error_page(exc.message)
        except RedirectError as exc:
            auth_app = await parse_authorization_target()
            if auth_app is None:
                return await error_page(exc.description)
            return auth_app.redirect_with(error=exc.code, error_description=exc.description)
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        force_login = (request.args.get("force_login") or "").lower() in ("1", "true")
        account = None if force_login else await signed_in()
        return await page(auth, nonce, account)

    async def parse_authorization_target() -> AuthorizationRequest | None:
        # Enough of the request to redirect an error back to a registered URI.
        params = await read_params()
        app = await OAuthApp.get_or_none(client_id=params.text("client_id") or "")
        if app is None:
            return None
        uri = params.text("redirect_uri") or ""
        if uri not in redirect_uris_of(app) or uri == OOB_REDIRECT:
            return None
        return AuthorizationRequest(app, uri, [], params.text("state"), None, None)

    @bp.post("/oauth/authorize")
    async def authorize_decision() -> Response:
        verdict = api.limiter.hit("sign_in", f"ip:{request.remote_addr or 'unknown'}")
        if not verdict.allowed:
            return await error_page("Too many attempts; wait a few minutes.", 429)
        params = await read_params()
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        submitted = params.text("csrf") or ""
        if not nonce or not hmac.compare_digest(csrf_for(nonce), submitted):
            return await error_page(
                "The form expired or did not come from this site; go back and try again."
            )
        try:
            auth = await parse_authorization(params)
        except PageError as exc:
            return await error_page(exc.message)
        except RedirectError as exc:
            return await error_page(exc.description)
        if params.text("decision") != "approve":
            return auth.redirect_with(
                error="access_denied", error_description="The person denied the request."
            )
        username = params.text("username")
        if username:
            try:
                account = await accounts.authenticate(
                    username, params.text("password") or "", settings=api.runtime.settings
                )
            except AuthenticationFailed as exc:
                return await page(auth, nonce, None, error=exc.message, status=401)
        else:
            found = await signed_in()
            if found is None:
                return await page(auth, nonce, None, error="Sign in to continue.", status=401)
            account = found
        code = secrets.token_urlsafe(32)
        await AuthorizationCode.create(
            code_hash=digest(code),
            app=auth.app,
            account=account,
            redirect_uri=auth.redirect_uri,
            scopes=" ".join(auth.scopes),
            code_challenge=auth.challenge,
            code_challenge_method="S256" if auth.challenge else None,
            expires_at=dt.datetime.now(dt.UTC) + CODE_LIFETIME,
        )
        if auth.redirect_uri == OOB_REDIRECT:
            body = await render_template(
                "oauth_code.html",
                site=api.site,
                viewer=None,
                app=auth.app,
                code=code,
                minutes=int(CODE_LIFETIME.total_seconds() // 60),
            )
            response = Response(body, content_type="text/html; charset=utf-8")
            response.headers["Cache-Control"] = "no-store"
            return response
        return auth.redirect_with(code=code)
