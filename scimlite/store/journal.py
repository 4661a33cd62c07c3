"""The journal: one row per write, inserted in the write's own transaction, and its reads."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import orjson

from scimlite import timeutil
from scimlite.scim.diff import clipped
from scimlite.store.database import Conn, Database
from scimlite.store.events import high_water, parse_position, prune_events, spell
from scimlite.store.records import JournalEntry, JournalQuery, WriteContext
from scimlite.store.rows import fetch_all
from scimlite.text import DETAIL_CHARS, clip


def record(
    conn: Conn,
    ctx: WriteContext,
    resource_type: str | None,
    resource_id: str | None,
    status: int,
    changes: list[dict[str, Any]],
    detail: str | None = None,
    refs: Collection[str] = (),
) -> tuple[int, str]:
    """Append the write's journal row; `refs` are the other resources whose representation
    it changed through a membership, so the row shows in their histories too. Returns the
    row's id and time, which the write's events carry (store/events.py)."""
    at = timeutil.now()
    row = conn.execute(
        "INSERT INTO journal (at, token_name, method, path, resource_type, resource_id, "
        "status, latency_ms, changes, quirks, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        (
            at,
            ctx.token_name,
            ctx.method,
            _printable(clip(ctx.path)),
            resource_type,
            None if resource_id is None else _printable(resource_id),
            ctx.answered or status,
            round((time.monotonic() - ctx.started) * 1000, 3),
            orjson.dumps(changes).decode() if changes else None,
            orjson.dumps(clipped(ctx.quirks)).decode() if ctx.quirks else None,
            _printable(clip(detail, DETAIL_CHARS)) if detail is not None else None,
        ),
    ).fetchone()
    if refs:
        conn.executemany(
            "INSERT INTO journal_refs (resource_id, journal_id) VALUES (?, ?)",
            [(ref, row[0]) for ref in dict.fromkeys(refs)],
        )
    return int(row[0]), at


def _printable(text: str) -> str:
    """A client's text as the journal keeps it: U+0000 spelled `\\u0000` (a request may
    carry one in its path; PostgreSQL cannot store it, and nobody can read it)."""
    return text.replace("\x00", "\\u0000")


def _prune(conn: Conn, before: str, chunk: int) -> int:
    sql = (
        "DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE at < ? ORDER BY id LIMIT ?)"
    )
    return conn.execute(sql, (before, chunk)).rowcount


def journal_sql(query: JournalQuery) -> tuple[str, list[Any]]:
    """The SELECT for search_journal and its parameters.

    A resource's history is two keyset scans merged by id: the rows that wrote it
    (journal_resource) and the rows that changed it through a membership (journal_refs,
    sqlite/migrations.py: 8). Each arm reads its index newest first, so a page costs
    O(page) however long the history.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("resource_type = ?", query.resource_type),
        ("token_name = ?", query.token_name),
        ("status >= ?", query.status_min),
        ("status <= ?", query.status_max),
        ("at >= ?", query.since),
        ("at <= ?", query.until),
    ):
        if value is not None:
            clauses.append(column)
            params.append(value)
    if query.status_min is not None and query.status_min >= 400:
        # Spelled as a constant: SQLite uses the partial index journal_errors only when the
        # query repeats its WHERE, and rare errors must not mean reading the whole journal.
        clauses.append("status >= 400")
    before = [] if query.before_id is None else [query.before_id]
    if query.resource_id is None:
        where = " AND ".join([*clauses, *(["id < ?"] if before else [])]) or "TRUE"
        sql = f"SELECT * FROM journal WHERE {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
        return sql, [*params, *before, query.limit]
    rest = "".join(f" AND {c}" for c in clauses)
    # Both arms order by `k`, which is the column each one's index is sorted by, so the
    # merge reads them in order and stops at the limit instead of sorting a whole history.
    own = f"SELECT id AS k, * FROM journal WHERE resource_id = ?{rest}"  # noqa: S608
    refs = (
        "SELECT r.journal_id AS k, j.* FROM journal_refs r "  # noqa: S608
        f"JOIN journal j ON j.id = r.journal_id WHERE r.resource_id = ?{rest}"
    )
    if before:
        own += " AND id < ?"
        refs += " AND r.journal_id < ?"
    sql = f"{own} UNION ALL {refs} ORDER BY k DESC LIMIT ?"
    arm = [query.resource_id, *params]
    return sql, [*arm, *before, *arm, *before, query.limit]


def journal_entry(r: Any) -> JournalEntry:
    return JournalEntry(
        id=r["id"],
        at=r["at"],
        token_name=r["token_name"],
        method=r["method"],
        path=r["path"],
        resource_type=r["resource_type"],
        resource_id=r["resource_id"],
        status=r["status"],
        latency_ms=r["latency_ms"],
        changes=orjson.loads(r["changes"]) if r["changes"] else [],
        quirks=orjson.loads(r["quirks"]) if r["quirks"] else [],
        detail=r["detail"],
    )


class JournalQueries:
    """The Store's journal methods (a mixin: `Store` provides `db`)."""

    db: Database

    async def journal_after(
        self, position: str | None, limit: int
    ) -> tuple[list[JournalEntry], str | None]:
        """Journal rows after `position` (None: from the oldest), in commit-safe order, and
        the position of the last one (or `position` again when nothing is new).

        A position is opaque: `id` on SQLite, whose one writer commits in id order;
        `txid.id` on PostgreSQL, where rows are read in (txid, id) order up to the oldest
        transaction still running (Dialect.journal_txid), so a row whose transaction
        commits late is still ahead of the reader, never behind it. Raises ValueError for
        a position this database never gave out.
        """
        txid = self.db.dialect.journal_txid
        after = (0, 0) if position is None else parse_position(position, txid, "a journal")
        if txid:
            sql = (
                "SELECT *, txid::text AS position_txid FROM journal "
                "WHERE (txid, id) > (?::xid8, ?) "
                "AND txid < pg_snapshot_xmin(pg_current_snapshot()) "
                "ORDER BY txid, id LIMIT ?"
            )
            params: list[Any] = [str(after[0]), after[1], limit]
        else:
            sql = "SELECT * FROM journal WHERE id > ? ORDER BY id LIMIT ?"
            params = [after[1], limit]
        async with self.db.read() as conn:
            rows = await fetch_all(conn, sql, params)
        if not rows:
            return [], position
        last = rows[-1]
        following = spell((int(last["position_txid"]) if txid else 0, last["id"]), txid)
        return [journal_entry(r) for r in rows], following

    async def journal_now(self) -> str:
        """The position after every journal row committed so far, to follow from."""
        async with self.db.read() as conn:
            high = await high_water(conn, self.db.dialect, "journal")
        return spell(high or (0, 0), self.db.dialect.journal_txid)

    async def record_failure(
        self,
        ctx: WriteContext,
        status: int,
        detail: str,
        resource_type: str | None = None,
        resource_id: str | None = None,
    ) -> None:
        """Journal a rejected write; the write itself left no trace."""
        await self.db.write(
            lambda conn: record(conn, ctx, resource_type, resource_id, status, [], detail)
        )

    async def prune_journal(self, before: str, *, chunk: int = 5_000) -> int:
        """Delete journal rows and events written before `before` (RFC 3339); returns how
        many journal rows. Events share the journal's retention (docs/events.md).

        In chunks, each its own short transaction, so pruning a large backlog never holds
        the writer long enough to delay an IdP's writes noticeably.
        """
        removed, dialect = 0, self.db.dialect
        while True:
            counts = await self.db.exclusive(
                "journal retention",
                lambda conn: [
                    prune_events(conn, dialect, before, chunk),
                    _prune(conn, before, chunk),
                ],
            )
            if counts is None:  # another process is pruning (several processes, one database)
                return removed
            removed += counts[-1]
            if max(counts) < chunk:
                return removed

    async def journal_rows(self) -> int:
        """How many rows the journal holds, from its id range: two index lookups, where
        count(*) reads every row. Exact while rows are appended (ids ascending) and pruned
        oldest first (prune_journal); a clock stepped back can leave a gap it counts."""
        sql = "SELECT (SELECT max(id) FROM journal) - (SELECT min(id) FROM journal) + 1"
        async with self.db.read(lookup=True) as conn:
            rows = await fetch_all(conn, sql)
        return int(rows[0][0] or 0) if rows else 0

    async def search_journal(self, query: JournalQuery) -> list[JournalEntry]:
        """Journal rows matching every given criterion, newest first, keyset-paged by id."""
        sql, params = journal_sql(query)
        async with self.db.read() as conn:
            return [journal_entry(r) for r in await fetch_all(conn, sql, params)]
