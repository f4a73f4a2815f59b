"""One sync: read the directory, plan against the local state, apply; and its record.

The last real sync (from the CLI or the periodic worker) is written to
``DATA_DIR/directory-sync.json`` for admins: when, what changed, warnings, or
the error that stopped it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tortoise.exceptions import IntegrityError

from node.config import Settings
from node.directory.apply import apply_plan, load_local_state
from node.directory.client import DirectoryClient
from node.directory.config import DirectoryConfig
from node.directory.errors import SyncConflict
from node.directory.plan import SyncPlan, plan_sync
from node.errors import FedwallError
from node.keys import generate_key_pair
from node.site import Site

STATUS_FILE = "directory-sync.json"
# The status keeps this many change lines; the counts cover all of them.
MAX_STATUS_LINES = 200

# (phase, done, total or None): what a progress bar needs.
Progress = Callable[[str, int, int | None], None]
# Makes (private PEM, public PEM) of a new account's signing key.
KeyMaker = Callable[[], tuple[str, str]]


@dataclass(frozen=True)
class SyncResult:
    plan: SyncPlan
    applied: bool
    started_at: dt.datetime
    finished_at: dt.datetime


@dataclass(frozen=True)
class SyncStatus:
    """The outcome of the last real sync, as admins see it."""

    finished_at: str
    trigger: str
    ok: bool
    summary: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


async def _key_pairs(
    usernames: list[str], make_key_pair: KeyMaker, progress: Progress | None
) -> dict[str, tuple[str, str]]:
    """A signing key per new account, made in threads (RSA generation releases the GIL)."""
    limit = asyncio.Semaphore(os.cpu_count() or 1)
    done = 0

    async def make(username: str) -> tuple[str, tuple[str, str]]:
        nonlocal done
        async with limit:
            pair = await asyncio.to_thread(make_key_pair)
        done += 1
        if progress is not None:
            progress("making keys", done, len(usernames))
        return username, pair

    return dict(await asyncio.gather(*(make(username) for username in usernames)))


async def sync_directory(
    settings: Settings,
    site: Site,
    *,
    dry_run: bool = False,
    allow_empty: bool = False,
    adopt_local: bool = False,
    progress: Progress | None = None,
    make_key_pair: KeyMaker = generate_key_pair,
) -> SyncResult:
    """Read the whole directory, plan, and (unless ``dry_run``) apply in one transaction.

    Raises DirectoryError (and changes nothing) when the directory cannot be read
    completely, UnsafeSyncError when its answer is empty, SyncConflict when the
    local data changed underneath.
    """
    started = dt.datetime.now(dt.UTC)
    client = DirectoryClient(DirectoryConfig.from_settings(settings))

    def read_progress(what: str, count: int) -> None:
        if progress is not None:
            progress(f"reading {what}", count, None)

    snapshot = await asyncio.to_thread(client.read_snapshot, read_progress)
    plan = plan_sync(
        snapshot, await load_local_state(), allow_empty=allow_empty, adopt_local=adopt_local
    )
    if dry_run or plan.is_empty:
        return SyncResult(plan, False, started, dt.datetime.now(dt.UTC))
    keys = await _key_pairs([c.username for c in plan.create_accounts], make_key_pair, progress)
    try:
        await apply_plan(plan, site, keys, progress)
    except IntegrityError as exc:
        raise SyncConflict(
            f"local accounts or groups changed during the sync ({exc}); "
            "nothing was changed, run it again"
        ) from None
    return SyncResult(plan, True, started, dt.datetime.now(dt.UTC))


async def run_recorded_sync(
    settings: Settings,
    site: Site,
    *,
    trigger: str,
    allow_empty: bool = False,
    adopt_local: bool = False,
    progress: Progress | None = None,
    make_key_pair: KeyMaker = generate_key_pair,
) -> SyncResult:
    """A real sync whose outcome, success or error, is written for admins (then re-raised)."""
    try:
        result = await sync_directory(
            settings,
            site,
            allow_empty=allow_empty,
            adopt_local=adopt_local,
            progress=progress,
            make_key_pair=make_key_pair,
        )
    except FedwallError as exc:
        write_status(settings.data_dir, SyncStatus(_now(), trigger, ok=False, error=exc.message))
        raise
    plan = result.plan
    status = SyncStatus(
        _now(),
        trigger,
        ok=True,
        summary=plan.summary(),
        counts=plan.counts(),
        changes=[change.describe() for change in plan.changes()][:MAX_STATUS_LINES],
        warnings=list(plan.warnings[:MAX_STATUS_LINES]),
    )
    write_status(settings.data_dir, status)
    return result


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_status(data_dir: Path, status: SyncStatus) -> None:
    """Replace the status file atomically (readers never see half a file)."""
    path = data_dir / STATUS_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(status), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_status(data_dir: Path) -> SyncStatus | None:
    """The last recorded sync, or None when there was none (or the file is unreadable)."""
    try:
        data = json.loads((data_dir / STATUS_FILE).read_text(encoding="utf-8"))
        return SyncStatus(**data)
    except (OSError, ValueError, TypeError):
        return None
