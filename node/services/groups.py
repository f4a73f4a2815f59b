"""Local groups that policy rules name: create them, add and remove members, list them.

Groups synced from the directory (``source = "directory"``) are read-only here:
the next sync would undo a local change, so their members change in the directory.
Every change is written to the audit log, since it changes what group rules decide.
The group names of accounts, as rules see them, come from
:func:`node.services.policy.groups_of`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from node.errors import NotFound, ValidationError
from node.models import Account, Group, GroupMembership
from node.policy import ContentRule, GroupRule, PolicySnapshot
from node.services import audit
from node.services.accounts import get_local
from node.translatable import translatable

GROUP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_DESCRIPTION = 1000
LOCAL_SOURCE = "local"


@dataclass(frozen=True)
class GroupSummary:
    name: str
    description: str
    source: str
    member_count: int


@dataclass(frozen=True)
class MembershipChange:
    """Who a change concerned: ``changed`` members were added (or removed); ``unchanged``
    already were (or were not) members."""

    group: str
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


def check_name(name: str) -> str:
    if not GROUP_NAME_RE.match(name):
        raise ValidationError(
            translatable(
                "invalid group name {name!r}: use up to 100 letters, digits, '.', '-' or '_', "
                "starting with a letter or digit"
            ),
            name=name,
        )
    return name


async def get_group(name: str) -> Group:
    group = await Group.get_or_none(name=name)
    if group is None:
        raise NotFound(translatable("no group named {name!r}"), name=name)
    return group


async def create_group(name: str, *, description: str = "", actor: str) -> Group:
    """Create a local group. Raises ValidationError (bad or taken name) and changes nothing."""
    check_name(name)
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(
            translatable("description too long: at most {limit} characters"), limit=MAX_DESCRIPTION
        )
    if await Group.filter(name=name).exists():
        raise ValidationError(translatable("group {name!r} already exists"), name=name)
    try:
        async with in_transaction():
            group = await Group.create(name=name, description=description, source=LOCAL_SOURCE)
            await audit.append("group.created", actor=actor, details={"group": name})
    except IntegrityError:
        raise ValidationError(translatable("group {name!r} already exists"), name=name) from None
    return group


async def _local_group(name: str) -> Group:
    group = await get_group(name)
    if group.source != LOCAL_SOURCE:
        raise ValidationError(
            translatable("group {name!r} is synced from the directory: change its members there"),
            name=name,
        )
    return group


async def _accounts(usernames: Sequence[str]) -> list[Account]:
    if not usernames:
        raise ValidationError(translatable("name at least one user"))
    found: dict[int, Account] = {}
    for username in usernames:
        account = await get_local(username)
        found.setdefault(account.id, account)
    return list(found.values())


async def add_members(name: str, usernames: Sequence[str], *, actor: str) -> MembershipChange:
    """Add local users to a local group (users already in it are left as they are)."""
    group = await _local_group(name)
    accounts = await _accounts(usernames)
    async with in_transaction():
        present = set(
            await GroupMembership.filter(
                group_id=group.id, account_id__in=[a.id for a in accounts]
            ).values_list("account_id", flat=True)
        )
        added = [a for a in accounts if a.id not in present]
        await GroupMembership.bulk_create(
            [GroupMembership(group_id=group.id, account_id=a.id) for a in added],
            ignore_conflicts=True,
        )
        if added:
            await audit.append(
                "group.members_added",
                actor=actor,
                details={"group": name, "members": [a.username for a in added]},
            )
    return MembershipChange(
        name,
        tuple(a.username for a in added),
        tuple(a.username for a in accounts if a.id in present),
    )


async def remove_members(name: str, usernames: Sequence[str], *, actor: str) -> MembershipChange:
    """Remove local users from a local group (users not in it are left as they are)."""
    group = await _local_group(name)
    accounts = await _accounts(usernames)
    async with in_transaction():
        present = set(
            await GroupMembership.filter(
                group_id=group.id, account_id__in=[a.id for a in accounts]
            ).values_list("account_id", flat=True)
        )
        removed = [a for a in accounts if a.id in present]
        if removed:
            await GroupMembership.filter(
                group_id=group.id, account_id__in=[a.id for a in removed]
            ).delete()
            await audit.append(
                "group.members_removed",
                actor=actor,
                details={"group": name, "members": [a.username for a in removed]},
            )
    return MembershipChange(
        name,
        tuple(a.username for a in removed),
        tuple(a.username for a in accounts if a.id not in present),
    )


async def list_groups() -> list[GroupSummary]:
    """Every group, local and synced, by name, with its member count."""
    rows = (
        await Group.all()
        .annotate(member_count=Count("memberships"))
        .order_by("name")
        .values("name", "description", "source", "member_count")
    )
    return [
        GroupSummary(r["name"], r["description"], r["source"], int(r["member_count"])) for r in rows
    ]


async def members(name: str) -> list[Account]:
    """The group's members, by username."""
    group = await get_group(name)
    rows = (
        await GroupMembership.filter(group_id=group.id)
        .prefetch_related("account")
        .order_by("account__username")
    )
    return [row.account for row in rows]


def groups_named(snapshot: PolicySnapshot) -> dict[str, list[str]]:
    """Each group name the policy's rules use, with the rule ids that use it."""
    used: dict[str, list[str]] = {}
    rules: list[ContentRule | GroupRule] = [*snapshot.content_rules, *snapshot.group_rules]
    for rule in rules:
        for name in sorted(rule.scope.author_groups | rule.scope.recipient_groups):
            used.setdefault(name, []).append(rule.id)
    return used


async def missing_groups(snapshot: PolicySnapshot) -> dict[str, list[str]]:
    """Groups the policy names that do not exist on this node (yet), with the rules naming them.

    Not an error: a rule may name a group before it is created or synced. But a
    misspelt group silently makes a ``deny`` rule apply to nobody, so ``policy check``
    warns about it.
    """
    used = groups_named(snapshot)
    existing: Iterable[str] = await Group.filter(name__in=list(used)).values_list("name", flat=True)  # type: ignore[assignment]
    known = set(existing)
    return {name: rules for name, rules in used.items() if name not in known}
