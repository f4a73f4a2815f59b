"""The database side of a sync: read the local state, apply a plan in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tortoise.transactions import in_transaction

from node.directory.link import AccountLink
from node.directory.plan import GROUP_SOURCE, LocalAccount, LocalGroup, LocalState, SyncPlan
from node.models import Account, Group, GroupMembership
from node.services.accounts import create_local_account
from node.services.policy import EVERY_NODE, sharing_by_name, stored_profile_field
from node.site import Site

# pg_advisory_xact_lock key: two syncs (CLI and worker, or two workers) never
# apply at the same time. SQLite serialises writers by itself.
_SYNC_LOCK = 0x66_77_6C_64_69_72  # "fwldir"

Progress = Callable[[str, int, int | None], None]


async def load_local_state() -> LocalState:
    """Local person accounts, all groups and their members, as the planner sees them."""
    rows = await Account.filter(domain="", actor_type="Person").values(
        "id",
        "username",
        "email",
        "display_name",
        "profile_fields",
        "disabled",
        "directory_id",
        "directory_left",
    )
    accounts = tuple(
        LocalAccount(
            id=row["id"],
            username=row["username"],
            email=row["email"],
            display_name=row["display_name"],
            profile_fields=tuple(
                (str(f.get("name", "")), str(f.get("value", "")))
                for f in (row["profile_fields"] or [])
            ),
            disabled=row["disabled"],
            link=AccountLink.of(row["directory_id"], row["directory_left"]),
        )
        for row in rows
    )
    members: dict[int, set[int]] = {}
    for group_id, account_id in await GroupMembership.all().values_list("group_id", "account_id"):
        members.setdefault(group_id, set()).add(account_id)
    groups = tuple(
        LocalGroup(
            id=row["id"],
            name=row["name"],
            source=row["source"],
            external_id=row["external_id"],
            description=row["description"],
            member_ids=frozenset(members.get(row["id"], ())),
        )
        for row in await Group.all().values("id", "name", "source", "external_id", "description")
    )
    return LocalState(accounts=accounts, groups=groups)


def _fields(
    pairs: tuple[tuple[str, str], ...], current: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Profile fields from the directory, keeping each person's choice of who sees a field."""
    sharing = sharing_by_name(current or [])
    return [
        stored_profile_field(name, value, sharing.get(name, [EVERY_NODE])) for name, value in pairs
    ]


async def apply_plan(
    plan: SyncPlan,
    site: Site,
    key_pairs: Mapping[str, tuple[str, str]],
    progress: Progress | None = None,
) -> None:
    """Make the changes of ``plan``, all or none.

    ``key_pairs`` holds a fresh signing key per account to create (by username),
    generated beforehand so that the transaction stays short.
    """
    total = len(plan.changes())
    done = 0

    def step(count: int = 1) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress("applying", done, total)

    async with in_transaction() as connection:
        if connection.capabilities.dialect == "postgres":
            await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [_SYNC_LOCK])

        for disable in plan.disable_accounts:
            await Account.filter(id=disable.account_id).update(disabled=True, directory_left=True)
            step()
        for enable in plan.enable_accounts:
            await Account.filter(id=enable.account_id).update(disabled=False, directory_left=False)
            step()
        for link in plan.link_accounts:
            # From now on the account signs in with the directory's password only.
            await Account.filter(id=link.account_id).update(
                directory_id=link.external_id, directory_left=False, password_hash=None
            )
            step()
        # Addresses can move between accounts in one sync: free them all first.
        moving = [
            u.account_id for u in plan.update_accounts if any(n == "e-mail" for n, _ in u.changes)
        ]
        if moving:
            await Account.filter(id__in=moving).update(email=None)
        current_fields = dict(
            await Account.filter(id__in=[u.account_id for u in plan.update_accounts]).values_list(
                "id", "profile_fields"
            )
        )
        for update in plan.update_accounts:
            await Account.filter(id=update.account_id).update(
                display_name=update.values.display_name,
                email=update.values.email,
                profile_fields=_fields(
                    update.values.profile_fields, current_fields.get(update.account_id)
                ),
            )
            step()
        for create in plan.create_accounts:
            account = await create_local_account(
                site,
                create.username,
                None,
                display_name=create.values.display_name,
                email=create.values.email,
                key_pair=key_pairs[create.username],
            )
            await Account.filter(id=account.id).update(
                directory_id=create.external_id,
                profile_fields=_fields(create.values.profile_fields),
            )
            step()

        for delete in plan.delete_groups:
            await Group.filter(id=delete.group_id).delete()
            step()
        # Renames can swap names: move every renamed group out of the way first.
        for rename in plan.rename_groups:
            placeholder = f"(renaming group {rename.group_id})"
            await Group.filter(id=rename.group_id).update(name=placeholder)
        for rename in plan.rename_groups:
            await Group.filter(id=rename.group_id).update(name=rename.new_name)
            step()
        for describe in plan.describe_groups:
            await Group.filter(id=describe.group_id).update(description=describe.description)
            step()
        for create_group in plan.create_groups:
            await Group.create(
                name=create_group.name,
                description=create_group.description,
                source=GROUP_SOURCE,
                external_id=create_group.external_id,
            )
            step()

        for remove in plan.remove_members:
            await GroupMembership.filter(
                group_id=remove.group_id, account_id=remove.account_id
            ).delete()
            step()
        if plan.add_members:
            group_ids = dict(
                await Group.filter(
                    external_id__in={a.group_external_id for a in plan.add_members}
                ).values_list("external_id", "id")
            )
            account_ids = dict(
                await Account.filter(
                    domain="", username__in={a.username for a in plan.add_members}
                ).values_list("username", "id")
            )
            await GroupMembership.bulk_create(
                [
                    GroupMembership(
                        group_id=group_ids[add.group_external_id],
                        account_id=account_ids[add.username],
                    )
                    for add in plan.add_members
                ]
            )
            step(len(plan.add_members))
