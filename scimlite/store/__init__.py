"""The store: everything scimlite persists, and the only package that speaks SQL.

`Store` is the facade the API and the console use: `users` and `groups` (a
`ResourceStore` each, resources.py), tokens (tokens.py), the journal (journal.py), events
(events.py), webhooks (webhooks.py), the console's read queries (console.py) and the
users_text index (textindex.py). It runs on a
`Database` (database.py): a SQLite file (`store/sqlite/`, the default) or a PostgreSQL
database (`store/postgres/`) that several processes share; `open_database` picks one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from scimlite.scim.schema import ResourceType
from scimlite.store.console import ConsoleQueries
from scimlite.store.database import Batch, Conn, Database, DatabaseError
from scimlite.store.events import Commits, EventQueries
from scimlite.store.journal import JournalQueries
from scimlite.store.kinds import GROUPS, USERS
from scimlite.store.records import (
    DirectoryCounts,
    Event,
    JournalEntry,
    JournalQuery,
    ListQuery,
    MembershipChange,
    MemberSummary,
    Page,
    Ref,
    Resource,
    TeamSummary,
    TokenActivity,
    TokenInfo,
    Update,
    Webhook,
    WebhookDelivery,
    WriteContext,
)
from scimlite.store.resources import ResourceStore
from scimlite.store.rows import fetch_one_sync
from scimlite.store.sessions import SessionQueries, SessionRecord
from scimlite.store.textindex import index_pending_text
from scimlite.store.tokens import TokenQueries
from scimlite.store.webhooks import WebhookQueries

__all__ = [
    "DirectoryCounts",
    "Event",
    "JournalEntry",
    "JournalQuery",
    "ListQuery",
    "MemberSummary",
    "MembershipChange",
    "Page",
    "Ref",
    "Resource",
    "ResourceStore",
    "SessionRecord",
    "Store",
    "TeamSummary",
    "TokenActivity",
    "TokenInfo",
    "Update",
    "Webhook",
    "WebhookDelivery",
    "WriteContext",
    "open_database",
]


def open_database(
    *,
    path: Path,
    url: str | None = None,
    readers: int = 3,
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
    read_timeout_ms: int = 3000,
    on_write_wait: Callable[[float], None] | None = None,
    on_commit: Callable[[int], None] | None = None,
    write_batch: int = 64,
) -> Database:
    """The database a server or command uses: PostgreSQL at `url` if given, else the SQLite
    file at `path`. Not yet connected: call `open()`."""
    if url is None:
        from scimlite.store.sqlite.db import SQLiteDatabase

        return SQLiteDatabase(
            path,
            readers=readers,
            synchronous=synchronous,
            read_timeout_ms=read_timeout_ms,
            on_write_wait=on_write_wait,
            max_batch=write_batch,
            on_commit=on_commit,
        )
    try:
        from scimlite.store.postgres.db import PostgresDatabase
    except ImportError:
        raise DatabaseError(
            "the PostgreSQL backend needs psycopg: pip install 'scimlite[postgres]'"
        ) from None
    return PostgresDatabase(
        url, readers=readers, read_timeout_ms=read_timeout_ms, on_write_wait=on_write_wait
    )


class Store(
    TokenQueries, JournalQueries, EventQueries, WebhookQueries, ConsoleQueries, SessionQueries
):
    """Everything scimlite persists, behind one narrow async interface."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.commits = Commits()  # wakes the events API's long-polls
        self.users = ResourceStore(db, USERS, self.commits)
        self.groups = ResourceStore(db, GROUPS, self.commits)
        self._by_type = {USERS.name: self.users, GROUPS.name: self.groups}

    def resources(self, resource: ResourceType) -> ResourceStore:
        """The store of one resource type, so callers need not ask which type they serve."""
        return self._by_type[resource.id]

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[Batch]:
        """One transaction for many writes; pass the Batch to each write as `batch=`."""
        async with self.db.batch() as batch:
            yield batch
        self.commits.notify()

    def text_pending(self) -> bool:
        """Whether some user's users_text row is out of date (or SQLite was busy: maybe)."""
        if not self.db.dialect.text_index:
            return False
        rows = self.db.read_inline("SELECT 1 FROM users_text_pending LIMIT 1", ())
        return rows is None or bool(rows)

    async def compact_counts(self) -> int:
        """Fold the counters' appended deltas into their base (Dialect.count_deltas), so
        reading a count stays a few rows; returns how many deltas were folded. One process
        at a time does it; on SQLite there is nothing to fold."""
        if not self.db.dialect.count_deltas:
            return 0

        def fold_deltas(conn: Conn) -> int:
            row = fetch_one_sync(
                conn,
                "WITH moved AS (DELETE FROM row_count_deltas RETURNING name, d), "
                "sums AS (SELECT name, sum(d) AS s, count(*) AS k FROM moved GROUP BY name), "
                "done AS (UPDATE row_count_base b SET n = b.n + sums.s FROM sums "
                "WHERE b.name = sums.name) "
                "SELECT coalesce(sum(k), 0) FROM sums",
            )
            return int(row[0])

        return await self.db.exclusive("count compaction", fold_deltas) or 0

    async def index_pending_text(self, *, chunk: int = 2_000) -> int:
        """Bring users_text up to date; returns how many users were reindexed.

        Writes only mark users as pending (sqlite/migrations.py: 6), because an FTS5 commit
        is expensive; here many share one. In chunks, each its own short transaction, so a
        backlog (an initial sync of 100,000 users) never holds the writer for long.
        """
        done = 0
        while self.db.dialect.text_index:
            count = await self.db.write(lambda conn: index_pending_text(conn, chunk))
            done += count
            if count < chunk:
                break
        return done
