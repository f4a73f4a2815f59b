"""Directory sync against a real OpenLDAP server, on SQLite and PostgreSQL.

The seeded directory (tests/ldap/seed.ldif): ada, grace, linus, margaret, ken and
John.Smith; groups engineering (grace, linus, ken), legal (margaret), sales
(John.Smith) and staff (engineering, legal and ada: nested); posixGroups
developers (grace, linus) and auditors (margaret, John.Smith, nobody).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.config import Settings
from node.db import Database
from node.directory import (
    DirectoryBindRejected,
    DirectoryReadError,
    DirectoryUnavailable,
    SyncPlan,
    UnsafeSyncError,
    read_status,
    run_recorded_sync,
    sync_directory,
)
from node.directory import client as directory_client
from node.directory.worker import register, sync_and_log, sync_periodically
from node.models import Account, Group, GroupMembership, KeyPair, Post
from node.policy import (
    Crossing,
    DirectionTerms,
    GroupRule,
    PeerAgreement,
    PolicySnapshot,
    Scope,
    evaluate,
)
from node.runtime import Runtime
from node.services.accounts import set_disabled, update_profile
from node.services.posts import Draft, create_post
from node.site import Site
from tests.conftest import make_user
from tests.ldap.fixtures import POSIX, directory, directory_settings, reused_key_pair, slapd
from tests.ldap.server import LIMITED_DN, LIMITED_PASSWORD, READER_PASSWORD, Slapd

__all__ = ["directory", "slapd"]  # fixtures

SEEDED = {"ada", "grace", "linus", "margaret", "ken", "john_smith"}


@pytest.fixture
def settings(tmp_path: Path, directory: Slapd) -> Settings:
    return directory_settings(tmp_path, directory)


async def sync(settings: Settings, site: Site, **options: bool) -> SyncPlan:
    result = await sync_directory(
        settings,
        site,
        make_key_pair=reused_key_pair,
        **options,  # type: ignore[arg-type]
    )
    return result.plan


async def members(name: str) -> set[str]:
    group = await Group.get(name=name)
    names = await Account.filter(memberships__group_id=group.id).values_list("username", flat=True)
    return set(names)  # type: ignore[arg-type]


async def usernames(**filters: object) -> set[str]:
    names = await Account.filter(domain="", **filters).values_list("username", flat=True)
    return set(names)  # type: ignore[arg-type]


def fields_of(account: Account) -> dict[str, str]:
    return {f["name"]: f["value"] for f in account.profile_fields}


# ---------------------------------------------------------------- people


async def test_first_sync_creates_an_account_per_person(
    db: Database, site: Site, settings: Settings
) -> None:
    plan = await sync(settings, site)

    assert await usernames() == SEEDED
    assert len(plan.create_accounts) == 6
    ada = await Account.get(username="ada")
    assert (ada.display_name, ada.email, ada.disabled) == ("Ada Lovelace", "ada@example.com", False)
    assert ada.uri == site.actor_uri("ada")
    assert await KeyPair.filter(account_id=ada.id).count() == 1


async def test_synced_profile_fields_come_from_the_mapped_attributes(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)

    ada = await Account.get(username="ada")
    grace = await Account.get(username="grace")
    assert fields_of(ada) == {
        "Title": "Chief Analyst",
        "Department": "Research",
        "Phone": "+44 20 7946 0001",
    }
    assert fields_of(grace)["Manager"] == "ada"
    assert grace.email == "grace.hopper@example.com"


async def test_a_person_without_display_name_is_shown_by_username(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)

    assert (await Account.get(username="linus")).display_name == "linus"


async def test_directory_usernames_become_valid_account_names(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)

    john = await Account.get(username="john_smith")
    assert john.display_name == "John Smith"


async def test_synced_accounts_have_no_local_password_only_a_link(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)

    ada = await Account.get(username="ada")
    assert ada.password_hash is None
    assert ada.directory_id is not None and len(ada.directory_id) == 36  # an entryUUID
    assert not ada.directory_left


async def test_second_sync_of_an_unchanged_directory_changes_nothing(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)

    plan = await sync(settings, site)

    assert plan.is_empty, plan.lines()


async def test_dry_run_reports_the_changes_and_makes_none(
    db: Database, site: Site, settings: Settings
) -> None:
    plan = await sync(settings, site, dry_run=True)

    assert "create account ada (Ada Lovelace, ada@example.com)" in plan.lines()
    assert "add margaret to legal" in plan.lines()
    assert await Account.all().count() == 0
    assert await Group.all().count() == 0


async def test_resync_updates_changed_attributes_and_keeps_the_persons_own_fields(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    ada = await Account.get(username="ada")
    await update_profile(
        ada, profile_fields=[*ada.profile_fields, {"name": "Pronouns", "value": "she/her"}]
    )
    directory.modify(
        "dn: uid=ada,ou=people,dc=example,dc=com\n"
        "changetype: modify\n"
        "replace: title\ntitle: Countess\n-\n"
        "delete: telephoneNumber\n-\n"
        "replace: mail\nmail: countess@example.com\n"
    )

    plan = await sync(settings, site)

    ada = await Account.get(username="ada")
    assert fields_of(ada) == {"Title": "Countess", "Department": "Research", "Pronouns": "she/her"}
    assert ada.email == "countess@example.com"
    assert [u.username for u in plan.update_accounts] == ["ada"]
    assert "Title 'Chief Analyst' → 'Countess'" in plan.lines()[0]


async def test_resync_keeps_who_each_synced_field_is_shared_with(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    ada = await Account.get(username="ada")
    choices = {"Phone": [], "Department": ["sales.example"]}
    await update_profile(
        ada,
        profile_fields=[
            {**f, "shared_with": choices[f["name"]]} if f["name"] in choices else f
            for f in ada.profile_fields
        ],
    )
    directory.modify(
        "dn: uid=ada,ou=people,dc=example,dc=com\n"
        "changetype: modify\n"
        "replace: title\ntitle: Countess\n-\n"
        "replace: telephoneNumber\ntelephoneNumber: +44 20 7946 0002\n"
    )

    await sync(settings, site)

    ada = await Account.get(username="ada")
    stored = {f["name"]: f for f in ada.profile_fields}
    assert stored["Phone"] == {"name": "Phone", "value": "+44 20 7946 0002", "shared_with": []}
    assert stored["Department"]["shared_with"] == ["sales.example"]
    assert "shared_with" not in stored["Title"]


async def test_person_who_left_is_disabled_and_keeps_their_posts(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    ken = await Account.get(username="ken")
    await create_post(site, ken, Draft(text="Unix is simple"))
    directory.modify("dn: uid=ken,ou=people,dc=example,dc=com\nchangetype: delete\n")

    plan = await sync(settings, site)

    left = await Account.get(username="ken")
    assert left.disabled and left.directory_left
    assert (left.directory_id, left.password_hash) == (ken.directory_id, None)
    assert await Post.filter(author_id=left.id).count() == 1
    assert [d.username for d in plan.disable_accounts] == ["ken"]
    assert "ken" not in await members("engineering")
    assert await usernames(disabled=False) == SEEDED - {"ken"}


async def test_person_moved_out_of_the_base_and_back_is_enabled_again(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    directory.modify(
        "dn: uid=ken,ou=people,dc=example,dc=com\nchangetype: modrdn\nnewrdn: uid=ken\n"
        "deleteoldrdn: 1\nnewsuperior: ou=system,dc=example,dc=com\n"
    )
    await sync(settings, site)
    gone = await Account.get(username="ken")
    assert gone.disabled and gone.directory_left
    directory.modify(
        "dn: uid=ken,ou=system,dc=example,dc=com\nchangetype: modrdn\nnewrdn: uid=ken\n"
        "deleteoldrdn: 1\nnewsuperior: ou=people,dc=example,dc=com\n"
    )

    plan = await sync(settings, site)

    ken = await Account.get(username="ken")
    assert not ken.disabled and not ken.directory_left
    assert ken.directory_id == gone.directory_id
    assert "enable account ken: back in the directory" in plan.lines()


async def test_account_an_admin_disabled_stays_disabled_while_in_the_directory(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)
    await set_disabled("ada", True)

    plan = await sync(settings, site)

    assert (await Account.get(username="ada")).disabled
    assert plan.is_empty


async def test_username_of_someone_who_left_is_not_given_to_a_new_person(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    old_ken = await Account.get(username="ken")
    directory.modify("dn: uid=ken,ou=people,dc=example,dc=com\nchangetype: delete\n")
    await sync(settings, site)
    directory.modify(
        "dn: uid=ken,ou=people,dc=example,dc=com\nchangetype: add\nobjectClass: inetOrgPerson\n"
        "uid: ken\ncn: Ken Other\nsn: Other\nuserPassword: other-ken-1\n"
    )

    plan = await sync(settings, site)

    ken = await Account.get(username="ken")
    assert (ken.id, ken.disabled) == (old_ken.id, True)
    assert plan.create_accounts == ()
    assert any("belonged to a person who left" in w for w in plan.warnings)


async def test_local_account_with_a_directory_name_is_not_taken_over(
    db: Database, site: Site, settings: Settings
) -> None:
    local_ada = await make_user(site, "ada")

    plan = await sync(settings, site)

    ada = await Account.get(username="ada")
    assert ada.password_hash == local_ada.password_hash
    assert any("a local account 'ada' exists" in w for w in plan.warnings)
    assert "ada" not in await members("staff")


async def test_adopt_local_links_the_existing_account(
    db: Database, site: Site, settings: Settings
) -> None:
    local_ada = await make_user(site, "ada")

    plan = await sync(settings, site, adopt_local=True)

    ada = await Account.get(username="ada")
    assert ada.id == local_ada.id
    assert ada.directory_id is not None and not ada.directory_left
    assert ada.password_hash is None  # the local password stops working
    assert ada.display_name == "Ada Lovelace"
    assert [link.username for link in plan.link_accounts] == ["ada"]


async def test_local_accounts_are_left_alone(db: Database, site: Site, settings: Settings) -> None:
    await make_user(site, "admin", admin=True)

    await sync(settings, site)

    admin = await Account.get(username="admin")
    assert not admin.disabled and admin.directory_id is None
    assert admin.password_hash is not None


# ---------------------------------------------------------------- groups


async def test_groups_and_nested_members_are_synced(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)

    assert await members("engineering") == {"grace", "linus", "ken"}
    assert await members("legal") == {"margaret"}
    assert await members("sales") == {"john_smith"}
    assert await members("staff") == {"ada", "grace", "linus", "ken", "margaret"}
    staff = await Group.get(name="staff")
    assert (staff.source, staff.description) == ("directory", "Engineering, Legal and the analysts")
    assert staff.external_id


async def test_without_nesting_a_group_holds_only_its_direct_members(
    db: Database, site: Site, tmp_path: Path, directory: Slapd
) -> None:
    settings = directory_settings(tmp_path, directory, directory_nested_groups=False)

    await sync(settings, site)

    assert await members("staff") == {"ada"}


async def test_member_of_membership_resolves_nested_groups_as_active_directory_does(
    db: Database, site: Site, tmp_path: Path, directory: Slapd
) -> None:
    settings = directory_settings(tmp_path, directory, directory_membership="memberOf")

    await sync(settings, site)

    assert await members("engineering") == {"grace", "linus", "ken"}
    assert await members("staff") == {"ada", "grace", "linus", "ken", "margaret"}


async def test_posix_groups_sync_their_member_uids(
    db: Database, site: Site, tmp_path: Path, directory: Slapd
) -> None:
    settings = directory_settings(
        tmp_path,
        directory,
        directory_group_base=POSIX,
        directory_group_filter="(objectClass=posixGroup)",
        directory_membership="memberUid",
        directory_nested_groups=False,
    )

    await sync(settings, site)

    assert await members("developers") == {"grace", "linus"}
    # "nobody" has no entry: ignored.
    assert await members("auditors") == {"margaret", "john_smith"}


async def test_membership_changes_are_synced(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    directory.modify(
        "dn: cn=legal,ou=groups,dc=example,dc=com\nchangetype: modify\n"
        "add: member\nmember: uid=ada,ou=people,dc=example,dc=com\n-\n"
        "delete: member\nmember: uid=margaret,ou=people,dc=example,dc=com\n"
    )

    plan = await sync(settings, site)

    assert await members("legal") == {"ada"}
    assert "add ada to legal" in plan.lines()
    assert "remove margaret from legal" in plan.lines()
    assert await members("staff") == {"ada", "grace", "linus", "ken"}


async def test_renamed_group_keeps_its_row_and_members(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    sales = await Group.get(name="sales")
    directory.modify(
        "dn: cn=sales,ou=groups,dc=example,dc=com\nchangetype: modrdn\n"
        "newrdn: cn=sales-emea\ndeleteoldrdn: 1\n"
    )

    plan = await sync(settings, site)

    renamed = await Group.get(id=sales.id)
    assert renamed.name == "sales-emea"
    assert await members("sales-emea") == {"john_smith"}
    assert not await Group.filter(name="sales").exists()
    assert plan.lines() == [
        "rename group sales → sales-emea (same group; policy rules naming 'sales' "
        "must now name 'sales-emea')"
    ]


async def test_moved_group_keeps_its_row(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    legal = await Group.get(name="legal")
    directory.modify(
        "dn: ou=emea,ou=groups,dc=example,dc=com\nchangetype: add\n"
        "objectClass: organizationalUnit\nou: emea\n\n"
        "dn: cn=legal,ou=groups,dc=example,dc=com\nchangetype: modrdn\nnewrdn: cn=legal\n"
        "deleteoldrdn: 1\nnewsuperior: ou=emea,ou=groups,dc=example,dc=com\n"
    )

    plan = await sync(settings, site)

    assert plan.is_empty, plan.lines()
    assert (await Group.get(name="legal")).id == legal.id
    # The outer group now names the moved DN (memberof-refint): nesting still works.
    assert "margaret" in await members("staff")


async def test_group_gone_from_the_directory_is_deleted_with_its_memberships(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    directory.modify("dn: cn=sales,ou=groups,dc=example,dc=com\nchangetype: delete\n")

    plan = await sync(settings, site)

    assert not await Group.filter(name="sales").exists()
    assert plan.lines() == ["delete group sales: gone from the directory (1 member)"]
    assert not (await Account.get(username="john_smith")).disabled


async def test_local_groups_are_left_alone(db: Database, site: Site, settings: Settings) -> None:
    bob = await make_user(site, "bob")
    local = await Group.create(name="book-club")
    await GroupMembership.create(group=local, account=bob)
    clash = await Group.create(name="legal", description="kept here")

    plan = await sync(settings, site)

    assert await members("book-club") == {"bob"}
    legal = await Group.get(id=clash.id)
    assert (legal.source, legal.description, await members("legal")) == (
        "local",
        "kept here",
        set(),
    )
    assert any("a local group named 'legal' exists" in w for w in plan.warnings)


async def test_group_rules_apply_to_the_members_synced_from_the_directory(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    """A policy rule naming a directory group follows its members, and the group's rename."""
    await sync(settings, site)
    terms = DirectionTerms(max_label="restricted")
    policy = PolicySnapshot(
        version=1,
        peers={"sales.example": PeerAgreement("sales.example", "allowed", terms, terms)},
        group_rules=(
            GroupRule(
                id="legal-stays-home",
                description="Posts by members of Legal never leave the node",
                effect="deny",
                kinds=frozenset({"posts"}),
                scope=Scope(directions=frozenset({"outbound"}), author_groups=frozenset({"legal"})),
            ),
        ),
    )

    async def outcome(username: str) -> str:
        account = await Account.get(username=username)
        groups = await Group.filter(memberships__account_id=account.id).values_list(
            "name", flat=True
        )
        crossing = Crossing(
            direction="outbound",
            peer="sales.example",
            kind="posts",
            now=dt.datetime.now(dt.UTC),
            fields={"content": "hello"},
            author_groups=frozenset(groups),  # type: ignore[arg-type]
        )
        return evaluate(policy, crossing).outcome

    assert await outcome("margaret") == "deny"
    assert await outcome("ada") == "allow"

    directory.modify(
        "dn: cn=legal,ou=groups,dc=example,dc=com\nchangetype: modify\n"
        "add: member\nmember: uid=ada,ou=people,dc=example,dc=com\n"
    )
    await sync(settings, site)

    assert await outcome("ada") == "deny"


# ---------------------------------------------------------------- safety


async def snapshot_of_local_state() -> tuple[list[tuple[str, bool]], list[tuple[int, int]]]:
    accounts = await Account.all().order_by("username").values_list("username", "disabled")
    memberships = await GroupMembership.all().order_by("id").values_list("group_id", "account_id")
    return accounts, memberships


async def test_stopped_directory_is_an_error_that_changes_nothing(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await sync(settings, site)
    before = await snapshot_of_local_state()
    directory.stop()

    with pytest.raises(DirectoryUnavailable, match=r"cannot reach the directory .*refused"):
        await sync(settings, site)

    assert await snapshot_of_local_state() == before


async def test_directory_stopping_mid_sync_changes_nothing(
    db: Database,
    site: Site,
    settings: Settings,
    directory: Slapd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await sync(settings, site)
    directory.modify("dn: uid=ken,ou=people,dc=example,dc=com\nchangetype: delete\n")
    before = await snapshot_of_local_state()
    # Two entries per page: the server dies after the first page of people.
    monkeypatch.setattr(directory_client, "PAGE_SIZE", 2)

    def kill_after_first_page(phase: str, done: int, total: int | None) -> None:
        if phase == "reading people" and done >= 2:
            directory.kill()

    with pytest.raises(DirectoryUnavailable, match="connection to the directory was lost"):
        await sync_directory(
            settings, site, progress=kill_after_first_page, make_key_pair=reused_key_pair
        )

    assert await snapshot_of_local_state() == before
    assert not (await Account.get(username="ken")).disabled


async def test_wrong_bind_password_is_an_error_that_changes_nothing(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)
    before = await snapshot_of_local_state()
    wrong = settings.replace(directory_password="not-the-password-4Kd")

    with pytest.raises(DirectoryBindRejected, match="rejected the bind as cn=reader") as caught:
        await sync(wrong, site)

    assert "not-the-password-4Kd" not in caught.value.message
    assert await snapshot_of_local_state() == before


async def test_size_limit_exceeded_is_an_error_not_a_shorter_list(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)
    before = await snapshot_of_local_state()
    limited = settings.replace(directory_bind_dn=LIMITED_DN, directory_password=LIMITED_PASSWORD)

    with pytest.raises(DirectoryReadError, match="size limit was exceeded"):
        await sync(limited, site)

    assert await snapshot_of_local_state() == before


async def test_empty_answer_is_refused_while_directory_accounts_exist(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)
    before = await snapshot_of_local_state()
    empty = settings.replace(directory_user_filter="(uid=nobody-is-called-this)")

    with pytest.raises(UnsafeSyncError, match=r"no people.*disable all 6.*--allow-empty"):
        await sync(empty, site)

    assert await snapshot_of_local_state() == before


async def test_empty_answer_is_accepted_with_allow_empty(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)
    empty = settings.replace(directory_user_filter="(uid=nobody-is-called-this)")

    plan = await sync(empty, site, allow_empty=True)

    assert len(plan.disable_accounts) == 6
    assert await usernames(disabled=False) == set()
    assert await Account.filter(domain="").count() == 6


async def test_empty_group_answer_is_refused_while_directory_groups_exist(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)
    before = await snapshot_of_local_state()
    no_groups = settings.replace(directory_group_filter="(cn=no-such-group)")

    with pytest.raises(UnsafeSyncError, match=r"no groups.*delete all 4"):
        await sync(no_groups, site)

    assert await snapshot_of_local_state() == before
    assert await Group.all().count() == 4


async def test_base_that_does_not_exist_is_an_error(
    db: Database, site: Site, settings: Settings
) -> None:
    await sync(settings, site)
    missing = settings.replace(directory_user_base="ou=ghosts,dc=example,dc=com")

    with pytest.raises(DirectoryReadError, match="'ou=ghosts,dc=example,dc=com' does not exist"):
        await sync(missing, site)

    assert await usernames(disabled=False) == SEEDED


async def test_entries_without_the_id_attribute_are_an_error(
    db: Database, site: Site, settings: Settings
) -> None:
    ad_style = settings.replace(directory_id_attribute="objectGUID")

    with pytest.raises(DirectoryReadError, match="has no objectGUID"):
        await sync(ad_style, site)

    assert await Account.all().count() == 0


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_directory_that_does_not_answer_times_out_and_changes_nothing(
    db: Database, site: Site, settings: Settings, silent_server: int
) -> None:
    await sync(settings, site)
    before = await snapshot_of_local_state()
    silent = settings.replace(
        directory_url=f"ldap://127.0.0.1:{silent_server}", directory_timeout=1.0
    )

    started = asyncio.get_running_loop().time()
    with pytest.raises(DirectoryUnavailable, match="timed out"):
        await sync(silent, site)

    assert asyncio.get_running_loop().time() - started < 10
    assert await snapshot_of_local_state() == before


async def test_next_server_is_used_when_the_first_does_not_answer(
    db: Database, site: Site, settings: Settings, silent_server: int
) -> None:
    both = settings.replace(
        directory_url=f"ldap://127.0.0.1:{silent_server}, {settings.directory_url}",
        directory_timeout=1.0,
    )

    await sync(both, site)

    assert await usernames() == SEEDED


async def test_the_bind_password_is_never_logged(
    db: Database,
    site: Site,
    settings: Settings,
    directory: Slapd,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = settings.replace(directory_password="wrong-secret-8Zq")

    outcomes = [
        await sync_and_log(settings, site, reused_key_pair),
        await sync_and_log(wrong, site, reused_key_pair),
    ]
    directory.stop()
    outcomes.append(await sync_and_log(settings, site, reused_key_pair))

    assert outcomes == [True, False, False]
    assert "directory sync: read 6 people" in caplog.text
    assert "directory sync failed, nothing was changed: the directory rejected" in caplog.text
    assert "directory sync failed, nothing was changed: cannot reach" in caplog.text
    assert READER_PASSWORD not in caplog.text
    assert "wrong-secret-8Zq" not in caplog.text
    assert READER_PASSWORD not in repr(settings)
    status_file = (settings.data_dir / "directory-sync.json").read_text()
    assert READER_PASSWORD not in status_file and "wrong-secret-8Zq" not in status_file


# ---------------------------------------------------------------- record and worker


async def test_recorded_sync_keeps_the_outcome_for_admins(
    db: Database, site: Site, settings: Settings, directory: Slapd
) -> None:
    await run_recorded_sync(settings, site, trigger="cli", make_key_pair=reused_key_pair)
    status = read_status(settings.data_dir)
    assert status is not None and status.ok
    assert status.counts["accounts_created"] == 6
    assert "create account ada (Ada Lovelace, ada@example.com)" in status.changes

    directory.stop()
    with pytest.raises(DirectoryUnavailable):
        await run_recorded_sync(settings, site, trigger="cli", make_key_pair=reused_key_pair)

    status = read_status(settings.data_dir)
    assert status is not None and not status.ok
    assert status.error is not None and "cannot reach the directory" in status.error


async def test_periodic_sync_runs_until_the_node_stops(
    db: Database, site: Site, settings: Settings
) -> None:
    periodic = settings.replace(directory_sync_interval=3600)
    stopping = asyncio.Event()
    task = asyncio.create_task(sync_periodically(periodic, site, stopping, reused_key_pair))

    for _ in range(200):
        if read_status(periodic.data_dir) is not None:
            break
        await asyncio.sleep(0.05)
    stopping.set()
    await asyncio.wait_for(task, 5)

    status = read_status(periodic.data_dir)
    assert status is not None and (status.ok, status.trigger) == (True, "periodic")
    assert await usernames() == SEEDED


async def test_periodic_sync_is_registered_only_with_an_interval(settings: Settings) -> None:
    off, on = Runtime(settings), Runtime(settings.replace(directory_sync_interval=600))

    register(off)
    register(on)

    assert [name for name, _ in off._workers] == []
    assert [name for name, _ in on._workers] == ["directory-sync"]
