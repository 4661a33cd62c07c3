"""The seam between the store and the database that runs it.

`Database` is exactly what the store asks of a database: one write transaction in one
call, a batch of savepointed writes, budgeted reads (pooled, a lookup lane, a snapshot)
and bounded inline point reads. `store/sqlite/` implements it over one SQLite file,
`store/postgres/` over a PostgreSQL database that several processes share.

The store writes its SQL once, with `?` parameters, in the subset both engines share; what
differs is named by the database's `Dialect` (below) and, for filters, by sqlfilter.py.
Write closures receive a `Conn` and run synchronously (on the SQLite writer's thread, or on
a pooled PostgreSQL connection in a worker thread); reads receive a `ReadConn`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")


class DatabaseError(Exception):
    """The database cannot be used (too new, corrupt, unreadable, unreachable)."""


class Cursor(Protocol):
    """What the store reads from a statement it ran (sqlite3's and psycopg's cursors)."""

    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Conn(Protocol):
    """A write transaction's connection: statements with `?` parameters, run synchronously.

    Rows support both `row[0]` and `row["column"]`.
    """

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any: ...


class ReadConn(Protocol):
    """A read's connection: one statement per call, all its rows in one hop."""

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] = (), /
    ) -> Iterable[Any]: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """The few things the store's SQL says differently on each engine.

    `name`: "sqlite" or "postgres" (sqlfilter.py compiles filters for it).
    `for_update`: appended to the read of a row a write is about to change, so concurrent
    writers of one row serialise (PostgreSQL row locks; SQLite has one writer at a time).
    `text_index`: users_text, the FTS5 trigram table brought up to date after writes
    (textindex.py); PostgreSQL searches substrings through pg_trgm indexes on the columns.
    `folded_doc`: the users and groups rows carry `doc_ci`, the document with every
    case-insensitive string folded by Python (scim/comparable.py), because PostgreSQL
    cannot call Python's casefold inside a query.
    `journal_txid`: journal rows carry their transaction id, and a reader follows the
    journal in (txid, id) order up to the oldest transaction still running: with writers
    in several processes, ids are taken before commit, so id order is not commit order.
    SQLite's one writer commits in id order.
    `count_deltas`: the dashboard's counters are a base plus appended deltas (PostgreSQL,
    where many writers would queue on one counter row), folded in by `compact_counts`.
    """

    name: Literal["sqlite", "postgres"]
    for_update: str
    text_index: bool
    folded_doc: bool
    journal_txid: bool
    count_deltas: bool

    def pairs(self, first: str, second: str) -> str:
        """An aggregate: the JSON text of an array of [first, second] per row ("[]" or NULL
        for none)."""
        if self.name == "sqlite":
            return f"json_group_array(json_array({first}, {second}))"
        return f"json_agg(json_build_array({first}, {second}))::text"


SQLITE = Dialect(
    "sqlite",
    for_update="",
    text_index=True,
    folded_doc=False,
    journal_txid=False,
    count_deltas=False,
)
POSTGRES = Dialect(
    "postgres",
    for_update=" FOR UPDATE",
    text_index=False,
    folded_doc=True,
    journal_txid=True,
    count_deltas=True,
)


class Batch(Protocol):
    """Many writes in one open transaction, each in its own savepoint (for /Bulk)."""

    async def run(self, fn: Callable[[Conn], T]) -> T:
        """Run `fn` in a savepoint: if it raises, only its own changes are undone."""
        ...


class Database(Protocol):
    """The operations the store performs on its database."""

    @property
    def dialect(self) -> Dialect: ...

    async def open(self) -> None:
        """Connect, and bring the schema up to date (refusing a newer one)."""
        ...

    async def close(self) -> None: ...

    async def write(self, fn: Callable[[Conn], T]) -> T:
        """One write transaction: `fn` runs between BEGIN and COMMIT (ROLLBACK if it raises).

        `fn` may run more than once (PostgreSQL retries a transaction that lost a
        deadlock or serialization race), so it must touch nothing but `conn`."""
        ...

    def batch(self) -> AbstractAsyncContextManager[Batch]:
        """One transaction for many writes, each `Batch.run` in its own savepoint."""
        ...

    def read(self, *, lookup: bool = False) -> AbstractAsyncContextManager[ReadConn]:
        """A read-only connection within the read budget; `lookup` for index-served reads."""
        ...

    def snapshot(self, *, lookup: bool = False) -> AbstractAsyncContextManager[ReadConn]:
        """A read holding one read transaction, for several SELECTs that must agree."""
        ...

    def read_inline(self, sql: str, params: Sequence[object]) -> list[Any] | None:
        """A bounded point read on the caller's thread, or None to use `read()` instead."""
        ...

    async def schema_version(self) -> int:
        """The version of scimlite's schema the database holds."""
        ...

    async def sizes(self) -> dict[str, int]:
        """Bytes the database takes, by part (SQLite: `main`, `wal`; PostgreSQL: `main`)."""
        ...

    async def exclusive(self, job: str, fn: Callable[[Conn], T]) -> T | None:
        """`write(fn)`, unless another process runs the job `job` at this moment (None).

        For background jobs (journal retention, indexing): with several processes on one
        database, one runs it at a time. One SQLite process is alone: it always runs."""
        ...
