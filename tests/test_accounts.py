"""Local accounts: creation, password storage, sign-in, disabling."""

from __future__ import annotations

import pytest

from node.db import Database
from node.errors import AuthenticationFailed, NotFound, ValidationError
from node.models import Account, KeyPair
from node.services.accounts import (
    authenticate,
    create_local_account,
    get_local,
    list_local,
    set_disabled,
)
from node.site import Site
from tests.conftest import make_user


async def _row_counts() -> tuple[int, int]:
    return await Account.all().count(), await KeyPair.all().count()


async def test_new_account_gets_its_actor_urls_and_a_signing_key(db: Database, site: Site) -> None:
    alice = await make_user(site, "alice", display_name="Alice A.")

    assert alice.uri == "https://wall.test/users/alice"
    assert alice.inbox_url == "https://wall.test/users/alice/inbox"
    assert alice.url == "https://wall.test/@alice"
    assert alice.display_name == "Alice A."
    key = await KeyPair.get(account_id=alice.id)
    assert key.key_id == "https://wall.test/users/alice#main-key"
    assert key.private_pem is not None
    assert key.private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert key.public_pem.startswith("-----BEGIN PUBLIC KEY-----")


async def test_password_is_stored_as_an_argon2id_hash_never_as_given(
    db: Database, site: Site
) -> None:
    await make_user(site, "alice")

    stored = await Account.get(username="alice", domain="")
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert "password123" not in stored.password_hash


async def test_authenticate_accepts_the_username(db: Database, site: Site) -> None:
    alice = await make_user(site, "alice")

    assert (await authenticate("alice", "password123")).id == alice.id


async def test_authenticate_accepts_the_email_address_in_any_case(db: Database, site: Site) -> None:
    alice = await make_user(site, "alice", email="Alice@Example.com")

    assert alice.email == "alice@example.com"
    assert (await authenticate("ALICE@example.com", "password123")).id == alice.id


async def test_wrong_password_fails_authentication(db: Database, site: Site) -> None:
    await make_user(site, "alice")

    with pytest.raises(AuthenticationFailed, match="wrong username or password"):
        await authenticate("alice", "password124")


async def test_unknown_username_fails_authentication_like_a_wrong_password(db: Database) -> None:
    with pytest.raises(AuthenticationFailed, match="wrong username or password"):
        await authenticate("nobody", "password123")


async def test_disabled_account_cannot_authenticate(db: Database, site: Site) -> None:
    await make_user(site, "alice")
    await set_disabled("alice")

    with pytest.raises(AuthenticationFailed, match="disabled"):
        await authenticate("alice", "password123")


async def test_reenabled_account_can_authenticate_again(db: Database, site: Site) -> None:
    await make_user(site, "alice")
    await set_disabled("alice", True)
    await set_disabled("alice", False)

    assert (await authenticate("alice", "password123")).username == "alice"


async def test_duplicate_username_is_rejected_and_creates_nothing(db: Database, site: Site) -> None:
    await create_local_account(site, "alice", None)
    before = await _row_counts()

    with pytest.raises(ValidationError, match="'alice' is already taken"):
        await create_local_account(site, "alice", None)

    assert await _row_counts() == before


async def test_duplicate_email_is_rejected_whatever_its_case(db: Database, site: Site) -> None:
    await create_local_account(site, "alice", None, email="team@example.com")
    before = await _row_counts()

    with pytest.raises(ValidationError, match="already used by another account"):
        await create_local_account(site, "bob", None, email="TEAM@example.com")

    assert await _row_counts() == before


INVALID_ACCOUNTS = [
    ("Alice", "password123", None, "invalid username 'Alice'"),
    ("al ice", "password123", None, "invalid username"),
    ("", "password123", None, "invalid username"),
    ("a" * 31, "password123", None, "invalid username"),
    ("alice", "short", None, "password too short: at least 8 characters"),
    ("alice", "password123", "not-an-address", "invalid e-mail address 'not-an-address'"),
]


async def test_each_invalid_account_is_rejected_with_its_reason_and_creates_nothing(
    db: Database, site: Site
) -> None:
    for username, password, email, message in INVALID_ACCOUNTS:
        with pytest.raises(ValidationError, match=message):
            await create_local_account(site, username, password, email=email)

        assert await _row_counts() == (0, 0), username


async def test_unknown_local_user_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match="no local user 'nobody'"):
        await get_local("nobody")


async def test_disabling_an_unknown_user_is_not_found_and_changes_nothing(
    db: Database, site: Site
) -> None:
    await create_local_account(site, "alice", None)

    with pytest.raises(NotFound):
        await set_disabled("nobody")

    assert await Account.filter(disabled=True).count() == 0


async def test_disabling_keeps_the_account_listed_as_disabled(db: Database, site: Site) -> None:
    await create_local_account(site, "bob", None)
    await create_local_account(site, "alice", None)

    await set_disabled("bob")

    listed = [(a.username, a.disabled) for a in await list_local()]
    assert listed == [("alice", False), ("bob", True)]
