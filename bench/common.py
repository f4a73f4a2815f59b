"""What every benchmark needs: nodes and servers as processes, databases, statistics.

A node under test is a real ``fedwall serve`` process with its own data directory
and a fresh database (a SQLite file, or a new PostgreSQL database that is dropped
afterwards). The benchmark process opens the same database to seed it with bulk
inserts and to read what the node stored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from node.db import Database

T = TypeVar("T")

POSTGRES_ADMIN_URL = os.environ.get(
    "FEDWALL_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
ROOT = Path(__file__).resolve().parent.parent
# Node processes log here, so a failed run can be read afterwards.
LOG_DIR = Path(tempfile.gettempdir()) / "fedwall-bench-logs"


# ------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by the nearest-rank method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else math.nan


@dataclass
class Figure:
    """One reported number: the median over runs, its baseline and how it compares to a target."""

    benchmark: str
    name: str
    unit: str
    runs: list[float]
    baseline_name: str = ""
    baseline_runs: list[float] = field(default_factory=list)
    # "value/baseline <= 2" style: the ratio the target bounds, and the bound.
    target: str = ""
    target_ratio_max: float | None = None
    target_ratio_min: float | None = None
    target_value_max: float | None = None
    note: str = ""

    @property
    def value(self) -> float:
        return median(self.runs)

    @property
    def baseline(self) -> float:
        return median(self.baseline_runs)

    @property
    def ratio(self) -> float:
        return ratio(self.value, self.baseline) if self.baseline_runs else math.nan

    @property
    def met(self) -> bool | None:
        if self.target_value_max is not None:
            return self.value <= self.target_value_max
        if self.target_ratio_max is not None:
            return self.ratio <= self.target_ratio_max
        if self.target_ratio_min is not None:
            return self.ratio >= self.target_ratio_min
        return None

    def as_dict(self) -> dict[str, Any]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 4)

        return {
            "benchmark": self.benchmark,
            "name": self.name,
            "unit": self.unit,
            "value": clean(self.value),
            "runs": [clean(r) for r in self.runs],
            "baseline_name": self.baseline_name,
            "baseline": clean(self.baseline) if self.baseline_runs else None,
            "baseline_runs": [clean(r) for r in self.baseline_runs],
            "ratio": clean(self.ratio) if self.baseline_runs else None,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


@dataclass(frozen=True)
class Options:
    """What the runner passes to every benchmark."""

    database: str
    runs: int
    quick: bool
    memory_settle: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        return cls(args.database, args.runs, args.quick, args.memory_settle)


# ------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (free_port alone may hand out the same one twice)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def wait_for(
    condition: Callable[[], Awaitable[T]], timeout: float, interval: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout
    last = await condition()
    while not last:
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s (last value {last!r})")
        await asyncio.sleep(interval)
        last = await condition()
    return last


async def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    async def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    await wait_for(listening, timeout, 0.1)


def spawn(
    args: Sequence[str], log_name: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / f"{log_name}.log").open("ab") as log:
        return subprocess.Popen(
            list(args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ------------------------------------------------------------------ databases


async def create_postgres_database() -> str:
    name = f"fedwall_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class BenchNode:
    """One node under test: data directory, fresh database, and its ``fedwall serve`` process."""

    def __init__(self, name: str, database: str, port: int | None = None) -> None:
        self.name = name
        self.kind = database
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"fedwall-bench-{name}-"))
        self.data_dir = self.root / "node"
        self.database_url: str | None = None
        self.db: Database | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def domain(self) -> str:
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.domain}"

    async def create(self) -> None:
        """``fedwall init`` (migrations applied) and open the database for seeding."""
        from node.cli import cmd_init
        from node.config import load_settings

        if self.kind == "postgres":
            self.database_url = await create_postgres_database()
        args = argparse.Namespace(
            data_dir=str(self.data_dir),
            domain=self.domain,
            dev=True,
            bind=None,
            database_url=self.database_url,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            await cmd_init(args)
        settings = load_settings(self.data_dir)
        self.db = Database(settings.database_url)
        await self.db.open()

    def activate(self) -> None:
        assert self.db is not None
        self.db.activate()

    async def allow_peers(self, domains: Sequence[str]) -> None:
        """A boundary policy that lets ``domains`` in and out, whatever the label."""
        from node.services.policy import PolicyStore

        peers = "".join(
            f'\n[[peers]]\ndomain = "{domain}"\nstatus = "allowed"\n'
            'outbound = { max_label = "restricted" }\ninbound = { max_label = "restricted" }\n'
            for domain in domains
        )
        source = (
            'federation_mode = "allowlist"\n'
            'labels = ["public", "internal", "confidential", "restricted"]\n'
            'default_label = "internal"\n' + peers
        )
        self.activate()
        await PolicyStore().apply(source, "bench", "peers of the benchmark")

    async def start(self, env: dict[str, str] | None = None) -> None:
        self.process = spawn(
            [sys.executable, "-m", "node", "serve", str(self.data_dir)],
            f"{self.name}-{self.port}",
            env,
        )
        await wait_port(self.port, self.process)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def close(self) -> None:
        self.stop()
        if self.db is not None:
            await self.db.close()
            self.db = None
        if self.database_url:
            await drop_postgres_database(self.database_url)
        shutil.rmtree(self.root, ignore_errors=True)


class NoopServer:
    """The baseline server: same Quart + Hypercorn stack and process model, endpoints do nothing."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = spawn(
            [sys.executable, "-m", "bench.noop_app", "--bind", f"127.0.0.1:{self.port}"],
            f"noop-{self.port}",
        )
        await wait_port(self.port, self.process)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


# ------------------------------------------------------------------ raw SQL seeding


def placeholders(dialect: str, count: int) -> str:
    if dialect == "postgres":
        return ", ".join(f"${i}" for i in range(1, count + 1))
    return ", ".join("?" for _ in range(count))


async def insert_rows(
    dialect: str, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Bulk insert with executemany on the active node database (fast seeding)."""
    from tortoise import connections

    if not rows:
        return
    conn = connections.get(dialect)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - names are ours
        f"VALUES ({placeholders(dialect, len(columns))})"
    )
    chunk = 5000
    for start in range(0, len(rows), chunk):
        await conn.execute_many(sql, [list(r) for r in rows[start : start + chunk]])
