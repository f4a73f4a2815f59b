"""One running node: settings, database, site identity, and its background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from node.config import KEYS_DIR, Settings
from node.db import Database
from node.site import Site

log = logging.getLogger(__name__)

NODE_KEY_FILE = "node.pem"
NODE_PUBLIC_KEY_FILE = "node.pub.pem"

Worker = Callable[[asyncio.Event], Awaitable[None]]


def node_key_paths(data_dir: Path) -> tuple[Path, Path]:
    return data_dir / KEYS_DIR / NODE_KEY_FILE, data_dir / KEYS_DIR / NODE_PUBLIC_KEY_FILE


class Runtime:
    """Everything one node holds while it runs. Never shared between nodes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.site = Site(
            domain=settings.domain,
            scheme=settings.scheme,
            max_post_length=settings.max_post_length,
        )
        self._workers: list[tuple[str, Worker]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Hooks the composition root adds (federation client start/stop, ...).
        self.on_start: list[Callable[[], Awaitable[None]]] = []
        self.on_stop: list[Callable[[], Awaitable[None]]] = []

    def add_worker(self, name: str, worker: Worker) -> None:
        """Register a background loop; it gets an event that is set when the node stops."""
        self._workers.append((name, worker))

    async def start(self) -> None:
        await self.db.open()
        from node.services.accounts import ensure_node_actor

        private_path, public_path = node_key_paths(self.settings.data_dir)
        await ensure_node_actor(
            self.site,
            private_path.read_text(encoding="utf-8"),
            public_path.read_text(encoding="utf-8"),
        )
        for hook in self.on_start:
            await hook()
        if self.settings.workers:
            for name, worker in self._workers:
                self._tasks.append(asyncio.create_task(self._run(name, worker), name=name))

    async def _run(self, name: str, worker: Worker) -> None:
        self.db.activate()
        while not self._stopping.is_set():
            try:
                await worker(self._stopping)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A worker bug must not stop the node: log it and restart the loop.
                log.exception("background worker %s failed; restarting in 1 s", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for hook in self.on_stop:
            await hook()
        await self.db.close()
