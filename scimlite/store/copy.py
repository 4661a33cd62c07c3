"""`scimlite copy`: a whole directory from one database into an empty one, either way
between SQLite and PostgreSQL.

Everything a client or an admin can observe is kept: ids, versions, timestamps, documents,
memberships, token hashes (so existing tokens keep working), the journal and the events
with their ids, and the row numbers that list cursors point at. (An events consumer still
resyncs after a copy between engines: a position is spelled differently on each,
docs/events.md.) What each engine derives is derived again by
the target: its counters (triggers), PostgreSQL's folded documents, SQLite's search index.
The source is read in one snapshot and the target written in one transaction, so a copy is
whole or absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from scimlite.scim.comparable import comparable
from scimlite.scim.schema import GROUP_RESOURCE, USER_RESOURCE
from scimlite.store.database import Conn, Database, DatabaseError, ReadConn
from scimlite.store.rows import fetch_all, marks

CHUNK = 2_000  # rows read and written per step


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    key: str  # an integer column to read the table in order by, chunk by chunk
    columns: tuple[str, ...]


_RESOURCE_COLUMNS = ("id", "version", "created", "last_modified", "doc")
USERS = _Table(
    "users",
    "seq",
    (
        "seq",
        "user_name",
        "user_name_ci",
        "external_id",
        "display_name",
        "display_name_ci",
        "active",
        "email",
        *_RESOURCE_COLUMNS,
    ),
)
GROUPS = _Table(
    "groups",
    "seq",
    ("seq", "display_name", "display_name_ci", "external_id", *_RESOURCE_COLUMNS),
)
TOKENS = _Table(
    "tokens", "id", ("id", "name", "prefix", "hash", "scope", "created", "last_used", "revoked")
)
JOURNAL = _Table(
    "journal",
    "id",
    (
        "id",
        "at",
        "token_name",
        "method",
        "path",
        "resource_type",
        "resource_id",
        "status",
        "latency_ms",
        "changes",
        "quirks",
        "detail",
    ),
)
EVENTS = _Table(
    "events",
    "id",
    (
        "id",
        "journal_id",
        "at",
        "type",
        "token_name",
        "user_id",
        "group_id",
        "user_snapshot",
        "team_snapshot",
        "changes",
    ),
)
# The rows that belong to a chunk of users or teams: (table, columns, owner column).
_EMAILS = ("user_emails", ("user_id", "position", "value_ci", "type_ci", "is_primary"), "user_id")
_MEMBERS = ("memberships", ("group_id", "user_id"), "group_id")
_REFS = ("journal_refs", ("resource_id", "journal_id"), "journal_id")


@dataclass(frozen=True, slots=True)
class Copied:
    users: int
    groups: int
    memberships: int
    tokens: int
    journal: int
    events: int


async def copy_directory(source: Database, target: Database) -> Copied:
    """Copy everything from `source` into `target`, which must hold no directory yet."""
    counts = {"users": 0, "groups": 0, "memberships": 0, "tokens": 0, "journal": 0, "events": 0}
    async with source.snapshot() as read, target.batch() as batch:
        await batch.run(_require_empty)
        for table, children in (
            (USERS, _EMAILS),
            (GROUPS, _MEMBERS),
            (TOKENS, None),
            (JOURNAL, _REFS),
            (EVENTS, None),
        ):
            after = -1
            while True:
                sql = (
                    f"SELECT {', '.join(table.columns)} FROM {table.name} "  # noqa: S608
                    f"WHERE {table.key} > ? ORDER BY {table.key} LIMIT ?"
                )
                rows = [tuple(r) for r in await fetch_all(read, sql, (after, CHUNK))]
                if not rows:
                    break
                after = rows[-1][0]
                extra: list[tuple[Any, ...]] = []
                if children is not None:
                    extra = await _children(read, table, children, rows)
                await batch.run(_insert(target, table, children, rows, extra))
                counts[table.name] += len(rows)
                if table is GROUPS:
                    counts["memberships"] += len(extra)
        await batch.run(_renumber(target))
    return Copied(**counts)


def _require_empty(conn: Conn) -> None:
    for table in ("users", "groups", "tokens", "journal"):
        if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:  # noqa: S608
            raise DatabaseError(
                f"the target already holds a directory ({table} is not empty); "
                "copy into a new, empty database"
            )


async def _children(
    read: ReadConn, table: _Table, children: tuple[str, tuple[str, ...], str], rows: list[Any]
) -> list[tuple[Any, ...]]:
    name, columns, owner = children
    ids = [row[table.columns.index("id")] for row in rows]  # uuids, or journal row ids
    sql = (
        f"SELECT {', '.join(columns)} FROM {name} "  # noqa: S608
        f"WHERE {owner} IN ({marks(len(ids))})"
    )
    return [tuple(r) for r in await fetch_all(read, sql, ids)]


def _insert(
    target: Database,
    table: _Table,
    children: tuple[str, tuple[str, ...], str] | None,
    rows: list[tuple[Any, ...]],
    extra: list[tuple[Any, ...]],
) -> Callable[[Conn], None]:
    columns = list(table.columns)
    if target.dialect.folded_doc and table in (USERS, GROUPS):
        resource = USER_RESOURCE if table is USERS else GROUP_RESOURCE
        doc = columns.index("doc")
        columns.append("doc_ci")
        rows = [
            (*row, orjson.dumps(comparable(orjson.loads(row[doc]), resource)).decode())
            for row in rows
        ]

    def write(conn: Conn) -> None:
        conn.executemany(
            f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({marks(len(columns))})",
            rows,
        )
        if children is not None and extra:
            name, child_columns, _ = children
            conn.executemany(
                f"INSERT INTO {name} ({', '.join(child_columns)}) "  # noqa: S608
                f"VALUES ({marks(len(child_columns))})",
                extra,
            )

    return write


def _renumber(target: Database) -> Callable[[Conn], None]:
    """PostgreSQL's identity sequences continue after the copied numbers (SQLite's rowids
    follow the largest one by themselves)."""

    def write(conn: Conn) -> None:
        if target.dialect.name != "postgres":
            return
        for table, key in (
            ("users", "seq"),
            ("groups", "seq"),
            ("tokens", "id"),
            ("journal", "id"),
            ("events", "id"),
        ):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "  # noqa: S608
                f"(SELECT coalesce(max({key}), 0) + 1 FROM {table}), false)"
            )

    return write
