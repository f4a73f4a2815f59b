"""Migrations on SQLite and PostgreSQL: all of them apply to an empty database, and
migration 2 moves the directory link out of ``password_hash`` into its own columns
(and back on downgrade).

Each test builds its own database with aerich, as ``fedwall migrate`` does, from a
copy of the first migrations when it needs a database of an older version.
"""

from __future__ import annotations

import asyncio
import contextvars
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aerich import Command
from aerich.migrate import Migrate
from tortoise import BaseDBAsyncClient, Tortoise, connections

from node.db import MIGRATIONS_DIR, Database, tortoise_config
from node.passwords import hash_password
from tests.conftest import create_postgres_database, drop_postgres_database

T = TypeVar("T")

MIGRATION_FILES = sorted(
    (MIGRATIONS_DIR / "models").glob("[0-9]*_*.py"), key=lambda p: int(p.name.split("_")[0])
)
LOCAL_HASH = hash_password("password123")


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own, not the session's migrated one."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'fedwall.sqlite3'}"
        return
    url = await create_postgres_database("fedwall_migrations")
    try:
        yield url
    finally:
        await drop_postgres_database(url)


def migrations_up_to(version: int, tmp_path: Path) -> Path:
    """A migrations folder holding the migrations numbered up to ``version``."""
    location = tmp_path / "migrations"
    (location / "models").mkdir(parents=True, exist_ok=True)
    for path in MIGRATION_FILES:
        if int(path.name.split("_")[0]) <= version:
            shutil.copy(path, location / "models" / path.name)
    return location


async def with_aerich(
    url: str, location: Path, work: Callable[[Command, BaseDBAsyncClient], Awaitable[T]]
) -> T:
    """Run ``work`` with an aerich command for ``location`` and a connection to ``url``."""

    async def run() -> T:
        command = Command(tortoise_config(url), app="models", location=str(location))
        await command.init()
        try:
            return await work(command, connections.get(Database(url).dialect))
        finally:
            await Tortoise.close_connections()

    # aerich initialises Tortoise globally: keep that in a context of its own (as node.db does).
    task = asyncio.get_running_loop().create_task(run(), context=contextvars.Context())
    return await task


async def insert_account(db: BaseDBAsyncClient, number: int, password_hash: str | None) -> None:
    """An account row as migration 1 knows them (test values only: no SQL escaping)."""
    username = f"user{number}"
    false = "FALSE" if db.capabilities.dialect == "postgres" else "0"
    hash_sql = "NULL" if password_hash is None else f"'{password_hash}'"
    await db.execute_script(
        'INSERT INTO "accounts" ("id", "username", "domain", "actor_type", "display_name", '
        '"summary_html", "password_hash", "is_admin", "disabled", "locked", "profile_fields", '
        '"uri", "followers_count", "following_count", "posts_count", "created_at", '
        f"\"updated_at\") VALUES ({number}, '{username}', '', 'Person', '{username}', '', "
        f"{hash_sql}, {false}, {false}, {false}, '[]', 'https://wall.test/users/{username}', "
        "0, 0, 0, '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')"
    )


async def accounts(db: BaseDBAsyncClient, *columns: str) -> dict[str, tuple[Any, ...]]:
    """``columns`` of every account, by username."""
    selected = ", ".join(f'"{c}"' for c in columns)
    rows = await db.execute_query_dict(f'SELECT "username", {selected} FROM "accounts"')
    return {row["username"]: tuple(row[c] for c in columns) for row in rows}


async def database_at_migration_1(url: str, tmp_path: Path) -> Path:
    """Migrate ``url`` to migration 1 and add accounts as the directory sync left them then:
    user1 linked, user2 disabled because its entry left, user3 with a local password,
    user4 without a password. Returns the migrations folder, still without migration 2."""

    async def work(command: Command, db: BaseDBAsyncClient) -> None:
        applied = await command.upgrade(run_in_transaction=True)
        assert [name.split("_")[0] for name in applied] == ["0", "1"]
        await insert_account(db, 1, "!directory:abc")
        await insert_account(db, 2, "!directory-left:def")
        await insert_account(db, 3, LOCAL_HASH)
        await insert_account(db, 4, None)

    location = migrations_up_to(1, tmp_path)
    await with_aerich(url, location, work)
    return location


async def upgrade_to_migration_2(url: str, location: Path) -> None:
    shutil.copy(MIGRATION_FILES[2], location / "models" / MIGRATION_FILES[2].name)

    async def work(command: Command, db: BaseDBAsyncClient) -> None:
        assert await command.upgrade(run_in_transaction=True) == [MIGRATION_FILES[2].name]

    await with_aerich(url, location, work)


def test_migration_2_is_the_directory_link_migration() -> None:
    # The tests below build on the numbering; a renumbered folder must update them.
    assert MIGRATION_FILES[2].name.startswith("2_")
    assert MIGRATION_FILES[2].name.endswith("_account_directory_link_language.py")


async def test_every_migration_applies_to_an_empty_database_and_none_is_left_pending(
    database_url: str,
) -> None:
    database = Database(database_url)

    applied = await database.migrate()

    assert applied == [path.name for path in MIGRATION_FILES]
    assert await database.pending_migrations() == []
    assert await database.migrate() == []


async def test_the_migrations_leave_the_schema_the_models_describe(tmp_path: Path) -> None:
    """A change to node/models.py without its migration fails here."""
    location = migrations_up_to(len(MIGRATION_FILES), tmp_path)
    # aerich keeps pending operations in class attributes (see migrations/make.py).
    pending = ("upgrade_operators", "downgrade_operators", "_upgrade_m2m", "_downgrade_m2m")
    for name in (*pending, "_upgrade_fk_m2m_index_operators", "_downgrade_fk_m2m_index_operators"):
        setattr(Migrate, name, [])
    Migrate._rename_fields, Migrate._rename_models = {}, {}

    async def run() -> str:
        url = f"sqlite://{tmp_path / 'unused.sqlite3'}"
        command = Command(tortoise_config(url), app="models", location=str(location))
        # Offline: compared with the state the last migration file records.
        await command.init(offline=True)
        try:
            return await command.migrate("missing", no_input=True, offline=True)
        finally:
            await Tortoise.close_connections()

    task = asyncio.get_running_loop().create_task(run(), context=contextvars.Context())
    generated = await task

    assert generated == "", f"node/models.py has changes no migration makes: {generated}"


async def test_directory_markers_move_from_password_hash_into_their_columns(
    database_url: str, tmp_path: Path
) -> None:
    location = await database_at_migration_1(database_url, tmp_path)

    await upgrade_to_migration_2(database_url, location)

    async def read(command: Command, db: BaseDBAsyncClient) -> dict[str, tuple[Any, ...]]:
        return await accounts(db, "directory_id", "directory_left", "password_hash")

    rows = await with_aerich(database_url, location, read)
    normalised = {name: (link, bool(left), hash_) for name, (link, left, hash_) in rows.items()}
    assert normalised == {
        "user1": ("abc", False, None),
        "user2": ("def", True, None),
        "user3": (None, False, LOCAL_HASH),
        "user4": (None, False, None),
    }


async def test_downgrading_migration_2_puts_the_directory_markers_back(
    database_url: str, tmp_path: Path
) -> None:
    location = await database_at_migration_1(database_url, tmp_path)
    await upgrade_to_migration_2(database_url, location)

    async def downgrade(command: Command, db: BaseDBAsyncClient) -> dict[str, tuple[Any, ...]]:
        assert await command.downgrade(2, delete=False) == [MIGRATION_FILES[2].name]
        return await accounts(db, "password_hash")

    rows = await with_aerich(database_url, location, downgrade)

    assert rows == {
        "user1": ("!directory:abc",),
        "user2": ("!directory-left:def",),
        "user3": (LOCAL_HASH,),
        "user4": (None,),
    }


async def test_migration_2_applies_again_after_its_downgrade(
    database_url: str, tmp_path: Path
) -> None:
    location = await database_at_migration_1(database_url, tmp_path)
    await upgrade_to_migration_2(database_url, location)

    async def round_trip(command: Command, db: BaseDBAsyncClient) -> dict[str, tuple[Any, ...]]:
        await command.downgrade(2, delete=False)
        await command.upgrade(run_in_transaction=True)
        return await accounts(db, "directory_id", "password_hash")

    rows = await with_aerich(database_url, location, round_trip)

    assert rows == {
        "user1": ("abc", None),
        "user2": ("def", None),
        "user3": (None, LOCAL_HASH),
        "user4": (None, None),
    }
