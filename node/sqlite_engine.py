"""Tortoise's SQLite backend, with write transactions that take the lock up front.

Several processes share a node's SQLite file (the server, the CLI, tests). A
plain ``BEGIN`` starts a read transaction that is upgraded at its first write;
if another process committed in between, SQLite refuses the upgrade at once
with "database is locked" instead of waiting. ``BEGIN IMMEDIATE`` takes the
write lock when the transaction starts, so ``busy_timeout`` applies and
concurrent writers simply queue.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient
