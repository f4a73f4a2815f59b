"""The sync planner on plain data (cases a test directory does not easily produce),
and applying plans whose changes depend on each other (SQLite and PostgreSQL)."""

from __future__ import annotations

from node.db import Database
from node.directory import (
    AccountLink,
    DirectoryGroup,
    DirectorySnapshot,
    DirectoryUser,
    LocalAccount,
    LocalState,
    plan_sync,
)
from node.directory.apply import apply_plan, load_local_state
from node.directory.link import MAX_EXTERNAL_ID_LENGTH
from node.directory.plan import local_username
from node.models import Account, Group, GroupMembership
from node.site import Site
from tests.conftest import make_user
from tests.ldap.fixtures import reused_key_pair


def person(uid: str, *, email: str = "", manager_dn: str = "") -> DirectoryUser:
    return DirectoryUser(
        dn=f"uid={uid.lower()},ou=people",
        external_id=f"id-{uid}",
        username=uid,
        email=email,
        manager_dn=manager_dn,
    )


def group(
    name: str, *members: str, gid: str | None = None, member_of: tuple[str, ...] = ()
) -> DirectoryGroup:
    return DirectoryGroup(
        dn=f"cn={name},ou=groups",
        external_id=gid or f"gid-{name}",
        name=name,
        members=members,
        member_of=member_of,
    )


def linked(
    account_id: int, username: str, external_id: str, display_name: str = ""
) -> LocalAccount:
    return LocalAccount(
        account_id, username, display_name=display_name, link=AccountLink(external_id)
    )


def test_account_names_are_lower_case_with_underscores() -> None:
    assert local_username("John.Smith") == "john_smith"
    assert local_username("mary-jane") == "mary_jane"
    assert local_username("o'brien") is None
    assert local_username("x" * 31) is None


def test_entries_that_map_to_the_same_name_are_both_skipped() -> None:
    snapshot = DirectorySnapshot(users=(person("john.smith"), person("John-Smith")), groups=None)

    plan = plan_sync(snapshot, LocalState())

    assert plan.create_accounts == ()
    assert "all map to the account name 'john_smith'; skipped" in plan.warnings[0]


def test_an_entry_that_cannot_be_mapped_is_skipped_but_its_account_is_not_disabled() -> None:
    """Its entry is still in the directory: a mapping problem is not someone leaving."""
    snapshot = DirectorySnapshot(users=(person("o'brien"),), groups=None)
    local = LocalState(accounts=(linked(1, "obrien", "id-o'brien"),))

    plan = plan_sync(snapshot, local)

    assert plan.disable_accounts == ()
    assert "cannot be an account name" in plan.warnings[0]


def test_stable_id_longer_than_its_column_is_skipped() -> None:
    fits = DirectoryUser("uid=ada,ou=people", "a" * MAX_EXTERNAL_ID_LENGTH, "ada")
    too_long = DirectoryUser("uid=bob,ou=people", "b" * (MAX_EXTERNAL_ID_LENGTH + 1), "bob")

    plan = plan_sync(DirectorySnapshot(users=(fits, too_long), groups=None), LocalState())

    assert MAX_EXTERNAL_ID_LENGTH == 255
    assert [c.username for c in plan.create_accounts] == ["ada"]
    assert plan.warnings == ("uid=bob,ou=people: stable id longer than 255; skipped",)


def test_renamed_entry_keeps_its_account_name() -> None:
    snapshot = DirectorySnapshot(users=(person("robert"),), groups=None)
    local = LocalState(accounts=(linked(1, "bob", "id-robert", display_name="robert"),))

    plan = plan_sync(snapshot, local)

    assert plan.create_accounts == () and plan.disable_accounts == ()
    assert "the account keeps the name 'bob'" in plan.warnings[0]


def test_email_used_by_a_local_account_is_not_given_to_a_directory_account() -> None:
    snapshot = DirectorySnapshot(users=(person("ada", email="ada@example.com"),), groups=None)
    local = LocalState(accounts=(LocalAccount(7, "ada_local", email="ada@example.com"),))

    plan = plan_sync(snapshot, local)

    assert plan.create_accounts[0].values.email is None
    assert "ada@example.com is used by another account" in plan.warnings[0]


def test_manager_is_named_by_account_name() -> None:
    boss = person("Boss.Person")
    worker = person("worker", manager_dn=boss.dn)

    plan = plan_sync(DirectorySnapshot(users=(boss, worker), groups=None), LocalState())

    created = {c.username: dict(c.values.profile_fields) for c in plan.create_accounts}
    assert created["worker"] == {"Manager": "boss_person"}


def test_nested_groups_with_a_cycle_are_resolved() -> None:
    a = group("a", "uid=ada,ou=people", "cn=b,ou=groups")
    b = group("b", "uid=bob,ou=people", "cn=a,ou=groups")
    snapshot = DirectorySnapshot(
        users=(person("ada"), person("bob")), groups=(a, b), nested_groups=True
    )

    plan = plan_sync(snapshot, LocalState())

    added = {(m.group_name, m.username) for m in plan.add_members}
    assert added == {("a", "ada"), ("a", "bob"), ("b", "ada"), ("b", "bob")}


def test_member_of_nesting_reaches_every_ancestor() -> None:
    users = (DirectoryUser("uid=ada,ou=people", "id-ada", "ada", member_of=("cn=team,ou=groups",)),)
    groups = (
        group("team", member_of=("cn=dept,ou=groups",)),
        group("dept", member_of=("cn=company,ou=groups",)),
        group("company"),
    )
    snapshot = DirectorySnapshot(
        users=users, groups=groups, membership="memberOf", nested_groups=True
    )

    plan = plan_sync(snapshot, LocalState())

    assert {m.group_name for m in plan.add_members} == {"team", "dept", "company"}


def test_groups_of_the_same_name_are_skipped() -> None:
    snapshot = DirectorySnapshot(
        users=(), groups=(group("sales", gid="g1"), group("sales", gid="g2"))
    )

    plan = plan_sync(snapshot, LocalState())

    assert plan.create_groups == ()
    assert "several groups named 'sales'" in plan.warnings[0]


async def test_groups_that_swap_names_are_renamed_in_one_sync(db: Database, site: Site) -> None:
    await Group.create(name="red", source="directory", external_id="g1")
    await Group.create(name="blue", source="directory", external_id="g2")
    snapshot = DirectorySnapshot(users=(), groups=(group("blue", gid="g1"), group("red", gid="g2")))
    plan = plan_sync(snapshot, await load_local_state(), allow_empty=True)

    await apply_plan(plan, site, {})

    names = dict(await Group.all().values_list("external_id", "name"))
    assert names == {"g1": "blue", "g2": "red"}


async def test_local_state_reads_the_link_from_the_account_columns(
    db: Database, site: Site
) -> None:
    await make_user(site, "bob")
    ada = await make_user(site, "ada")
    await Account.filter(id=ada.id).update(
        directory_id="id-ada", directory_left=True, password_hash=None
    )

    local = await load_local_state()

    links = {a.username: a.link for a in local.accounts}
    assert links == {"ada": AccountLink("id-ada", left=True), "bob": None}


async def test_created_account_holds_a_stable_id_as_long_as_the_column_and_no_password(
    db: Database, site: Site
) -> None:
    external_id = "x" * MAX_EXTERNAL_ID_LENGTH
    user = DirectoryUser("uid=ada,ou=people", external_id, "ada")
    plan = plan_sync(DirectorySnapshot(users=(user,), groups=None), await load_local_state())

    await apply_plan(plan, site, {"ada": reused_key_pair()})

    ada = await Account.get(username="ada")
    assert (ada.directory_id, ada.directory_left, ada.password_hash) == (external_id, False, None)


async def test_email_addresses_can_move_between_accounts_in_one_sync(
    db: Database, site: Site
) -> None:
    for name, email in (("ann", "a@example.com"), ("ben", "b@example.com")):
        account = await make_user(site, name, email=email)
        await Account.filter(id=account.id).update(directory_id=f"id-{name}", password_hash=None)
    snapshot = DirectorySnapshot(
        users=(person("ann", email="b@example.com"), person("ben", email="a@example.com")),
        groups=None,
    )
    plan = plan_sync(snapshot, await load_local_state())

    await apply_plan(plan, site, {})

    emails = dict(await Account.filter(domain="").values_list("username", "email"))
    assert emails == {"ann": "b@example.com", "ben": "a@example.com"}


async def test_a_group_can_replace_a_deleted_one_of_the_same_name(db: Database, site: Site) -> None:
    old = await Group.create(name="ops", source="directory", external_id="old")
    snapshot = DirectorySnapshot(
        users=(person("ada"),), groups=(group("ops", "uid=ada,ou=people", gid="new"),)
    )
    plan = plan_sync(snapshot, await load_local_state())

    await apply_plan(plan, site, {"ada": reused_key_pair()})

    ops = await Group.get(name="ops")
    assert (ops.external_id, ops.id != old.id) == ("new", True)
    assert await GroupMembership.filter(group_id=ops.id).count() == 1
