"""What one complete read of the directory returned, as plain data.

The client fills these in; the planner reads them. DNs are normalised (lower
case, no spaces around separators) so that references compare as strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.directory.config import Membership


@dataclass(frozen=True)
class DirectoryUser:
    """A person entry."""

    dn: str
    external_id: str
    # The raw value of the username attribute ("" when the entry has none).
    username: str
    display_name: str = ""
    email: str = ""
    title: str = ""
    department: str = ""
    phone: str = ""
    manager_dn: str = ""
    # Groups the entry is a direct member of (``memberOf`` membership only).
    member_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class DirectoryGroup:
    """A group entry; which member list is filled depends on the membership attribute."""

    dn: str
    external_id: str
    name: str
    description: str = ""
    # ``member``: DNs of people and (nested) groups.
    members: tuple[str, ...] = ()
    # ``memberUid``: usernames.
    member_uids: tuple[str, ...] = ()
    # ``memberOf``: groups this group is a member of (for nesting).
    member_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class DirectorySnapshot:
    """Every person and group the filters selected, read completely."""

    users: tuple[DirectoryUser, ...]
    # None when group sync is not configured: local groups are then left alone.
    groups: tuple[DirectoryGroup, ...] | None
    membership: Membership = "member"
    nested_groups: bool = False
