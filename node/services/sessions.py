"""Web sign-in sessions. The cookie holds a random token; the database only its SHA-256."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from node.models import Account, WebSession

SESSION_LIFETIME = dt.timedelta(days=14)
# The cookie that holds a session token (the web UI sets it; the OAuth consent page reads it).
SESSION_COOKIE = "fedwall_session"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(account: Account) -> str:
    """Start a session for ``account``; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    await WebSession.create(
        token_hash=_digest(token),
        account=account,
        expires_at=dt.datetime.now(dt.UTC) + SESSION_LIFETIME,
    )
    return token


async def account_for(token: str | None) -> Account | None:
    """The enabled account of a live session, or None."""
    if not token:
        return None
    session = await WebSession.get_or_none(token_hash=_digest(token)).prefetch_related("account")
    if session is None or session.expires_at < dt.datetime.now(dt.UTC):
        return None
    if session.account.disabled:
        return None
    return session.account


async def close_session(token: str | None) -> None:
    if token:
        await WebSession.filter(token_hash=_digest(token)).delete()


def csrf_token(secret_key: str, session_token: str) -> str:
    """A per-session CSRF token: an HMAC of the session token, never stored."""
    return hmac.new(secret_key.encode(), b"csrf:" + session_token.encode(), "sha256").hexdigest()


def csrf_valid(secret_key: str, session_token: str | None, submitted: str | None) -> bool:
    if not session_token or not submitted:
        return False
    return hmac.compare_digest(csrf_token(secret_key, session_token), submitted)
