"""Real nodes for federation tests: separate ``fedwall serve`` processes on loopback ports.

Each node has its own data directory and database (a SQLite file, or a fresh
PostgreSQL database). Tests act through the nodes' web pages like a person
(:class:`node.demo.Browser`) and read what a node stored through its own
database, opened in the test process. Waiting is always on a condition.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from node.cli import cmd_init
from node.config import load_settings
from node.db import Database
from node.demo import Browser
from node.models import Account, Post
from node.services.accounts import create_local_account
from node.services.policy import PolicyStore
from node.site import Site

T = TypeVar("T")
PASSWORD = "password123"

# Retries in seconds, not hours, so outage scenarios finish quickly.
TEST_ENV = {
    "FEDWALL_DELIVERY_RETRY_BASE": "0.5",
    "FEDWALL_DELIVERY_RETRY_CAP": "2",
    "FEDWALL_LOG_LEVEL": "info",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(
    condition: Callable[[], Awaitable[T]], timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = await condition()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {last!r})")
        await asyncio.sleep(interval)
        last = await condition()
    return last


class NodeProcess:
    """One node: its data directory, database and (when running) its process."""

    def __init__(self, name: str, root: Path, database_url: str | None) -> None:
        self.name = name
        self.port = free_port()
        self.data_dir = root / name
        self.database_url = database_url
        self.process: subprocess.Popen[bytes] | None = None
        self.db: Database | None = None
        self.log_path = root / f"{name}.log"

    @property
    def domain(self) -> str:
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.domain}"

    def handle(self, username: str) -> str:
        return f"{username}@{self.domain}"

    def actor(self, username: str) -> str:
        return f"{self.url}/users/{username}"

    async def create(self, users: dict[str, dict[str, Any]]) -> None:
        args = argparse.Namespace(
            data_dir=str(self.data_dir),
            domain=self.domain,
            dev=True,
            bind=None,
            database_url=self.database_url,
        )
        await cmd_init(args)
        settings = load_settings(self.data_dir)
        self.db = Database(settings.database_url)
        await self.db.open()
        site = Site(domain=self.domain, scheme="http")
        for username, options in users.items():
            await create_local_account(site, username, PASSWORD, **options)

    async def allow_peers(
        self, domains: list[str], extra: str = "", max_label: str = "restricted"
    ) -> None:
        """Store a policy allowing ``domains`` in both directions up to ``max_label``."""
        peers = "".join(
            f'\n[[peers]]\ndomain = "{domain}"\nstatus = "allowed"\n'
            f'outbound = {{ max_label = "{max_label}", profile_fields = ["*"] }}\n'
            f'inbound = {{ max_label = "restricted" }}\n'
            for domain in domains
        )
        source = (
            'federation_mode = "allowlist"\n'
            'labels = ["public", "internal", "confidential", "restricted"]\n'
            'default_label = "internal"\n' + peers + extra
        )
        await self.apply_policy(source)

    async def apply_policy(self, source: str) -> None:
        """Store a new policy version; when the node runs, wait until it is in force."""
        snapshot = await self.query(lambda: PolicyStore().apply(source, "test", "set by the test"))
        if self.process is None:
            return
        async with httpx.AsyncClient(timeout=5) as client:

            async def in_force() -> bool:
                ready = (await client.get(f"{self.url}/readyz")).json()
                return bool(ready.get("policy_version") == snapshot.version)

            await wait_for(in_force, timeout=10)

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node", "serve", str(self.data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **TEST_ENV},
        )
        log.close()
        async with httpx.AsyncClient(timeout=2) as client:

            async def ready() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"node {self.name} exited; log:\n{self.log_tail()}")
                try:
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for(ready, timeout=60)

    async def stop(self) -> None:
        """SIGTERM and wait for a clean exit."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.process.wait, 20)
        self.process = None
        assert code == 0, f"node {self.name} exited with {code}; log:\n{self.log_tail()}"

    def kill(self) -> None:
        """SIGKILL: no clean-up at all."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def query(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` against this node's database (from the test process)."""
        assert self.db is not None
        self.db.activate()
        return await work()

    async def browser(self, username: str) -> Browser:
        browser = Browser(self.url)
        await browser.sign_in(username, PASSWORD)
        return browser

    async def post_by_uri(self, uri: str) -> Post | None:
        return await self.query(lambda: Post.get_or_none(uri=uri))

    async def account(self, username: str, domain: str = "") -> Account | None:
        return await self.query(lambda: Account.get_or_none(username=username, domain=domain))

    async def close(self) -> None:
        if self.process is not None:
            self.kill()
        if self.db is not None:
            await self.db.close()
