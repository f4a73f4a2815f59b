"""Local accounts: creation, sign-in, profile, disabling."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from node.config import Settings
from node.errors import AuthenticationFailed, NotFound, ValidationError
from node.keys import generate_key_pair
from node.models import Account, KeyPair
from node.passwords import hash_password, needs_rehash, verify_password
from node.services import outbox
from node.services.content import sanitize_html
from node.services.policy import (
    EVERY_NODE,
    MAX_SHARED_WITH,
    is_share_target,
    sharing_by_name,
    stored_profile_field,
)
from node.site import Site
from node.translatable import translatable

USERNAME_RE = re.compile(r"^[a-z0-9_]{1,30}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
MAX_DISPLAY_NAME = 100
MAX_SUMMARY = 2000
# The node's own actor (signs node-level fetches); not a person.
NODE_ACTOR_USERNAME = "node.actor"


def _check_username(username: str) -> None:
    if not USERNAME_RE.match(username):
        raise ValidationError(
            translatable(
                "invalid username {username!r}: use 1 to 30 lower-case letters, digits or _"
            ),
            username=username,
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            translatable("password too short: at least {limit} characters"),
            limit=MIN_PASSWORD_LENGTH,
        )


async def create_local_account(
    site: Site,
    username: str,
    password: str | None,
    *,
    display_name: str = "",
    email: str | None = None,
    admin: bool = False,
    locked: bool = False,
    key_pair: tuple[str, str] | None = None,
) -> Account:
    """Create a local account with its signing key. Raises ValidationError, changes nothing.

    ``key_pair`` (private PEM, public PEM) is a key generated beforehand; by default
    a new one is generated here.
    """
    _check_username(username)
    if password is not None:
        _check_password(password)
    if len(display_name) > MAX_DISPLAY_NAME:
        raise ValidationError(
            translatable("display name too long: at most {limit} characters"),
            limit=MAX_DISPLAY_NAME,
        )
    if email is not None:
        email = email.strip().lower()
        if not EMAIL_RE.match(email):
            raise ValidationError(translatable("invalid e-mail address {email!r}"), email=email)
    if await Account.filter(username=username, domain="").exists():
        raise ValidationError(
            translatable("username {username!r} is already taken"), username=username
        )
    if email and await Account.filter(email=email).exists():
        raise ValidationError(
            translatable("e-mail address {email!r} is already used by another account"), email=email
        )
    private_pem, public_pem = key_pair or generate_key_pair()
    uri = site.actor_uri(username)
    try:
        async with in_transaction():
            account = await Account.create(
                username=username,
                domain="",
                display_name=display_name or username,
                email=email,
                password_hash=hash_password(password) if password is not None else None,
                is_admin=admin,
                locked=locked,
                uri=uri,
                url=site.profile_url(username),
                inbox_url=f"{uri}/inbox",
                shared_inbox_url=f"{site.base_url}/inbox",
                outbox_url=f"{uri}/outbox",
                followers_url=f"{uri}/followers",
                following_url=f"{uri}/following",
            )
            await KeyPair.create(
                account=account,
                key_id=f"{uri}#main-key",
                public_pem=public_pem,
                private_pem=private_pem,
            )
    except IntegrityError:
        raise ValidationError(
            translatable("username {username!r} is already taken"), username=username
        ) from None
    return account


async def ensure_node_actor(site: Site, private_pem: str, public_pem: str) -> Account:
    """The node's ``Application`` actor, created on first use with the node's key."""
    account = await Account.get_or_none(username=NODE_ACTOR_USERNAME, domain="")
    if account is not None:
        return account
    uri = f"{site.base_url}/actor"
    async with in_transaction():
        account = await Account.create(
            username=NODE_ACTOR_USERNAME,
            domain="",
            actor_type="Application",
            display_name=site.domain,
            uri=uri,
            url=site.base_url + "/",
            inbox_url=f"{uri}/inbox",
            shared_inbox_url=f"{site.base_url}/inbox",
            outbox_url=f"{uri}/outbox",
            locked=True,
        )
        await KeyPair.create(
            account=account,
            key_id=f"{uri}#main-key",
            public_pem=public_pem,
            private_pem=private_pem,
        )
    return account


async def get_local(username: str) -> Account:
    """The local person account ``username`` (disabled ones included)."""
    account = await Account.get_or_none(username=username.lower(), domain="", actor_type="Person")
    if account is None:
        raise NotFound(translatable("no local user {username!r}"), username=username)
    return account


async def list_local() -> list[Account]:
    return await Account.filter(domain="", actor_type="Person").order_by("username")


async def set_disabled(username: str, disabled: bool = True) -> Account:
    """Disable (or re-enable) a local account. Its content stays."""
    account = await get_local(username)
    account.disabled = disabled
    await account.save(update_fields=["disabled", "updated_at"])
    return account


async def authenticate(login: str, password: str, settings: Settings | None = None) -> Account:
    """Check a username (or e-mail address) and password; disabled accounts fail.

    ``settings.auth_source`` decides which passwords count: ``local`` (the default
    without settings) the node's own, ``directory`` only the directory's (an LDAP
    bind) and only for accounts the directory manages, ``both`` the directory's for
    directory accounts and the node's for the others. A directory account never
    signs in with a local password, and on a directory-only node no account does;
    an account with neither a password nor a directory link cannot sign in at all.
    """
    auth_source = settings.auth_source if settings is not None else "local"
    login = login.strip().lower()
    query = Account.filter(domain="", actor_type="Person")
    account = await (
        query.filter(email=login) if "@" in login else query.filter(username=login)
    ).first()
    if account is None:
        verify_password(None, password)
        raise AuthenticationFailed(translatable("wrong username or password"))
    if account.directory_id is not None and auth_source != "local":
        assert settings is not None
        # Imported here: node.directory builds on this module.
        from node.directory.signin import check_directory_password

        if account.directory_left or not await check_directory_password(
            settings, account.directory_id, password
        ):
            raise AuthenticationFailed(translatable("wrong username or password"))
        if account.disabled:
            raise AuthenticationFailed(translatable("this account is disabled"))
        return account
    if account.directory_id is not None or account.directory_left or auth_source == "directory":
        # No local password may be used: spend the same effort, then refuse.
        verify_password(None, password)
        raise AuthenticationFailed(translatable("wrong username or password"))
    if not verify_password(account.password_hash, password):
        raise AuthenticationFailed(translatable("wrong username or password"))
    if account.disabled:
        raise AuthenticationFailed(translatable("this account is disabled"))
    if account.password_hash and needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
        await account.save(update_fields=["password_hash"])
    return account


async def change_password(account: Account, current: str, new: str) -> None:
    """Replace the local password. Directory accounts have none: the directory keeps theirs."""
    if account.directory_id is not None:
        raise ValidationError(
            translatable("this account uses the directory's password: change it there")
        )
    if not verify_password(account.password_hash, current):
        raise AuthenticationFailed(translatable("the current password is wrong"))
    _check_password(new)
    account.password_hash = hash_password(new)
    await account.save(update_fields=["password_hash", "updated_at"])


async def update_profile(
    account: Account,
    *,
    display_name: str | None = None,
    summary: str | None = None,
    locked: bool | None = None,
    profile_fields: Sequence[Mapping[str, object]] | None = None,
) -> Account:
    """Change profile data of a local account; returns it. Raises ValidationError.

    Each profile field is ``{"name", "value"}``, optionally with ``shared_with``: the
    peer domains it may cross to, ``["*"]`` for every node the policy allows, ``[]``
    for this node only. A field given without it keeps the choice of the current field
    of the same name (the client API knows no such thing); a new one goes to every node.
    """
    if display_name is not None:
        if len(display_name) > MAX_DISPLAY_NAME:
            raise ValidationError(
                translatable("display name too long: at most {limit} characters"),
                limit=MAX_DISPLAY_NAME,
            )
        account.display_name = display_name
    if summary is not None:
        if len(summary) > MAX_SUMMARY:
            raise ValidationError(
                translatable("bio too long: at most {limit} characters"), limit=MAX_SUMMARY
            )
        account.summary_html = sanitize_html(
            "".join(f"<p>{html.escape(line)}</p>" for line in summary.split("\n\n") if line)
        )
    if locked is not None:
        account.locked = locked
    if profile_fields is not None:
        if len(profile_fields) > 8:
            raise ValidationError(translatable("at most 8 profile fields"))
        kept = sharing_by_name(account.profile_fields or [])
        stored = []
        for f in profile_fields:
            name = str(f["name"])[:100]
            targets = f.get("shared_with")
            if targets is None:
                targets = kept.get(name, [EVERY_NODE])
            if not isinstance(targets, list) or len(targets) > MAX_SHARED_WITH:
                raise ValidationError(
                    translatable("profile field {name!r} can be shared with at most {limit} nodes"),
                    name=name,
                    limit=MAX_SHARED_WITH,
                )
            for target in targets:
                if not isinstance(target, str) or not is_share_target(target):
                    raise ValidationError(
                        translatable("profile field {name!r} cannot be shared with {target!r}"),
                        name=name,
                        target=target,
                    )
            stored.append(stored_profile_field(name, str(f["value"])[:500], targets))
        account.profile_fields = stored
    async with in_transaction():
        await account.save()
        if account.is_local:
            # Followers on other nodes get the new profile (an Update of the actor).
            await outbox.record("account.updated", account_id=account.id)
    return account


def handle_of(account: Account, site: Site) -> str:
    """``user@domain`` of any account."""
    return f"{account.username}@{account.domain or site.domain}"
