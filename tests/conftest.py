"""Shared fixtures: a node database on SQLite and on a real PostgreSQL server.

Every test that uses ``db`` runs twice, once per database. PostgreSQL comes
from ``FEDWALL_TEST_POSTGRES_URL`` (default
``postgres://postgres@127.0.0.1:5432/postgres``, a server where that user may
create databases); the suite creates a fresh database per session and drops
it afterwards. Without a reachable server the PostgreSQL half is skipped with
a notice, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from node.db import Database
from node.models import Account
from node.site import Site

POSTGRES_ADMIN_URL = os.environ.get(
    "FEDWALL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
_skipped_postgres: list[str] = []


async def _postgres_reachable() -> str | None:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def create_postgres_database(prefix: str = "fedwall_test") -> str:
    """Create an empty database and return its URL.

    Without a server this fails under CI and skips elsewhere.
    """
    problem = await _postgres_reachable()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable ({problem})"
        if IN_CI:
            pytest.fail(message + " — CI requires it")
        _skipped_postgres.append(message)
        pytest.skip(message)
    name = f"{prefix}_{secrets.token_hex(5)}"
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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_postgres:
        terminalreporter.write_sep("!", "PostgreSQL tests were SKIPPED", yellow=True)
        terminalreporter.write_line(_skipped_postgres[0])
        terminalreporter.write_line("Set FEDWALL_TEST_POSTGRES_URL to run them.")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """One migrated database per dialect for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path_factory.mktemp('sqlite') / 'fedwall.sqlite3'}"
    else:
        url = await create_postgres_database()
    database = Database(url)
    await database.migrate()
    await database.open()
    try:
        yield database
    finally:
        await database.close()
        if request.param == "postgres":
            await drop_postgres_database(url)


async def _empty_tables(database: Database) -> None:
    from tortoise import Tortoise

    tables = [
        model._meta.db_table
        for model in Tortoise.apps["models"].values()
        if model._meta.db_table != "aerich"
    ]
    from tortoise import connections

    conn = connections.get(database.dialect)
    if database.dialect == "postgres":
        # DELETE with foreign-key triggers off is ~50x faster than TRUNCATE on small tables.
        statements = ["SET session_replication_role = replica"]
        statements += [f'DELETE FROM "{t}"' for t in tables]
        statements.append("SET session_replication_role = DEFAULT")
        await conn.execute_script(";\n".join(statements))
    else:
        statements = ["PRAGMA foreign_keys = OFF"]
        statements += [f'DELETE FROM "{t}"' for t in tables]
        statements.append("PRAGMA foreign_keys = ON")
        await conn.execute_script(";\n".join(statements))


@pytest.fixture
async def db(database: Database) -> AsyncIterator[Database]:
    """The session's database, active in this test and emptied before it."""
    database.activate()
    await _empty_tables(database)
    yield database


@pytest.fixture
def site() -> Site:
    return Site(domain="wall.test", scheme="https", max_post_length=500)


@pytest.fixture
def vectors_dir() -> Iterator[Path]:
    path = Path(__file__).resolve().parents[2] / "shared" / "vectors"
    assert path.is_dir(), f"published test vectors not found at {path}"
    yield path


async def make_user(site: Site, username: str, **options: object) -> Account:
    """A local account with password ``password123`` (helper for tests)."""
    from node.services.accounts import create_local_account

    return await create_local_account(site, username, "password123", **options)  # type: ignore[arg-type]
