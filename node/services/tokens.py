"""API access tokens: issuing, looking up, scopes. Only SHA-256 digests are stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from node.models import AccessToken, Account, OAuthApp

# Mastodon's top-level scopes; a sub-scope like ``read:statuses`` is granted by ``read``.
TOP_LEVEL_SCOPES = ("read", "write", "follow", "push", "admin:read", "admin:write")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_granted(granted: str | list[str] | tuple[str, ...], needed: str) -> bool:
    """True when the ``granted`` scopes include ``needed`` (directly or by its parent).

    ``read`` grants ``read:statuses``; ``admin:read`` grants ``admin:read:accounts``;
    ``follow`` grants what Mastodon's legacy ``follow`` scope covers.
    """
    scopes = set(granted.split() if isinstance(granted, str) else granted)
    if needed in scopes:
        return True
    parts = needed.split(":")
    for cut in range(len(parts) - 1, 0, -1):
        if ":".join(parts[:cut]) in scopes:
            return True
    legacy_follow = {"read:follows", "write:follows", "read:blocks", "write:blocks",
                     "read:mutes", "write:mutes"}  # fmt: skip
    return "follow" in scopes and needed in legacy_follow


@dataclass(frozen=True)
class TokenGrant:
    """What a presented token allows: the account (None for app-only tokens) and scopes."""

    token: AccessToken
    account: Account | None
    scopes: tuple[str, ...]

    def allows(self, needed: str) -> bool:
        return scope_granted(self.scopes, needed)


async def issue_token(
    account: Account | None,
    app: OAuthApp | None,
    scopes: str,
    lifetime: dt.timedelta | None = None,
) -> tuple[str, AccessToken]:
    """Create a token; returns the secret (shown once) and its row."""
    secret = secrets.token_urlsafe(32)
    row = await AccessToken.create(
        token_hash=digest(secret),
        account=account,
        app=app,
        scopes=scopes,
        expires_at=dt.datetime.now(dt.UTC) + lifetime if lifetime else None,
    )
    return secret, row


async def grant_for(secret: str | None) -> TokenGrant | None:
    """The grant of a live token, or None (unknown, revoked, expired, disabled account)."""
    if not secret:
        return None
    row = await AccessToken.get_or_none(token_hash=digest(secret)).prefetch_related("account")
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at < dt.datetime.now(dt.UTC):
        return None
    account = row.account
    if account is not None and account.disabled:
        return None
    return TokenGrant(row, account, tuple(row.scopes.split()))


async def revoke(secret: str) -> bool:
    updated = await AccessToken.filter(token_hash=digest(secret), revoked_at=None).update(
        revoked_at=dt.datetime.now(dt.UTC)
    )
    return updated > 0
