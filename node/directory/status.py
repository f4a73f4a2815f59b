"""What ``fedwall directory status`` shows: settings (never the password), counts, last sync."""

from __future__ import annotations

from node.config import DIRECTORY_PASSWORD_ENV, Settings
from node.directory.apply import load_local_state
from node.directory.plan import GROUP_SOURCE
from node.directory.sync import read_status


async def describe_status(settings: Settings) -> list[str]:
    """Lines for admins; needs the node's database to be open."""
    s = settings
    if not s.directory_url:
        return ["directory: not configured (set directory_url; see the README)"]
    if s.directory_password_file:
        credential_origin = f"from {s.directory_password_file}"
    elif s.directory_password:
        credential_origin = f"from {DIRECTORY_PASSWORD_ENV}"
    else:
        credential_origin = "none (anonymous bind)"
    nested = ", nested" if s.directory_nested_groups else ""
    lines = [
        f"directory:      {s.directory_url}" + (" (StartTLS)" if s.directory_starttls else ""),
        f"bind DN:        {s.directory_bind_dn or '(anonymous)'}; password {credential_origin}",
        f"people:         {s.directory_user_base} {s.directory_user_filter}; "
        f"username {s.directory_username_attribute}, id {s.directory_id_attribute}",
        "groups:         "
        + (
            f"{s.directory_group_base} {s.directory_group_filter}; "
            f"membership {s.directory_membership}{nested}"
            if s.directory_group_base
            else "not synced (directory_group_base is empty)"
        ),
        f"sign-in:        auth_source = {s.auth_source}",
        "periodic sync:  "
        + (
            f"every {s.directory_sync_interval} s"
            if s.directory_sync_interval
            else "off (directory_sync_interval = 0)"
        ),
    ]
    local = await load_local_state()
    linked = [a for a in local.accounts if a.link is not None]
    left = sum(1 for a in linked if a.link is not None and a.link.left)
    synced_groups = sum(1 for g in local.groups if g.source == GROUP_SOURCE)
    lines += [
        f"accounts:       {len(linked)} from the directory ({left} disabled: left it), "
        f"{len(local.accounts) - len(linked)} local",
        f"groups:         {synced_groups} from the directory, "
        f"{len(local.groups) - synced_groups} local",
    ]
    status = read_status(s.data_dir)
    if status is None:
        lines.append("last sync:      never")
        return lines
    outcome = status.summary if status.ok else f"FAILED, nothing was changed: {status.error}"
    lines.append(f"last sync:      {status.finished_at} ({status.trigger}): {outcome}")
    lines += [f"  warning: {warning}" for warning in status.warnings]
    return lines
