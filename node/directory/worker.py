"""The periodic sync inside ``fedwall serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from node.config import Settings
from node.directory.sync import KeyMaker, run_recorded_sync
from node.errors import FedwallError
from node.keys import generate_key_pair
from node.runtime import Runtime
from node.site import Site

log = logging.getLogger(__name__)


async def sync_and_log(
    settings: Settings, site: Site, make_key_pair: KeyMaker = generate_key_pair
) -> bool:
    """One recorded sync whose outcome goes to the log; False when it failed (changing nothing)."""
    try:
        result = await run_recorded_sync(
            settings, site, trigger="periodic", make_key_pair=make_key_pair
        )
    except FedwallError as exc:
        log.warning("directory sync failed, nothing was changed: %s", exc.message)
        return False
    log.info("directory sync: %s", result.plan.summary())
    for warning in result.plan.warnings:
        log.warning("directory sync: %s", warning)
    return True


async def sync_periodically(
    settings: Settings,
    site: Site,
    stopping: asyncio.Event,
    make_key_pair: KeyMaker = generate_key_pair,
) -> None:
    """Sync now, then every ``directory_sync_interval`` seconds, until ``stopping`` is set."""
    while not stopping.is_set():
        await sync_and_log(settings, site, make_key_pair)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), settings.directory_sync_interval)


def register(runtime: Runtime) -> None:
    """Add the periodic sync to the node's workers when ``directory_sync_interval`` > 0."""
    settings = runtime.settings
    if not settings.directory_url or settings.directory_sync_interval <= 0:
        return

    async def directory_sync(stopping: asyncio.Event) -> None:
        await sync_periodically(settings, runtime.site, stopping)

    runtime.add_worker("directory-sync", directory_sync)
