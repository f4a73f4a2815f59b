"""Sign-in with directory credentials through ``accounts.authenticate``, per ``auth_source``.

Against a real OpenLDAP server (seeded by tests/ldap/seed.ldif), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import Settings
from node.db import Database
from node.directory import sync_directory
from node.errors import AuthenticationFailed, ValidationError
from node.models import Account
from node.passwords import hash_password
from node.services.accounts import authenticate, change_password, set_disabled
from node.site import Site
from tests.conftest import make_user
from tests.ldap.fixtures import directory, directory_settings, reused_key_pair, slapd
from tests.ldap.server import Slapd

__all__ = ["directory", "slapd"]  # fixtures

WRONG = "wrong username or password"


def node_settings(tmp_path: Path, server: Slapd, auth_source: str) -> Settings:
    return directory_settings(tmp_path, server, auth_source=auth_source)


@pytest.fixture
async def synced(db: Database, site: Site, tmp_path: Path, directory: Slapd) -> Slapd:
    """The directory's people synced into the node, and a local account ``bob``."""
    await sync_directory(
        node_settings(tmp_path, directory, "local"), site, make_key_pair=reused_key_pair
    )
    await make_user(site, "bob")
    return directory


@pytest.mark.parametrize("auth_source", ["directory", "both"])
async def test_directory_password_signs_in(synced: Slapd, tmp_path: Path, auth_source: str) -> None:
    settings = node_settings(tmp_path, synced, auth_source)

    account = await authenticate("ada", "ada-pass-1", settings)

    assert account.username == "ada"


async def test_directory_account_signs_in_with_its_email_address(
    synced: Slapd, tmp_path: Path
) -> None:
    settings = node_settings(tmp_path, synced, "directory")

    account = await authenticate("Grace.Hopper@example.com", "grace-pass-1", settings)

    assert account.username == "grace"


async def test_username_mapped_from_the_directory_signs_in(synced: Slapd, tmp_path: Path) -> None:
    settings = node_settings(tmp_path, synced, "directory")

    assert (await authenticate("john_smith", "john-pass-1", settings)).username == "john_smith"


async def test_wrong_directory_password_is_refused(synced: Slapd, tmp_path: Path) -> None:
    settings = node_settings(tmp_path, synced, "directory")

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("ada", "grace-pass-1", settings)


async def test_empty_password_is_refused_not_an_anonymous_bind(
    synced: Slapd, tmp_path: Path
) -> None:
    settings = node_settings(tmp_path, synced, "directory")

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("ada", "", settings)


async def test_disabled_account_is_refused_with_the_right_password(
    synced: Slapd, tmp_path: Path
) -> None:
    settings = node_settings(tmp_path, synced, "directory")
    await set_disabled("ada", True)

    with pytest.raises(AuthenticationFailed, match="this account is disabled"):
        await authenticate("ada", "ada-pass-1", settings)


async def test_person_who_left_cannot_sign_in(synced: Slapd, tmp_path: Path, site: Site) -> None:
    settings = node_settings(tmp_path, synced, "directory")
    synced.modify("dn: uid=ken,ou=people,dc=example,dc=com\nchangetype: delete\n")
    await sync_directory(settings, site, make_key_pair=reused_key_pair)

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("ken", "ken-pass-1", settings)


async def test_account_that_left_cannot_sign_in_even_if_an_admin_enabled_it(
    synced: Slapd, tmp_path: Path
) -> None:
    """Whether the entry is still readable or not: the node's word that it left counts."""
    settings = node_settings(tmp_path, synced, "both")
    await Account.filter(username="ada").update(directory_left=True, disabled=False)

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("ada", "ada-pass-1", settings)


@pytest.mark.parametrize("auth_source", ["directory", "both"])
async def test_directory_account_with_a_local_hash_signs_in_only_against_the_directory(
    synced: Slapd, tmp_path: Path, auth_source: str
) -> None:
    settings = node_settings(tmp_path, synced, auth_source)
    await Account.filter(username="ada").update(password_hash=hash_password("local-pass-1"))

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("ada", "local-pass-1", settings)
    assert (await authenticate("ada", "ada-pass-1", settings)).username == "ada"


@pytest.mark.parametrize("auth_source", ["local", "both"])
@pytest.mark.parametrize("password", ["", "password123"])
async def test_account_with_neither_password_nor_directory_link_cannot_sign_in(
    synced: Slapd, tmp_path: Path, auth_source: str, password: str
) -> None:
    settings = node_settings(tmp_path, synced, auth_source)
    await Account.filter(username="bob").update(password_hash=None)

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("bob", password, settings)


async def test_directory_account_cannot_change_its_password_on_the_node(synced: Slapd) -> None:
    ada = await Account.get(username="ada")

    with pytest.raises(ValidationError, match="the directory's password: change it there"):
        await change_password(ada, "ada-pass-1", "new-pass-123")
    assert (await Account.get(username="ada")).password_hash is None


async def test_person_moved_out_of_the_user_base_cannot_sign_in_before_the_next_sync(
    synced: Slapd, tmp_path: Path
) -> None:
    settings = node_settings(tmp_path, synced, "directory")
    synced.modify(
        "dn: uid=ken,ou=people,dc=example,dc=com\nchangetype: modrdn\nnewrdn: uid=ken\n"
        "deleteoldrdn: 1\nnewsuperior: ou=system,dc=example,dc=com\n"
    )

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("ken", "ken-pass-1", settings)


async def test_directory_only_node_refuses_local_passwords(synced: Slapd, tmp_path: Path) -> None:
    settings = node_settings(tmp_path, synced, "directory")

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("bob", "password123", settings)


async def test_both_accepts_local_passwords_for_local_accounts(
    synced: Slapd, tmp_path: Path
) -> None:
    settings = node_settings(tmp_path, synced, "both")

    assert (await authenticate("bob", "password123", settings)).username == "bob"


@pytest.mark.parametrize("settings_given", [True, False])
async def test_local_only_node_does_not_sign_in_directory_accounts(
    synced: Slapd, tmp_path: Path, settings_given: bool
) -> None:
    settings = node_settings(tmp_path, synced, "local") if settings_given else None

    with pytest.raises(AuthenticationFailed, match=WRONG):
        await authenticate("ada", "ada-pass-1", settings)
    assert (await authenticate("bob", "password123", settings)).username == "bob"


async def test_unreachable_directory_refuses_with_a_clear_message(
    synced: Slapd, tmp_path: Path
) -> None:
    settings = node_settings(tmp_path, synced, "both")
    synced.stop()

    with pytest.raises(AuthenticationFailed, match=r"directory .* cannot be reached"):
        await authenticate("ada", "ada-pass-1", settings)
    # Local accounts do not need the directory.
    assert (await authenticate("bob", "password123", settings)).username == "bob"
