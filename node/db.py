"""The node's database: Tortoise context, migrations, health.

Each node owns one :class:`Database`. Its Tortoise context is activated
explicitly in every request and background task (:meth:`Database.activate`), so
two nodes in one process never share connections.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext

import migrations
from node.errors import ConfigError

MODEL_MODULES = ["node.models", "aerich.models"]
MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent

T = TypeVar("T")


def tortoise_url(database_url: str) -> str:
    """Translate the configured URL to Tortoise's form (adding SQLite pragmas)."""
    if database_url.startswith("postgresql://"):
        database_url = "postgres://" + database_url.removeprefix("postgresql://")
    if database_url.startswith("sqlite://"):
        # Several processes (CLI, web, workers) share the file: wait for locks
        # instead of failing, and keep fsyncs to commit points of the WAL.
        separator = "&" if "?" in database_url else "?"
        database_url += f"{separator}busy_timeout=10000&synchronous=NORMAL"
    return database_url


def tortoise_config(database_url: str) -> dict[str, Any]:
    # Tortoise caches prepared statements per (connection name, table), not per
    # dialect: naming the connection after its dialect keeps a process that
    # opens SQLite and PostgreSQL databases (the test suite) from mixing them.
    name = "postgres" if database_url.startswith(("postgres://", "postgresql://")) else "sqlite"
    connection: str | dict[str, Any] = tortoise_url(database_url)
    if name == "sqlite":
        connection = expand_db_url(str(connection))
        connection["engine"] = "node.sqlite_engine"
    return {
        "connections": {name: connection},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": name}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def _in_fresh_context(work: Callable[[], Awaitable[T]]) -> T:
    # aerich initialises Tortoise through its global entry point; running it in
    # an empty contextvars context keeps that away from the node's own context.
    loop = asyncio.get_running_loop()
    return await loop.create_task(work(), context=contextvars.Context())  # type: ignore[arg-type]


class Database:
    """Connections of one node's database, and its migrations."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self._ctx: TortoiseContext | None = None

    @property
    def dialect(self) -> str:
        return "postgres" if self.url.startswith(("postgres://", "postgresql://")) else "sqlite"

    async def open(self) -> None:
        ctx = TortoiseContext()
        ctx.__enter__()
        try:
            await ctx.init(config=tortoise_config(self.url))
        except Exception as exc:  # Tortoise raises several unrelated types here.
            raise ConfigError(f"database_url: cannot open the database: {exc}") from None
        self._ctx = ctx
        self.activate()

    def activate(self) -> None:
        """Make this database the one models use in the current task."""
        if self._ctx is None:
            raise RuntimeError("Database.open() was not called")
        self._ctx.__enter__()

    async def close(self) -> None:
        if self._ctx is not None:
            await self._ctx.close_connections()
            self._ctx = None

    async def ping(self) -> bool:
        """True when a trivial query succeeds."""
        if self._ctx is None:
            return False
        try:
            await self._ctx.db().execute_query("SELECT 1")
        except Exception:  # any driver error means "not ready"
            return False
        return True

    async def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied (idempotent)."""
        from aerich import Command

        async def work() -> list[str]:
            command = Command(tortoise_config(self.url), app="models", location=str(MIGRATIONS_DIR))
            await command.init()
            try:
                applied: list[str] = await command.upgrade(run_in_transaction=True)
            finally:
                await Tortoise.close_connections()
            return applied

        return await _in_fresh_context(work)

    async def pending_migrations(self) -> list[str]:
        """Names of migrations not applied yet."""
        from aerich import Command

        async def work() -> list[str]:
            command = Command(tortoise_config(self.url), app="models", location=str(MIGRATIONS_DIR))
            await command.init()
            try:
                heads: list[str] = await command.heads()
            except Exception:  # no aerich table yet: everything is pending
                heads = [p.name for p in sorted((MIGRATIONS_DIR / "models").glob("[0-9]*_*.py"))]
            finally:
                await Tortoise.close_connections()
            return heads

        return await _in_fresh_context(work)
