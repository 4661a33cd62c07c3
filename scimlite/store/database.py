"""The seam between the store and the database that runs it.

`Database` is exactly what the store asks of a database: one write transaction in one
call, a batch of savepointed writes, budgeted reads (pooled, a lookup lane, a snapshot)
and bounded inline point reads. `store/sqlite/` implements it over one SQLite file; a
PostgreSQL implementation will fill the same protocol. The connection types are still
SQLite's (the store's SQL is SQLite's dialect); they become the seam's own types when a
second implementation arrives.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

import aiosqlite

T = TypeVar("T")


class DatabaseError(Exception):
    """The database file cannot be used (too new, corrupt, unreadable)."""


class Batch(Protocol):
    """Many writes in one open transaction, each in its own savepoint (for /Bulk)."""

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in a savepoint: if it raises, only its own changes are undone."""
        ...


class Database(Protocol):
    """The operations the store performs on its database."""

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """One write transaction: `fn` runs between BEGIN and COMMIT (ROLLBACK if it raises)."""
        ...

    def batch(self) -> AbstractAsyncContextManager[Batch]:
        """One transaction for many writes, each `Batch.run` in its own savepoint."""
        ...

    def read(self, *, lookup: bool = False) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """A read-only connection within the read budget; `lookup` for index-served reads."""
        ...

    def snapshot(
        self, *, lookup: bool = False
    ) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """A read holding one read transaction, for several SELECTs that must agree."""
        ...

    def read_inline(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row] | None:
        """A bounded point read on the caller's thread, or None to use `read()` instead."""
        ...
