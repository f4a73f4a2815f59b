"""The sync planner: (directory snapshot, local state) → the changes that make them agree.

Pure: no database, no network, no clock. The same plan is printed by
``--dry-run`` and applied by :mod:`node.directory.apply`.

Rules, in the order they are decided:

* A person is matched to an account by the entry's stable id (the account's
  link), then by username. An account that is not linked is never taken over
  unless ``adopt_local`` is set. A username is never handed to a different
  entry than the one it was created for (a re-used username would inherit the
  old owner's posts and messages).
* An account whose entry is no longer in the directory is disabled, never
  deleted; when the entry comes back, the account is enabled again — but an
  account that an admin disabled stays disabled.
* Groups are matched by stable id, so a renamed or moved group keeps its row
  (and the policy rules that name it see the new name). A group gone from the
  directory is deleted with its memberships; local groups are never touched.
* An empty directory answer when directory accounts or groups exist is refused
  (:class:`UnsafeSyncError`) unless ``allow_empty`` is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from node.directory.errors import UnsafeSyncError
from node.directory.link import MAX_EXTERNAL_ID_LENGTH, AccountLink
from node.directory.snapshot import DirectoryGroup, DirectorySnapshot, DirectoryUser
from node.services.accounts import EMAIL_RE, MAX_DISPLAY_NAME, USERNAME_RE

# The profile fields the directory owns, in the order they are shown. Fields with
# other names belong to the person and are kept.
TITLE, DEPARTMENT, PHONE, MANAGER = "Title", "Department", "Phone", "Manager"
MANAGED_FIELDS = (TITLE, DEPARTMENT, PHONE, MANAGER)
MAX_FIELD_VALUE = 500
MAX_GROUP_NAME = 100
GROUP_SOURCE = "directory"

ProfileFields = tuple[tuple[str, str], ...]


# ---------------------------------------------------------------- local state


@dataclass(frozen=True)
class LocalAccount:
    """A local person account as the planner sees it."""

    id: int
    username: str
    email: str | None = None
    display_name: str = ""
    profile_fields: ProfileFields = ()
    disabled: bool = False
    link: AccountLink | None = None


@dataclass(frozen=True)
class LocalGroup:
    id: int
    name: str
    source: str = "local"
    external_id: str | None = None
    description: str = ""
    member_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class LocalState:
    accounts: tuple[LocalAccount, ...] = ()
    groups: tuple[LocalGroup, ...] = ()


# ---------------------------------------------------------------- changes


@dataclass(frozen=True)
class AccountValues:
    """What the directory says about a person."""

    display_name: str
    email: str | None
    profile_fields: ProfileFields


@dataclass(frozen=True)
class CreateAccount:
    username: str
    external_id: str
    values: AccountValues

    def describe(self) -> str:
        extra = f", {self.values.email}" if self.values.email else ""
        return f"create account {self.username} ({self.values.display_name}{extra})"


@dataclass(frozen=True)
class UpdateAccount:
    account_id: int
    username: str
    values: AccountValues
    # Human-readable "what changed", e.g. ("Title", "'Analyst' → 'Chief Analyst'").
    changes: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        what = "; ".join(f"{name} {change}" for name, change in self.changes)
        return f"update account {self.username}: {what}"


@dataclass(frozen=True)
class LinkAccount:
    """Adopt an existing local account: from now on the directory manages it."""

    account_id: int
    username: str
    external_id: str
    dn: str

    def describe(self) -> str:
        return (
            f"link account {self.username} to {self.dn} "
            "(its local password stops working; it signs in with the directory's)"
        )


@dataclass(frozen=True)
class DisableAccount:
    account_id: int
    username: str
    external_id: str

    def describe(self) -> str:
        return f"disable account {self.username}: left the directory (its content is kept)"


@dataclass(frozen=True)
class EnableAccount:
    account_id: int
    username: str
    external_id: str
    # False when an admin re-enabled it already: only the link is updated.
    was_disabled: bool = True

    def describe(self) -> str:
        if self.was_disabled:
            return f"enable account {self.username}: back in the directory"
        return f"relink account {self.username}: back in the directory"


@dataclass(frozen=True)
class CreateGroup:
    external_id: str
    name: str
    description: str

    def describe(self) -> str:
        return f"create group {self.name}"


@dataclass(frozen=True)
class RenameGroup:
    group_id: int
    external_id: str
    old_name: str
    new_name: str

    def describe(self) -> str:
        return (
            f"rename group {self.old_name} → {self.new_name} "
            f"(same group; policy rules naming {self.old_name!r} must now name {self.new_name!r})"
        )


@dataclass(frozen=True)
class DescribeGroup:
    group_id: int
    name: str
    description: str

    def describe(self) -> str:
        return f"update group {self.name}: description {self.description!r}"


@dataclass(frozen=True)
class DeleteGroup:
    group_id: int
    name: str
    member_count: int

    def describe(self) -> str:
        return (
            f"delete group {self.name}: gone from the directory "
            f"({self.member_count} member{'' if self.member_count == 1 else 's'})"
        )


@dataclass(frozen=True)
class AddMember:
    # The group by stable id and the account by username: either may be created
    # by this very plan, so neither has a row id yet.
    group_external_id: str
    group_name: str
    username: str

    def describe(self) -> str:
        return f"add {self.username} to {self.group_name}"


@dataclass(frozen=True)
class RemoveMember:
    group_id: int
    group_name: str
    account_id: int
    username: str

    def describe(self) -> str:
        return f"remove {self.username} from {self.group_name}"


Change = (
    CreateAccount
    | LinkAccount
    | UpdateAccount
    | EnableAccount
    | DisableAccount
    | DeleteGroup
    | CreateGroup
    | RenameGroup
    | DescribeGroup
    | RemoveMember
    | AddMember
)


@dataclass(frozen=True)
class SyncPlan:
    """Everything a sync would change, and what it skipped (``warnings``)."""

    create_accounts: tuple[CreateAccount, ...] = ()
    link_accounts: tuple[LinkAccount, ...] = ()
    update_accounts: tuple[UpdateAccount, ...] = ()
    enable_accounts: tuple[EnableAccount, ...] = ()
    disable_accounts: tuple[DisableAccount, ...] = ()
    create_groups: tuple[CreateGroup, ...] = ()
    rename_groups: tuple[RenameGroup, ...] = ()
    describe_groups: tuple[DescribeGroup, ...] = ()
    delete_groups: tuple[DeleteGroup, ...] = ()
    add_members: tuple[AddMember, ...] = ()
    remove_members: tuple[RemoveMember, ...] = ()
    warnings: tuple[str, ...] = ()
    users_seen: int = 0
    groups_seen: int | None = None

    def changes(self) -> list[Change]:
        """Every change, in the order they are applied."""
        return [
            *self.create_accounts,
            *self.link_accounts,
            *self.update_accounts,
            *self.enable_accounts,
            *self.disable_accounts,
            *self.delete_groups,
            *self.create_groups,
            *self.rename_groups,
            *self.describe_groups,
            *self.remove_members,
            *self.add_members,
        ]

    @property
    def is_empty(self) -> bool:
        return not self.changes()

    def lines(self) -> list[str]:
        """One line per change, then one per warning."""
        out = [change.describe() for change in self.changes()]
        out += [f"warning: {warning}" for warning in self.warnings]
        return out

    def counts(self) -> dict[str, int]:
        return {
            "accounts_created": len(self.create_accounts),
            "accounts_linked": len(self.link_accounts),
            "accounts_updated": len(self.update_accounts),
            "accounts_enabled": sum(e.was_disabled for e in self.enable_accounts),
            "accounts_disabled": len(self.disable_accounts),
            "groups_created": len(self.create_groups),
            "groups_renamed": len(self.rename_groups),
            "groups_updated": len(self.describe_groups),
            "groups_deleted": len(self.delete_groups),
            "memberships_added": len(self.add_members),
            "memberships_removed": len(self.remove_members),
            "warnings": len(self.warnings),
        }

    def summary(self) -> str:
        c = self.counts()
        groups = "" if self.groups_seen is None else f", {self.groups_seen} groups"
        return (
            f"read {self.users_seen} people{groups}; "
            f"accounts: {c['accounts_created']} created, {c['accounts_updated']} updated, "
            f"{c['accounts_linked']} linked, {c['accounts_enabled']} enabled, "
            f"{c['accounts_disabled']} disabled; "
            f"groups: {c['groups_created']} created, {c['groups_renamed']} renamed, "
            f"{c['groups_updated']} updated, {c['groups_deleted']} deleted; "
            f"memberships: {c['memberships_added']} added, {c['memberships_removed']} removed; "
            f"{c['warnings']} warning{'' if c['warnings'] == 1 else 's'}"
        )


# ---------------------------------------------------------------- mapping


def local_username(raw: str) -> str | None:
    """The account name for a directory username: lower case, ``.`` and ``-`` as ``_``."""
    name = raw.strip().lower().replace(".", "_").replace("-", "_")
    return name if USERNAME_RE.match(name) else None


def _profile_fields(
    user: DirectoryUser, manager_username: str | None, kept: Iterable[tuple[str, str]]
) -> ProfileFields:
    managed = {
        TITLE: user.title,
        DEPARTMENT: user.department,
        PHONE: user.phone,
        MANAGER: manager_username or "",
    }
    fields = [(name, value.strip()[:MAX_FIELD_VALUE]) for name, value in managed.items()]
    own = [(name, value) for name, value in kept if name not in MANAGED_FIELDS]
    return tuple((name, value) for name, value in fields if value) + tuple(own)


def _differences(account: LocalAccount, values: AccountValues) -> tuple[tuple[str, str], ...]:
    changes: list[tuple[str, str]] = []
    if account.display_name != values.display_name:
        changes.append(("display name", f"{account.display_name!r} → {values.display_name!r}"))
    if account.email != values.email:
        changes.append(("e-mail", f"{account.email!r} → {values.email!r}"))
    old, new = dict(account.profile_fields), dict(values.profile_fields)
    for name in MANAGED_FIELDS:
        if old.get(name) != new.get(name):
            changes.append((name, f"{old.get(name)!r} → {new.get(name)!r}"))
    if not changes and account.profile_fields != values.profile_fields:
        changes.append(("profile fields", "in the directory's order"))
    return tuple(changes)


# ---------------------------------------------------------------- membership


def _members_by_group(snapshot: DirectorySnapshot) -> dict[str, set[str]]:
    """Stable ids of the people in each group (by group stable id), nesting resolved."""
    groups = snapshot.groups or ()
    group_by_dn = {g.dn: g for g in groups}
    user_by_dn = {u.dn: u for u in snapshot.users}
    user_by_uid = {u.username.strip().lower(): u for u in snapshot.users if u.username}
    direct: dict[str, set[str]] = {g.external_id: set() for g in groups}
    # child group id -> parent group ids
    parents: dict[str, set[str]] = {g.external_id: set() for g in groups}

    if snapshot.membership == "member":
        for group in groups:
            for dn in group.members:
                if dn in user_by_dn:
                    direct[group.external_id].add(user_by_dn[dn].external_id)
                elif dn in group_by_dn:
                    parents[group_by_dn[dn].external_id].add(group.external_id)
    elif snapshot.membership == "memberUid":
        for group in groups:
            for uid in group.member_uids:
                user = user_by_uid.get(uid.strip().lower())
                if user is not None:
                    direct[group.external_id].add(user.external_id)
    else:  # memberOf: people (and groups) say which groups they are in
        for user in snapshot.users:
            for dn in user.member_of:
                if dn in group_by_dn:
                    direct[group_by_dn[dn].external_id].add(user.external_id)
        for group in groups:
            for dn in group.member_of:
                if dn in group_by_dn:
                    parents[group.external_id].add(group_by_dn[dn].external_id)

    if not snapshot.nested_groups:
        return direct
    effective: dict[str, set[str]] = {gid: set(members) for gid, members in direct.items()}
    for gid, members in direct.items():
        # Everyone directly in a group is also in all its ancestors (cycles end the walk).
        seen = {gid}
        stack = list(parents[gid])
        while stack:
            ancestor = stack.pop()
            if ancestor in seen:
                continue
            seen.add(ancestor)
            effective[ancestor] |= members
            stack.extend(parents[ancestor])
    return effective


# ---------------------------------------------------------------- the planner


@dataclass
class _Changes:
    """The plan being built."""

    create_accounts: list[CreateAccount] = field(default_factory=list)
    link_accounts: list[LinkAccount] = field(default_factory=list)
    update_accounts: list[UpdateAccount] = field(default_factory=list)
    enable_accounts: list[EnableAccount] = field(default_factory=list)
    disable_accounts: list[DisableAccount] = field(default_factory=list)
    create_groups: list[CreateGroup] = field(default_factory=list)
    rename_groups: list[RenameGroup] = field(default_factory=list)
    describe_groups: list[DescribeGroup] = field(default_factory=list)
    delete_groups: list[DeleteGroup] = field(default_factory=list)
    add_members: list[AddMember] = field(default_factory=list)
    remove_members: list[RemoveMember] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _valid_users(
    users: Iterable[DirectoryUser], warnings: list[str]
) -> dict[str, tuple[DirectoryUser, str]]:
    """Users that map to an account name, by stable id, with that name."""
    by_name: dict[str, list[DirectoryUser]] = {}
    for user in users:
        name = local_username(user.username)
        if name is None:
            warnings.append(
                f"{user.dn}: username {user.username!r} cannot be an account name "
                "(1 to 30 letters, digits, _ . -); skipped"
            )
            continue
        if len(user.external_id) > MAX_EXTERNAL_ID_LENGTH:
            warnings.append(f"{user.dn}: stable id longer than {MAX_EXTERNAL_ID_LENGTH}; skipped")
            continue
        by_name.setdefault(name, []).append(user)
    valid: dict[str, tuple[DirectoryUser, str]] = {}
    for name, same in sorted(by_name.items()):
        if len(same) > 1:
            warnings.append(
                f"{', '.join(u.dn for u in same)}: all map to the account name {name!r}; skipped"
            )
            continue
        valid[same[0].external_id] = (same[0], name)
    return valid


def _valid_groups(groups: Iterable[DirectoryGroup], warnings: list[str]) -> list[DirectoryGroup]:
    by_name: dict[str, list[DirectoryGroup]] = {}
    for group in groups:
        name = group.name.strip()
        if not name or len(name) > MAX_GROUP_NAME:
            warnings.append(
                f"{group.dn}: group name {group.name!r} is empty or longer than "
                f"{MAX_GROUP_NAME} characters; skipped"
            )
            continue
        by_name.setdefault(name, []).append(group)
    valid: list[DirectoryGroup] = []
    for name, same in sorted(by_name.items()):
        if len(same) > 1:
            warnings.append(
                f"{', '.join(g.dn for g in same)}: several groups named {name!r}; skipped"
            )
            continue
        valid.append(same[0])
    return valid


def plan_sync(
    snapshot: DirectorySnapshot,
    local: LocalState,
    *,
    allow_empty: bool = False,
    adopt_local: bool = False,
) -> SyncPlan:
    """The changes that bring the local accounts and groups in line with ``snapshot``.

    Raises :class:`UnsafeSyncError` when the directory returned no people (or no
    groups) while directory accounts (or groups) exist, unless ``allow_empty``.
    """
    linked_active = [a for a in local.accounts if a.link and not a.link.left and not a.disabled]
    if not snapshot.users and linked_active and not allow_empty:
        raise UnsafeSyncError(
            f"the directory returned no people, which would disable all {len(linked_active)} "
            "directory accounts; nothing was changed. Check directory_user_base and "
            "directory_user_filter, or pass --allow-empty if everyone really left"
        )
    directory_groups = [g for g in local.groups if g.source == GROUP_SOURCE]
    if snapshot.groups is not None and not snapshot.groups and directory_groups and not allow_empty:
        raise UnsafeSyncError(
            f"the directory returned no groups, which would delete all {len(directory_groups)} "
            "directory groups; nothing was changed. Check directory_group_base and "
            "directory_group_filter, or pass --allow-empty if they really are gone"
        )

    out = _Changes()
    warnings = out.warnings
    present_ids = {u.external_id for u in snapshot.users}
    valid = _valid_users(snapshot.users, warnings)
    accounts_by_link = {a.link.external_id: a for a in local.accounts if a.link}
    accounts_by_name = {a.username: a for a in local.accounts}

    # The account name each matched entry ends up with, and its existing account (if any).
    final_name: dict[str, str] = {}
    touched: dict[str, LocalAccount | None] = {}  # external id -> existing account or None
    for external_id, (user, name) in sorted(valid.items(), key=lambda item: item[1][1]):
        account = accounts_by_link.get(external_id)
        if account is None:
            holder = accounts_by_name.get(name)
            if holder is not None and holder.link is not None:
                if holder.link.external_id in present_ids:
                    warnings.append(
                        f"{user.dn}: the account name {name!r} belongs to another directory "
                        "entry's account; skipped"
                    )
                else:
                    warnings.append(
                        f"{user.dn}: the account name {name!r} belonged to a person who left the "
                        "directory; it is not given to someone else (their posts and messages "
                        "stay theirs); skipped"
                    )
                continue
            if holder is not None and not adopt_local:
                warnings.append(
                    f"{user.dn}: a local account {name!r} exists that the directory does not "
                    "manage; skipped (rename one of them, or pass --adopt-local to link it)"
                )
                continue
            if holder is not None:
                out.link_accounts.append(
                    LinkAccount(holder.id, holder.username, external_id, user.dn)
                )
                account = holder
        elif account.username != name:
            warnings.append(
                f"{user.dn}: the directory now names {account.username!r} {name!r}; "
                f"the account keeps the name {account.username!r} (handles cannot change)"
            )
        final_name[external_id] = account.username if account is not None else name
        touched[external_id] = account

    # E-mail addresses are unique among accounts: a directory address already used
    # by an account this sync does not manage (or by two entries) is left out.
    emails: dict[str, str | None] = {}
    wanted_by: dict[str, list[str]] = {}
    for external_id in final_name:
        user, _ = valid[external_id]
        email = user.email.strip().lower() or None
        if email is not None and not EMAIL_RE.match(email):
            warnings.append(f"{user.dn}: {user.email!r} is not an e-mail address; not synced")
            email = None
        emails[external_id] = email
        if email is not None:
            wanted_by.setdefault(email, []).append(external_id)
    managed_ids = {a.id for a in touched.values() if a is not None}
    held_elsewhere = {a.email for a in local.accounts if a.email and a.id not in managed_ids}
    for email, owners in wanted_by.items():
        if len(owners) > 1 or email in held_elsewhere:
            for external_id in owners:
                emails[external_id] = None
            warnings.append(
                f"{email} is used by another account or by several directory entries; "
                "not set on " + ", ".join(sorted(final_name[o] for o in owners))
            )

    name_of_dn = {valid[external_id][0].dn: name for external_id, name in final_name.items()}
    for external_id, account in touched.items():
        user, _ = valid[external_id]
        manager = name_of_dn.get(user.manager_dn) if user.manager_dn else None
        values = AccountValues(
            display_name=(user.display_name.strip() or final_name[external_id])[:MAX_DISPLAY_NAME],
            email=emails[external_id],
            profile_fields=_profile_fields(
                user, manager, account.profile_fields if account is not None else ()
            ),
        )
        if account is None:
            out.create_accounts.append(CreateAccount(final_name[external_id], external_id, values))
            continue
        changes = _differences(account, values)
        if changes:
            out.update_accounts.append(UpdateAccount(account.id, account.username, values, changes))
        if account.link is not None and account.link.left:
            out.enable_accounts.append(
                EnableAccount(account.id, account.username, external_id, account.disabled)
            )

    for account in local.accounts:
        if account.link is None or account.link.external_id in present_ids:
            continue
        # Gone from the directory. An admin-disabled account is left as it is, so
        # that its coming back does not enable it.
        if not account.disabled:
            out.disable_accounts.append(
                DisableAccount(account.id, account.username, account.link.external_id)
            )

    if snapshot.groups is not None:
        _plan_groups(snapshot, local, final_name, out)

    return SyncPlan(
        create_accounts=tuple(out.create_accounts),
        link_accounts=tuple(out.link_accounts),
        update_accounts=tuple(out.update_accounts),
        enable_accounts=tuple(out.enable_accounts),
        disable_accounts=tuple(out.disable_accounts),
        create_groups=tuple(out.create_groups),
        rename_groups=tuple(out.rename_groups),
        describe_groups=tuple(out.describe_groups),
        delete_groups=tuple(out.delete_groups),
        add_members=tuple(out.add_members),
        remove_members=tuple(out.remove_members),
        warnings=tuple(warnings),
        users_seen=len(snapshot.users),
        groups_seen=None if snapshot.groups is None else len(snapshot.groups),
    )


def _plan_groups(
    snapshot: DirectorySnapshot,
    local: LocalState,
    final_name: Mapping[str, str],
    out: _Changes,
) -> None:
    assert snapshot.groups is not None
    warnings = out.warnings
    present = {g.external_id for g in snapshot.groups}
    rows = {g.external_id: g for g in local.groups if g.source == GROUP_SOURCE and g.external_id}
    valid = _valid_groups(snapshot.groups, warnings)
    valid_ids = {g.external_id for g in valid}
    # Names a directory group cannot take: local groups', and those of directory
    # groups that stay as they are because their entry was skipped.
    taken = {g.name for g in local.groups if g.source != GROUP_SOURCE}
    taken |= {row.name for gid, row in rows.items() if gid in present and gid not in valid_ids}
    account_names = {a.id: a.username for a in local.accounts}

    kept: dict[str, tuple[str, LocalGroup | None]] = {}  # external id -> (name, row)
    for group in valid:
        name = group.name.strip()
        description = group.description.strip()
        row = rows.get(group.external_id)
        if row is None:
            if name in taken:
                warnings.append(
                    f"{group.dn}: a local group named {name!r} exists; the directory group is "
                    "skipped (rename or delete the local group)"
                )
                continue
            out.create_groups.append(CreateGroup(group.external_id, name, description))
            kept[group.external_id] = (name, None)
            continue
        if row.name != name:
            if name in taken:
                warnings.append(
                    f"{group.dn}: cannot rename {row.name!r} to {name!r}, which a local group "
                    f"has; it stays {row.name!r}"
                )
                name = row.name
            else:
                out.rename_groups.append(RenameGroup(row.id, group.external_id, row.name, name))
        if row.description != description:
            out.describe_groups.append(DescribeGroup(row.id, name, description))
        kept[group.external_id] = (name, row)

    for gid, row in sorted(rows.items(), key=lambda item: item[1].name):
        if gid not in present:
            out.delete_groups.append(DeleteGroup(row.id, row.name, len(row.member_ids)))

    members = _members_by_group(snapshot)
    for gid, (name, row) in sorted(kept.items(), key=lambda item: item[1][0]):
        wanted = {final_name[uid] for uid in members.get(gid, ()) if uid in final_name}
        current = {
            account_names.get(account_id, f"#{account_id}"): account_id
            for account_id in (row.member_ids if row is not None else ())
        }
        for username in sorted(wanted - set(current)):
            out.add_members.append(AddMember(gid, name, username))
        for username in sorted(set(current) - wanted):
            assert row is not None
            out.remove_members.append(RemoveMember(row.id, name, current[username], username))
