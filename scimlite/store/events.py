"""Events for applications (docs/events.md): typed changes derived from a write's journal
records, inserted by the same call and in the same transaction as its journal row, so an
event commits exactly when its write does (never lost, never invented).

An event stores what the API needs to render it later: the snapshots of the user and the
team after the change (the last ones, for a deleted resource) as stored resources, never
as SCIM documents (api/events.py renders them). A team's snapshot leaves out its members:
a membership change on a team of 50,000 must not copy the roster into every event.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from scimlite.store.database import Conn, Database, Dialect
from scimlite.store.kinds import GROUPS, USERS, Kind, row_to_resource
from scimlite.store.records import Event, Ref, Resource
from scimlite.store.rows import chunks, fetch_all, fetch_all_sync, marks

EVENT_TYPES: tuple[str, ...] = (
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "team.created",
    "team.renamed",
    "team.deleted",
    "team.member_added",
    "team.member_removed",
)
Operation = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Derived:
    """One event a write yields, before its snapshots are read."""

    type: str
    user_id: str | None
    group_id: str | None
    changes: list[dict[str, Any]] | None = None


def derive(
    kind: Kind, op: Operation, resource_id: str, records: list[dict[str, Any]]
) -> list[Derived]:
    """The events of one write, from the change records of its journal row (pure).

    Membership records (they carry `values`) yield one `team.member_added`/`_removed` per
    pair; a change of `active` that flips the user's state yields only its typed event;
    a team's deletion yields `team.deleted` alone (its roster is gone with it).
    """
    user = kind is USERS
    doc = [r for r in records if "values" not in r]
    pairs = [r for r in records if "values" in r and r.get("path") == kind.refs_attr]
    own = (resource_id, None) if user else (None, resource_id)
    noun = "user" if user else "team"
    events: list[Derived] = []
    if op == "create":
        events.append(Derived(f"{noun}.created", *own))
    elif op == "update":
        events.extend(_updated(user, own, doc))
    if op == "delete" and not user:
        return [Derived("team.deleted", *own)]
    for r in pairs:
        added = r.get("op") == "add"
        for other in r["values"]:
            ids = (resource_id, other) if user else (other, resource_id)
            events.append(Derived("team.member_added" if added else "team.member_removed", *ids))
    if op == "delete":
        events.append(Derived("user.deleted", *own))
    return events


def _updated(
    user: bool, own: tuple[str | None, str | None], doc: list[dict[str, Any]]
) -> list[Derived]:
    if not user:
        renamed = any(r["path"] == "displayName" for r in doc)
        return [Derived("team.renamed", *own, _changes(doc))] if renamed else []
    events: list[Derived] = []
    active = next((r for r in doc if r["path"] == "active"), None)
    if active is not None and (active.get("old") is False) != (active.get("new") is False):
        flipped = "user.deactivated" if active.get("new") is False else "user.reactivated"
        events.append(Derived(flipped, *own))
        doc = [r for r in doc if r is not active]
    if doc:
        events.insert(0, Derived("user.updated", *own, _changes(doc)))
    return events


def _changes(doc: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal's diff records as events show them: `{path, old, new}` (values clipped
    as the journal clips them, scim/diff.py)."""
    return [{"path": r["path"], "old": r.get("old"), "new": r.get("new")} for r in doc]


def emit(
    conn: Conn,
    dialect: Dialect,
    journal: tuple[int, str],
    token_name: str | None,
    events: list[Derived],
    gone: Resource | None = None,
) -> None:
    """Insert the events of the write whose journal row is `journal` (id, at), with the
    snapshots of their resources as this transaction sees them; `gone`: the last state of
    a resource the write deleted."""
    if not events:
        return
    known = {gone.id: gone} if gone is not None else {}
    users = _snapshots(conn, dialect, USERS, [e.user_id for e in events if e.user_id], known)
    teams = _snapshots(conn, dialect, GROUPS, [e.group_id for e in events if e.group_id], known)
    journal_id, at = journal
    conn.executemany(
        "INSERT INTO events (journal_id, at, type, token_name, user_id, group_id, "
        "user_snapshot, team_snapshot, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                journal_id,
                at,
                e.type,
                token_name,
                e.user_id,
                e.group_id,
                users.get(e.user_id) if e.user_id else None,
                teams.get(e.group_id) if e.group_id else None,
                None if e.changes is None else orjson.dumps(e.changes).decode(),
            )
            for e in events
        ],
    )


def _snapshots(
    conn: Conn, dialect: Dialect, kind: Kind, ids: list[str], known: dict[str, Resource]
) -> dict[str, str]:
    """Stored snapshots (JSON) by id: a user with its teams, a team without its members."""
    wanted = [i for i in dict.fromkeys(ids) if i not in known]
    with_refs = kind.refs_bounded
    refs = f", {kind.refs_sql(dialect)} AS refs" if with_refs else ""
    a = kind.alias
    found = {i: known[i] for i in ids if i in known}
    for chunk in chunks(wanted):
        sql = (
            f"SELECT {a}.id, {a}.version, {a}.created, {a}.last_modified, {a}.doc{refs} "  # noqa: S608
            f"FROM {kind.table} {a} WHERE {a}.id IN ({marks(len(chunk))})"
        )
        for row in fetch_all_sync(conn, sql, chunk):
            found[row["id"]] = row_to_resource(row, with_refs)
    return {i: _dump(r, with_refs) for i, r in found.items()}


def _dump(resource: Resource, with_refs: bool) -> str:
    snapshot: dict[str, Any] = {
        "id": resource.id,
        "version": resource.version,
        "created": resource.created,
        "last_modified": resource.last_modified,
        "doc": resource.doc,
    }
    if with_refs:
        snapshot["refs"] = [[r.id, r.display] for r in resource.refs or []]
    return orjson.dumps(snapshot).decode()


def _load(text: str | None) -> Resource | None:
    if text is None:
        return None
    s = orjson.loads(text)
    refs = None if "refs" not in s else [Ref(i, d) for i, d in s["refs"]]
    return Resource(s["id"], s["version"], s["created"], s["last_modified"], s["doc"], refs)


# ASCII digits only (str.isdigit() takes "١" for 1), and what a bigint holds.
_ID_POSITION = re.compile(r"([0-9]{1,19})")
_TXID_POSITION = re.compile(r"([0-9]{1,19})\.([0-9]{1,19})")
_BIGINT = 2**63 - 1


class FellBehind(Exception):
    """Retention deleted events after the consumer's position: it must resync."""

    def __init__(self, position: str, pruned: str) -> None:
        super().__init__(
            f"events after {position} up to {pruned} were deleted by retention "
            "(SCIMLITE_JOURNAL_RETENTION_DAYS), so this feed cannot be resumed from there; "
            "resync: take a position with after=now, read the whole directory (GET /Users "
            "and /Groups), then follow from that position (docs/events.md)"
        )


def prune_events(conn: Conn, dialect: Dialect, before: str, chunk: int) -> int:
    """Delete up to `chunk` events older than `before`, oldest first, and remember the
    newest position deleted (events_pruned), so a consumer behind it is told (FellBehind)
    rather than silently skipping what it never saw. Returns how many were deleted."""
    txid = "txid::text::bigint" if dialect.journal_txid else "0"
    gone = conn.execute(
        "DELETE FROM events WHERE id IN "  # noqa: S608
        f"(SELECT id FROM events WHERE at < ? ORDER BY id LIMIT ?) RETURNING {txid}, id",
        (before, chunk),
    ).fetchall()
    if gone:
        newest = max((int(r[0]), int(r[1])) for r in gone)
        conn.execute(
            "INSERT INTO events_pruned (one, txid, id) VALUES (1, ?, ?) ON CONFLICT (one) DO "
            "UPDATE SET txid = excluded.txid, id = excluded.id "
            "WHERE (excluded.txid, excluded.id) > (events_pruned.txid, events_pruned.id)",
            newest,
        )
    return len(gone)


def parse_position(position: str, txid: bool, what: str) -> tuple[int, int]:
    """A position this database gives out, as (txid, id) (txid 0 on SQLite); ValueError
    for anything else. `what` names the feed in the message ("a journal")."""
    match = (_TXID_POSITION if txid else _ID_POSITION).fullmatch(position)
    parts = [int(p) for p in match.groups()] if match else []
    if not parts or max(parts) > _BIGINT:
        raise ValueError(f"not {what} position of this database: {position[:40]!r}")
    return (parts[0], parts[1]) if txid else (0, parts[0])


def position_before(position: str, txid: bool) -> str:
    """The position a feed resumes from to read `position`'s event again (and what
    follows it): a webhook's "resend from here"."""
    parsed = parse_position(position, txid, "an event")
    return spell((parsed[0], max(parsed[1] - 1, 0)), txid)


class Commits:
    """Wakes long-polls when a write of this process commits (the API still polls, for
    writes by other processes on a shared database)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def pending(self) -> asyncio.Event:
        """What the next commit sets: taken before a read and waited on after it (`since`),
        so a commit that lands during the read is not missed."""
        return self._event

    async def wait(self, seconds: float, since: asyncio.Event | None = None) -> None:
        """Until the next commit (or one after `since` was taken), or `seconds` have passed."""
        with suppress(TimeoutError):
            await asyncio.wait_for((since or self._event).wait(), seconds)


class EventQueries:
    """The Store's event methods (a mixin: `Store` provides `db`)."""

    db: Database

    async def events_after(
        self, position: str | None, limit: int, types: Collection[str] = ()
    ) -> tuple[list[Event], str]:
        """Events after `position` (None: from the oldest retained), in commit order, only
        of `types` if given; and the position to resume from, always a real one. FellBehind
        when retention deleted events after `position`; ValueError for a foreign position.

        The feed is read up to a high-water mark: SQLite's newest id (its one writer
        commits in id order); on PostgreSQL the newest (txid, id) among transactions older
        than the oldest still running (Dialect.journal_txid), so an event whose transaction
        commits late is always still ahead. A page that ends before `limit` resumes from the
        mark, so a filtered consumer never rescans events it skipped.
        """
        txid = self.db.dialect.journal_txid
        after = (0, 0) if position is None else parse_position(position, txid, "an event")
        async with self.db.read() as conn:
            if position is not None:
                pruned = await fetch_all(conn, "SELECT txid, id FROM events_pruned")
                if pruned and (int(pruned[0][0]), int(pruned[0][1])) > after:
                    newest = (int(pruned[0][0]), int(pruned[0][1]))
                    raise FellBehind(spell(after, txid), spell(newest, txid))
            high = await self._high_water(conn)
            if high is None or high <= after:
                return [], spell(after, txid)
            where = "id > ? AND id <= ?"
            params: list[Any] = [after[1], high[1]]
            if txid:
                where = "(txid, id) > (?::xid8, ?) AND (txid, id) <= (?::xid8, ?)"
                params = [str(after[0]), after[1], str(high[0]), high[1]]
            if types:
                where += f" AND type IN ({marks(len(types))})"
                params.extend(types)
            order = "txid, id" if txid else "id"
            extra = ", txid::text AS position_txid" if txid else ""
            sql = f"SELECT *{extra} FROM events WHERE {where} ORDER BY {order} LIMIT ?"  # noqa: S608
            rows = await fetch_all(conn, sql, [*params, limit])
        events = [_event(r, txid) for r in rows]
        if len(rows) < limit:
            return events, spell(high, txid)
        return events, events[-1].position

    async def events_now(self) -> str:
        """The position after every event committed so far (`after=now`)."""
        txid = self.db.dialect.journal_txid
        async with self.db.read() as conn:
            high = await self._high_water(conn)
        return spell(high or (0, 0), txid)

    async def _high_water(self, conn: Any) -> tuple[int, int] | None:
        return await high_water(conn, self.db.dialect, "events")

    async def recent_events(
        self, types: Collection[str], before: int | None, limit: int
    ) -> list[tuple[int, Event]]:
        """Events newest first by row id (the console's Events page), only of `types` if
        given, keyset-paged: `before` is the row id of the last one a page showed."""
        txid = self.db.dialect.journal_txid
        clauses: list[str] = []
        params: list[Any] = []
        if types:
            clauses.append(f"type IN ({marks(len(types))})")
            params.extend(types)
        if before is not None:
            clauses.append("id < ?")
            params.append(before)
        where = " AND ".join(clauses) or "TRUE"
        extra = ", txid::text AS position_txid" if txid else ""
        sql = f"SELECT *{extra} FROM events WHERE {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
        async with self.db.read() as conn:
            rows = await fetch_all(conn, sql, [*params, limit])
        return [(int(r["id"]), _event(r, txid)) for r in rows]


async def high_water(conn: Any, dialect: Dialect, table: str) -> tuple[int, int] | None:
    """The newest (txid, id) of `table` (`journal` or `events`) a follower may read up to:
    on SQLite the newest id, as its one writer commits in id order; on PostgreSQL the newest
    among transactions older than the oldest still running (Dialect.journal_txid)."""
    if dialect.journal_txid:
        sql = (
            f"SELECT txid::text, id FROM {table} "  # noqa: S608
            "WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY txid DESC, id DESC LIMIT 1"
        )
        rows = await fetch_all(conn, sql)
        return (int(rows[0][0]), int(rows[0][1])) if rows else None
    rows = await fetch_all(conn, f"SELECT max(id) FROM {table}")  # noqa: S608
    return (0, int(rows[0][0])) if rows and rows[0][0] is not None else None


def spell(position: Sequence[int], txid: bool) -> str:
    """A (txid, id) as the opaque position a follower is given."""
    return f"{position[0]}.{position[1]}" if txid else str(position[1])


def _event(r: Any, txid: bool) -> Event:
    return Event(
        position=spell((int(r["position_txid"]) if txid else 0, r["id"]), txid),
        type=r["type"],
        at=r["at"],
        token_name=r["token_name"],
        user=_load(r["user_snapshot"]),
        team=_load(r["team_snapshot"]),
        changes=None if r["changes"] is None else orjson.loads(r["changes"]),
    )


def split_types(text: str) -> tuple[str, ...]:
    """A comma-separated list of event types as the feed, the CLI and the console take it:
    each name stripped, duplicates dropped, the order kept (an empty name stays, to be
    refused as unknown where it counts)."""
    return tuple(dict.fromkeys(t.strip() for t in text.split(",")))


def unknown_types(names: Iterable[str]) -> list[str]:
    """The names in `names` that are no event type."""
    return [n for n in names if n not in EVENT_TYPES]
