"""The store: the only module that speaks SQL (with sqlfilter, its filter compiler).

Users and teams share one implementation, `ResourceStore`, parametrised by a small
`_Kind` that names the table, the derived index columns and the other side of the
membership relation. Every write runs in one writer transaction that also appends the
journal row, so a write and its record commit together or not at all.
"""

from __future__ import annotations

import builtins
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import aiosqlite
import orjson

from scimlite import timeutil, tokens
from scimlite.journal import clipped, diff_docs
from scimlite.scim.errors import (
    DETAIL_CHARS,
    Conflict,
    InvalidValue,
    NotFound,
    PreconditionFailed,
    clip,
)
from scimlite.scim.filter import AttrPath, Compare, Filter
from scimlite.scim.schema import GROUP_RESOURCE, USER_RESOURCE, ResourceType
from scimlite.store.sqlfilter import compile_filter, compile_sort, text_phrases
from scimlite.store.sqlite.db import USER_TEXT, Batch, Database, fold

T = TypeVar("T")
_CHUNK = 500  # ids bound per statement; far below SQLite's variable limit
_RARE_MIN = 1000  # a substring needle this many users contain is still read from users_text


@dataclass(slots=True)
class Ref:
    """One side of a membership as shown on the other: a team on a user, a user on a team."""

    id: str
    display: str | None


@dataclass(slots=True)
class Resource:
    """A stored User or Group: its document plus server-owned metadata."""

    id: str
    version: int
    created: str
    last_modified: str
    doc: dict[str, Any]
    refs: list[Ref] | None  # User.groups / Group.members; None when not loaded


@dataclass(slots=True)
class WriteContext:
    """Who is writing and how, for the journal row written with the change."""

    token_name: str | None
    method: str
    path: str
    started: float = field(default_factory=time.monotonic)
    quirks: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListQuery:
    filter: Filter | None = None
    start_index: int = 1  # RFC 7644 §3.4.2.4: 1-based
    count: int = 100
    sort_by: AttrPath | None = None
    descending: bool = False
    load_refs: bool = True
    # Keyset paging: only rows after this position (default order only; RFC 9865 cursors).
    after: int | None = None
    # Team members a page may carry, summed over its teams (None: no bound); see list().
    max_members: int | None = None


@dataclass(slots=True)
class Page:
    total: int
    items: list[Resource]
    more: bool = False  # rows remain after this page
    last_position: int | None = None  # keyset position of the last item


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """A delta to a resource's memberships, O(changed ids) to apply."""

    kind: Literal["add", "remove", "replace"]
    ids: tuple[str, ...]


@dataclass(slots=True)
class Update:
    """What a read-modify-write (PATCH) produced: the new document and membership deltas."""

    doc: dict[str, Any]
    membership: list[MembershipChange] = field(default_factory=list)
    quirks: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    scope: tokens.Scope
    created: str
    last_used: str | None
    revoked: str | None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    at: str
    token_name: str | None
    method: str
    path: str
    resource_type: str | None
    resource_id: str | None
    status: int
    latency_ms: float | None
    changes: list[dict[str, Any]]
    quirks: list[str]
    detail: str | None


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


async def _rows(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """All rows of one statement in a single hop to the connection's thread.

    `execute` + `fetchone` + cursor close are three hops; on a point lookup the hops,
    not SQLite, are most of the cost.
    """
    return list(await conn.execute_fetchall(sql, params))


def _rows_sync(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _row_sync(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    return conn.execute(sql, params).fetchone()


def journal_sql(query: JournalQuery) -> tuple[str, list[Any]]:
    """The SELECT for search_journal and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("resource_type = ?", query.resource_type),
        ("resource_id = ?", query.resource_id),
        ("token_name = ?", query.token_name),
        ("status >= ?", query.status_min),
        ("status <= ?", query.status_max),
        ("at >= ?", query.since),
        ("at <= ?", query.until),
        ("id < ?", query.before_id),
    ):
        if value is not None:
            clauses.append(column)
            params.append(value)
    if query.status_min is not None and query.status_min >= 400:
        # Spelled as a constant: SQLite uses the partial index journal_errors only when the
        # query repeats its WHERE, and rare errors must not mean reading the whole journal.
        clauses.append("status >= 400")
    where = " AND ".join(clauses) or "1"
    sql = f"SELECT * FROM journal WHERE {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
    return sql, [*params, query.limit]


def index_pending_text(conn: sqlite3.Connection, limit: int) -> int:
    """Rewrite the users_text rows of up to `limit` pending users, in the caller's transaction."""
    pending = "SELECT seq FROM users_text_pending ORDER BY seq LIMIT ?"
    conn.execute(f"DELETE FROM users_text WHERE rowid IN ({pending})", (limit,))  # noqa: S608
    conn.execute(
        f"INSERT INTO users_text (rowid, text) SELECT u.seq, {USER_TEXT} "  # noqa: S608
        f"FROM users u WHERE u.seq IN ({pending})",
        (limit,),
    )
    done = f"DELETE FROM users_text_pending WHERE seq IN ({pending})"  # noqa: S608
    return conn.execute(done, (limit,)).rowcount


async def _rare_phrases(conn: aiosqlite.Connection, phrases: set[str]) -> set[str]:
    """The users_text phrases that match few enough users to read them from the index.

    "Few" is a tenth of all users (at least 1,000): beyond that a MATCH hands SQLite
    nearly every rowid, and testing each row is cheaper (docs/benchmarks.md). The LIMIT
    keeps the probe cheap for a needle everybody has.
    """
    if not phrases:
        return set()
    row = await _row(conn, "SELECT n FROM row_counts WHERE name = 'users'", ())
    limit = max(_RARE_MIN, (int(row[0]) if row else 0) // 10)
    rare = set()
    for phrase in phrases:
        row = await _row(
            conn,
            "SELECT count(*) FROM (SELECT 1 FROM users_text WHERE users_text MATCH ? LIMIT ?)",
            (phrase, limit + 1),
        )
        if row is not None and int(row[0]) <= limit:
            rare.add(phrase)
    return rare


async def _row(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    rows = await _rows(conn, sql, params)
    return rows[0] if rows else None


def _etag_versions(if_match: str | None) -> set[int] | None:
    """The versions an If-Match header lists; None when any version matches.

    RFC 7232 §3.1: the header is `*` (any current representation) or a list of entity tags,
    and matches when any of them does. A tag that is not one of ours matches nothing.
    """
    if if_match is None:
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        return None
    versions: set[int] = set()
    for tag in tags:
        try:
            versions.add(int(tag.removeprefix("W/").strip('"')))
        except ValueError:
            continue
    return versions


@dataclass(frozen=True, slots=True)
class _Kind:
    resource: ResourceType
    table: str
    alias: str
    columns: Callable[[dict[str, Any]], dict[str, Any]]
    # memberships column for this side and the other side, and the other side's table
    own_col: str
    other_col: str
    other_table: str
    other_label: str
    refs_sql: str  # correlated subquery: JSON array of [id, display] for alias row

    @property
    def name(self) -> str:
        return self.resource.id


def _primary_email(doc: dict[str, Any]) -> str | None:
    emails = doc.get("emails") or []
    for email in emails:
        if email.get("primary") and email.get("value"):
            return str(email["value"])
    for email in emails:
        if email.get("value"):
            return str(email["value"])
    return None


def _user_columns(doc: dict[str, Any]) -> dict[str, Any]:
    display = doc.get("displayName")
    return {
        "user_name": doc["userName"],
        "user_name_ci": fold(doc["userName"]),
        "external_id": doc.get("externalId"),
        "display_name": display,
        "display_name_ci": fold(display) if display is not None else None,
        "active": 0 if doc.get("active") is False else 1,
        "email": _primary_email(doc),
    }


def _group_columns(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "display_name": doc["displayName"],
        "display_name_ci": fold(doc["displayName"]),
        "external_id": doc.get("externalId"),
    }


USERS = _Kind(
    USER_RESOURCE,
    "users",
    "u",
    _user_columns,
    own_col="user_id",
    other_col="group_id",
    other_table="groups",
    other_label="team",
    refs_sql=(
        "(SELECT json_group_array(json_array(g.id, g.display_name)) FROM memberships m "
        "JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id)"
    ),
)
GROUPS = _Kind(
    GROUP_RESOURCE,
    "groups",
    "g",
    _group_columns,
    own_col="group_id",
    other_col="user_id",
    other_table="users",
    other_label="user",
    refs_sql=(
        "(SELECT json_group_array(json_array(x.id, coalesce(x.display_name, x.user_name))) "
        "FROM memberships m JOIN users x ON x.id = m.user_id WHERE m.group_id = g.id)"
    ),
)


def _row_to_resource(row: aiosqlite.Row, with_refs: bool) -> Resource:
    refs = None
    if with_refs:
        refs = [Ref(i, d) for i, d in orjson.loads(row["refs"] or "[]")]
    return Resource(
        id=row["id"],
        version=row["version"],
        created=row["created"],
        last_modified=row["last_modified"],
        doc=orjson.loads(row["doc"]),
        refs=refs,
    )


def _unique_match(f: Filter | None) -> bool:
    """A filter that matches at most one row through a unique index: id or userName eq."""
    return isinstance(f, Compare) and _indexed_match(f) and f.path.attr in ("id", "userName")


def _indexed_match(f: Filter | None) -> bool:
    """A filter an index answers: `eq` on a column with its own index (db.py), the lookups
    IdPs send before each write. They read from the lookup reader (Database.read)."""
    return (
        isinstance(f, Compare)
        and f.op == "eq"
        and f.path.urn is None
        and f.path.sub_attr is None
        and f.path.attr in ("id", "userName", "externalId", "displayName")
        and isinstance(f.value, str)
    )


class ResourceStore:
    """Create, read, replace, update, delete and list one kind of resource."""

    def __init__(self, db: Database, kind: _Kind) -> None:
        self._db = db
        self._kind = kind

    def _select(self, with_refs: bool, *, position: bool = False) -> str:
        k = self._kind
        refs = f", {k.refs_sql} AS refs" if with_refs else ""
        pos = f", {k.alias}.rowid AS position" if position else ""
        return (
            f"SELECT {k.alias}.id, {k.alias}.version, {k.alias}.created, "  # noqa: S608
            f"{k.alias}.last_modified, {k.alias}.doc{refs}{pos} FROM {k.table} {k.alias}"
        )

    async def _run(self, batch: Batch | None, write: Callable[[sqlite3.Connection], T]) -> T:
        """A write in one hop: its own transaction, or a savepoint inside a batch's."""
        if batch is None:
            return await self._db.write(write)
        return await batch.run(write)

    async def get(self, resource_id: str, *, load_refs: bool = True) -> Resource:
        """One statement: the row and its memberships, so they always agree."""
        sql = self._by_id(load_refs)
        # A user's teams are few; a team's roster may be 50,000 rows: only bounded reads
        # run inline on the event loop.
        rows = None
        if self._kind is USERS or not load_refs:
            rows = self._db.read_inline(sql, (resource_id,))
        if rows is None:
            async with self._db.read(lookup=True) as conn:
                rows = await _rows(conn, sql, (resource_id,))
        return self._found(rows[0] if rows else None, resource_id, load_refs)

    def _fetch_sync(
        self, conn: sqlite3.Connection, resource_id: str, *, load_refs: bool = True
    ) -> Resource:
        """`get` on the writer's own connection, inside its transaction."""
        row = _row_sync(conn, self._by_id(load_refs), (resource_id,))
        return self._found(row, resource_id, load_refs)

    def _by_id(self, load_refs: bool) -> str:
        return f"{self._select(load_refs)} WHERE {self._kind.alias}.id = ?"

    def _found(self, row: Any, resource_id: str, load_refs: bool) -> Resource:
        if row is None:
            raise NotFound(f"{self._kind.name} {resource_id!r} not found")
        return _row_to_resource(row, load_refs)

    async def list(self, query: ListQuery) -> Page:
        if _unique_match(query.filter) and (self._kind is USERS or not query.load_refs):
            page = self._list_inline(query)
            if page is not None:
                return page
        k = self._kind
        phrases = set() if query.filter is None else text_phrases(query.filter, k.resource)
        order = f"{k.alias}.rowid"
        if query.sort_by is not None:
            direction = "DESC" if query.descending else "ASC"
            # RFC 7644 §3.4.2.3: missing values sort last ascending, first descending.
            nulls = "NULLS FIRST" if query.descending else "NULLS LAST"
            order = f"{compile_sort(query.sort_by, k.resource)} {direction} {nulls}, {order}"
        async with self._db.snapshot(lookup=_indexed_match(query.filter)) as conn:
            where: str = "1"
            params: builtins.list[object] = []
            if query.filter is not None:
                rare = await _rare_phrases(conn, phrases)
                where, params = compile_filter(query.filter, k.resource, use_text=rare.__contains__)
            page_where, page_params, offset = where, list(params), query.start_index - 1
            if query.after is not None and query.sort_by is None:
                page_where = f"({where}) AND {k.alias}.rowid > ?"
                page_params.append(query.after)
                offset = 0
            count_sql = f"SELECT count(*) FROM {k.table} {k.alias} WHERE {where}"  # noqa: S608
            count_params = params
            if query.filter is None:  # kept by triggers (db.py migration 3)
                count_sql, count_params = "SELECT n FROM row_counts WHERE name = ?", [k.table]
            row = await _row(conn, count_sql, count_params)
            total = int(row[0]) if row else 0
            rows: builtins.list[aiosqlite.Row] = []
            more = False
            if query.count > 0 and total > 0:
                # Deferred join: the page's row ids are chosen first, from whatever narrow
                # index holds the filter's and the sort's columns; only the page's rows
                # are then read whole (1M users: a sorted page 900,000 deep, or a
                # substring search, no longer reads every document).
                a = k.alias
                chosen = (
                    f"SELECT {a}.rowid FROM {k.table} {a} WHERE {page_where} "  # noqa: S608
                    f"ORDER BY {order} LIMIT ? OFFSET ?"
                )
                args: builtins.list[object] = [*page_params, query.count + 1, offset]
                if k is GROUPS and query.load_refs and query.max_members is not None:
                    chosen, args, more = await self._within_members(
                        conn, chosen, args, order, query.count, query.max_members
                    )
                sql = (
                    f"{self._select(query.load_refs, position=True)} WHERE {a}.rowid IN "
                    f"({chosen}) ORDER BY {order}"
                )
                rows = await _rows(conn, sql, args)
        more = more or len(rows) > query.count
        rows = rows[: query.count]
        return Page(
            total=total,
            items=[_row_to_resource(r, query.load_refs) for r in rows],
            more=more,
            last_position=rows[-1]["position"] if rows else None,
        )

    async def _within_members(
        self,
        conn: aiosqlite.Connection,
        chosen: str,
        args: builtins.list[object],
        order: str,
        count: int,
        budget: int,
    ) -> tuple[str, builtins.list[object], bool]:
        """The leading teams of a page whose rosters sum to at most `budget` members.

        A list response holds every roster it shows in memory at once, so a page of large
        teams ends early instead (itemsPerPage < count, which RFC 7644 §3.4.2.4 lets a
        client page past); a team larger than the budget comes alone, whole, as from GET
        /Groups/{id}. Rosters are counted from the memberships index, never loaded. Returns
        the page's row-id query, its parameters, and whether teams were left for later.
        """
        sizes = await _rows(
            conn,
            f"SELECT g.rowid, (SELECT count(*) FROM memberships m WHERE m.group_id = g.id) "  # noqa: S608
            f"FROM groups g WHERE g.rowid IN ({chosen}) ORDER BY {order}",
            args,
        )
        keep: builtins.list[object] = []
        members = 0
        for position, size in sizes[:count]:
            if keep and members + size > budget:
                break
            keep.append(position)
            members += size
        page = "SELECT value FROM json_each(?)"
        return page, [orjson.dumps(keep).decode()], len(sizes) > len(keep)

    def _list_inline(self, query: ListQuery) -> Page | None:
        """An IdP's exists-check (`userName eq "…"`): at most one row, read inline."""
        assert query.filter is not None
        where, params = compile_filter(query.filter, self._kind.resource)
        sql = f"{self._select(query.load_refs)} WHERE {where}"
        rows = self._db.read_inline(sql, params)
        if rows is None:
            return None
        items = [_row_to_resource(r, query.load_refs) for r in rows]
        start = query.start_index - 1
        return Page(total=len(items), items=items[start : start + query.count])

    async def create(
        self,
        doc: dict[str, Any],
        refs: builtins.list[str] | None,
        ctx: WriteContext,
        *,
        batch: Batch | None = None,
        load_refs: bool = True,
    ) -> Resource:
        k = self._kind
        resource_id = str(uuid.uuid4())
        stamp = timeutil.now()
        columns = k.columns(doc)
        names = ["id", *columns, "version", "created", "last_modified", "doc"]
        values = [resource_id, *columns.values(), 1, stamp, stamp, orjson.dumps(doc).decode()]

        def write(conn: sqlite3.Connection) -> Resource:
            try:
                conn.execute(
                    f"INSERT INTO {k.table} ({', '.join(names)}) "  # noqa: S608
                    f"VALUES ({_marks(len(names))})",
                    values,
                )
            except sqlite3.IntegrityError:
                # The UNIQUE index decides; this names the holder (or re-raises a surprise).
                self._check_unique(conn, columns, None)
                raise
            self._write_side_tables(conn, resource_id, doc, new=True)
            changes = diff_docs({}, doc)
            if refs:
                change = MembershipChange("replace", tuple(refs))
                changes += self._apply_membership(conn, resource_id, [change], stamp)
            _journal(conn, ctx, k.name, resource_id, 201, changes)
            if refs:
                return self._fetch_sync(conn, resource_id, load_refs=load_refs)
            # Nothing server-computed is left to read back: a new resource without teams.
            return Resource(resource_id, 1, stamp, stamp, doc, [] if load_refs else None)

        return await self._run(batch, write)

    async def replace(
        self,
        resource_id: str,
        doc: dict[str, Any],
        refs: builtins.list[str] | None,
        if_match: str | None,
        ctx: WriteContext,
        *,
        batch: Batch | None = None,
        load_refs: bool = True,
    ) -> Resource:
        """PUT (RFC 7644 §3.5.1): the document is replaced whole; refs only when given."""

        def replace_doc(_current: Resource) -> Update:
            changes: builtins.list[MembershipChange] = (
                [] if refs is None else [MembershipChange("replace", tuple(refs))]
            )
            return Update(doc=doc, membership=changes)

        return await self.update(
            resource_id, replace_doc, if_match, ctx, batch=batch, load_refs=load_refs
        )

    async def update(
        self,
        resource_id: str,
        change: Callable[[Resource], Update],
        if_match: str | None,
        ctx: WriteContext,
        *,
        batch: Batch | None = None,
        load_refs: bool = True,
    ) -> Resource:
        """Read-modify-write inside one transaction; `change` is pure and may raise.

        `load_refs=False` answers without the memberships: an IdP adding one member to a
        team of 50,000 asks for no roster back, and must not pay for one.
        """
        k = self._kind

        def write(conn: sqlite3.Connection) -> Resource:
            current = self._current(conn, resource_id, if_match)
            update = change(current)
            ctx.quirks.extend(update.quirks)
            stamp = timeutil.now()
            changes = diff_docs(current.doc, update.doc)
            if update.doc != current.doc:
                columns = k.columns(update.doc)
                sets = ", ".join(f"{c} = ?" for c in columns)
                try:
                    conn.execute(
                        f"UPDATE {k.table} SET {sets}, doc = ?, "  # noqa: S608
                        "version = version + 1, last_modified = ? WHERE id = ?",
                        [*columns.values(), orjson.dumps(update.doc).decode(), stamp, resource_id],
                    )
                except sqlite3.IntegrityError:
                    self._check_unique(conn, columns, resource_id)
                    raise
                if update.doc.get("emails") != current.doc.get("emails"):
                    self._write_side_tables(conn, resource_id, update.doc, new=False)
            membership = self._apply_membership(conn, resource_id, update.membership, stamp)
            if membership and update.doc == current.doc:
                self._bump(conn, k.table, [resource_id], stamp)
            _journal(conn, ctx, k.name, resource_id, 200, changes + membership)
            return self._fetch_sync(conn, resource_id, load_refs=load_refs)

        return await self._run(batch, write)

    async def delete(
        self,
        resource_id: str,
        if_match: str | None,
        ctx: WriteContext,
        *,
        batch: Batch | None = None,
    ) -> None:
        k = self._kind

        def write(conn: sqlite3.Connection) -> None:
            current = self._current(conn, resource_id, if_match)
            stamp = timeutil.now()
            others = [
                r[0]
                for r in _rows_sync(
                    conn,
                    f"SELECT {k.other_col} FROM memberships WHERE {k.own_col} = ?",  # noqa: S608
                    (resource_id,),
                )
            ]
            conn.execute(f"DELETE FROM {k.table} WHERE id = ?", (resource_id,))  # noqa: S608
            # The other side's `groups`/`members` changed, so its version moves too.
            self._bump(conn, k.other_table, others, stamp)
            _journal(conn, ctx, k.name, resource_id, 204, diff_docs(current.doc, {}))

        await self._run(batch, write)

    def _current(
        self, conn: sqlite3.Connection, resource_id: str, if_match: str | None
    ) -> Resource:
        k = self._kind
        current = self._fetch_sync(conn, resource_id, load_refs=False)
        expected = _etag_versions(if_match)
        # RFC 7644 §3.14: a stale If-Match fails; checked inside the write transaction.
        if expected is not None and current.version not in expected:
            raise PreconditionFailed(
                f'{k.name} {resource_id!r} is at version W/"{current.version}", '
                f"not {if_match}; re-read it and retry"
            )
        return current

    def _check_unique(
        self, conn: sqlite3.Connection, columns: dict[str, Any], resource_id: str | None
    ) -> None:
        if "user_name_ci" not in columns:
            return
        row = _row_sync(
            conn, "SELECT id FROM users WHERE user_name_ci = ?", (columns["user_name_ci"],)
        )
        if row is not None and row[0] != resource_id:
            raise Conflict(
                f'userName "{clip(columns["user_name"])}" is already taken by user {row[0]} '
                "(userName is compared case-insensitively)"
            )

    def _write_side_tables(
        self, conn: sqlite3.Connection, resource_id: str, doc: dict[str, Any], *, new: bool
    ) -> None:
        if self._kind is not USERS:
            return
        if not new:
            conn.execute("DELETE FROM user_emails WHERE user_id = ?", (resource_id,))
        rows = [
            (
                resource_id,
                i,
                fold(e["value"]),
                fold(e["type"]) if isinstance(e.get("type"), str) else None,
                1 if e.get("primary") else 0,
            )
            for i, e in enumerate(doc.get("emails") or [])
            if isinstance(e.get("value"), str)
        ]
        if rows:
            conn.executemany(
                "INSERT INTO user_emails (user_id, position, value_ci, type_ci, is_primary) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def _apply_membership(
        self,
        conn: sqlite3.Connection,
        resource_id: str,
        changes: builtins.list[MembershipChange],
        stamp: str,
    ) -> builtins.list[dict[str, Any]]:
        """Apply membership deltas for this resource; returns journal change records."""
        k = self._kind
        records: builtins.list[dict[str, Any]] = []
        for change in changes:
            ids = list(dict.fromkeys(change.ids))
            if change.kind != "remove":
                self._require_existing(conn, ids)
            current = self._member_ids(conn, resource_id, ids if change.kind != "replace" else None)
            if change.kind == "add":
                added, removed = [i for i in ids if i not in current], []
            elif change.kind == "remove":
                added, removed = [], [i for i in ids if i in current]
            else:
                wanted = set(ids)
                added = [i for i in ids if i not in current]
                removed = [i for i in current if i not in wanted]
            pair = f"({k.own_col}, {k.other_col})"
            if added:
                conn.executemany(
                    f"INSERT INTO memberships {pair} VALUES (?, ?)",  # noqa: S608
                    [(resource_id, other) for other in added],
                )
            for chunk in _chunks(removed):
                conn.execute(
                    f"DELETE FROM memberships WHERE {k.own_col} = ? "  # noqa: S608
                    f"AND {k.other_col} IN ({_marks(len(chunk))})",
                    [resource_id, *chunk],
                )
            self._bump(conn, k.other_table, added + removed, stamp)
            attr = "groups" if k is USERS else "members"
            if added:
                records.append({"path": attr, "op": "add", "values": added})
            if removed:
                records.append({"path": attr, "op": "remove", "values": removed})
        return records

    def _member_ids(
        self, conn: sqlite3.Connection, resource_id: str, among: builtins.list[str] | None
    ) -> set[str]:
        k = self._kind
        base = f"SELECT {k.other_col} FROM memberships WHERE {k.own_col} = ?"  # noqa: S608
        found: set[str] = set()
        if among is None:
            return {r[0] for r in _rows_sync(conn, base, (resource_id,))}
        for chunk in _chunks(among):
            sql = f"{base} AND {k.other_col} IN ({_marks(len(chunk))})"
            found.update(r[0] for r in _rows_sync(conn, sql, [resource_id, *chunk]))
        return found

    def _require_existing(self, conn: sqlite3.Connection, ids: builtins.list[str]) -> None:
        k = self._kind
        found: set[str] = set()
        for chunk in _chunks(ids):
            sql = f"SELECT id FROM {k.other_table} WHERE id IN ({_marks(len(chunk))})"  # noqa: S608
            found.update(r[0] for r in _rows_sync(conn, sql, chunk))
        missing = [i for i in ids if i not in found]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise InvalidValue(f"no {k.other_label} with id {shown}{more}; nothing was changed")

    @staticmethod
    def _bump(conn: sqlite3.Connection, table: str, ids: builtins.list[str], stamp: str) -> None:
        for chunk in _chunks(ids):
            conn.execute(
                f"UPDATE {table} SET version = version + 1, last_modified = ? "  # noqa: S608
                f"WHERE id IN ({_marks(len(chunk))})",
                [stamp, *chunk],
            )


def _journal(
    conn: sqlite3.Connection,
    ctx: WriteContext,
    resource_type: str | None,
    resource_id: str | None,
    status: int,
    changes: list[dict[str, Any]],
    detail: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO journal (at, token_name, method, path, resource_type, resource_id, "
        "status, latency_ms, changes, quirks, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            timeutil.now(),
            ctx.token_name,
            ctx.method,
            clip(ctx.path),
            resource_type,
            resource_id,
            status,
            round((time.monotonic() - ctx.started) * 1000, 3),
            orjson.dumps(changes).decode() if changes else None,
            orjson.dumps(clipped(ctx.quirks)).decode() if ctx.quirks else None,
            clip(detail, DETAIL_CHARS) if detail is not None else None,
        ),
    )


class Store:
    """Everything scimlite persists, behind one narrow async interface."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.users = ResourceStore(db, USERS)
        self.groups = ResourceStore(db, GROUPS)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[Batch]:
        """One transaction for many writes; pass the Batch to each write as `batch=`."""
        async with self.db.batch() as batch:
            yield batch

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
            lambda conn: _journal(conn, ctx, resource_type, resource_id, status, [], detail)
        )

    async def prune_journal(self, before: str, *, chunk: int = 5_000) -> int:
        """Delete journal rows written before `before` (RFC 3339); returns how many.

        In chunks, each its own short transaction, so pruning a large backlog never holds
        the writer long enough to delay an IdP's writes noticeably.
        """
        removed = 0
        while True:
            count = await self.db.write(
                lambda conn: (
                    conn.execute(
                        "DELETE FROM journal WHERE id IN "
                        "(SELECT id FROM journal WHERE at < ? ORDER BY id LIMIT ?)",
                        (before, chunk),
                    ).rowcount
                )
            )
            removed += count
            if count < chunk:
                return removed

    def text_pending(self) -> bool:
        """Whether some user's users_text row is out of date (or SQLite was busy: maybe)."""
        rows = self.db.read_inline("SELECT 1 FROM users_text_pending LIMIT 1", ())
        return rows is None or bool(rows)

    async def index_pending_text(self, *, chunk: int = 2_000) -> int:
        """Bring users_text up to date; returns how many users were reindexed.

        Writes only mark users as pending (db.py migration 6), because an FTS5 commit is
        expensive; here many share one. In chunks, each its own short transaction, so a
        backlog (an initial sync of 100,000 users) never holds the writer for long.
        """
        done = 0
        while True:
            count = await self.db.write(lambda conn: index_pending_text(conn, chunk))
            done += count
            if count < chunk:
                return done

    async def journal(
        self, *, resource_id: str | None = None, limit: int = 50
    ) -> list[JournalEntry]:
        sql = "SELECT * FROM journal"
        params: list[Any] = []
        if resource_id is not None:
            sql += " WHERE resource_id = ?"
            params.append(resource_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        async with self.db.read() as conn, conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return [_journal_entry(r) for r in rows]

    # --- tokens -----------------------------------------------------------------

    async def create_token(
        self, name: str, scope: tokens.Scope, ctx: WriteContext | None = None
    ) -> tuple[TokenInfo, str]:
        """A new token; the secret is returned once and only its digest is kept.

        With a write context (the console) the creation is journaled in the same
        transaction; the CLI writes the file directly and has no request to journal.
        """
        prefix, secret = tokens.generate()
        stamp = timeutil.now()

        def write(conn: sqlite3.Connection) -> int:
            if _row_sync(conn, "SELECT 1 FROM tokens WHERE name = ?", (name,)) is not None:
                raise Conflict(f"a token named {name!r} already exists")
            cur = conn.execute(
                "INSERT INTO tokens (name, prefix, hash, scope, created) VALUES (?, ?, ?, ?, ?)",
                (name, prefix, tokens.digest(secret), scope, stamp),
            )
            if ctx is not None:
                changes = diff_docs({}, {"name": name, "prefix": prefix, "scope": scope})
                _journal(conn, ctx, "Token", name, 201, changes)
            return cur.lastrowid or 0

        token_id = await self.db.write(write)
        return TokenInfo(token_id, name, prefix, scope, stamp, None, None), secret

    async def list_tokens(self) -> list[TokenInfo]:
        async with (
            self.db.read() as conn,
            conn.execute(
                "SELECT id, name, prefix, scope, created, last_used, revoked "
                "FROM tokens ORDER BY id"
            ) as cur,
        ):
            rows = await cur.fetchall()
        return [TokenInfo(*tuple(r)) for r in rows]

    async def count_tokens(self) -> int:
        async with self.db.read() as conn, conn.execute("SELECT count(*) FROM tokens") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def revoke_token(self, name: str) -> bool:
        """Revoke by name; True when a live token was revoked."""
        stamp = timeutil.now()
        revoked: int = await self.db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE tokens SET revoked = ? WHERE name = ? AND revoked IS NULL",
                    (stamp, name),
                ).rowcount
            )
        )
        return revoked > 0

    async def authenticate(self, presented: str) -> TokenInfo | None:
        """The live token matching `presented`, compared in constant time, or None."""
        prefix = tokens.prefix_of(presented)
        if prefix is None:
            return None
        sql = (
            "SELECT id, name, prefix, scope, created, last_used, revoked, hash "
            "FROM tokens WHERE prefix = ?"
        )
        rows = self.db.read_inline(sql, (prefix,))  # a unique-index point lookup
        if rows is None:  # the lookup lane: a token check never queues behind scans
            async with self.db.read(lookup=True) as conn:
                rows = await _rows(conn, sql, (prefix,))
        row = rows[0] if rows else None
        if row is None or row["revoked"] is not None or not tokens.matches(presented, row["hash"]):
            return None
        return TokenInfo(*tuple(row)[:7])

    async def touch_token(self, token_id: int, at: str) -> None:
        await self.db.write(
            lambda conn: conn.execute(
                "UPDATE tokens SET last_used = ? WHERE id = ?", (at, token_id)
            )
        )

    # --- console ----------------------------------------------------------------

    async def directory_counts(self) -> DirectoryCounts:
        """The dashboard's numbers, kept by triggers (db.py migrations 3 and 7): O(1)."""
        async with self.db.read() as conn, conn.execute("SELECT name, n FROM row_counts") as cur:
            n = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
        inactive = n.get("users_inactive", 0)
        return DirectoryCounts(
            n.get("users", 0) - inactive, inactive, n.get("groups", 0), n.get("memberships", 0)
        )

    async def last_write_per_token(self) -> list[JournalEntry]:
        """Each token's latest journal row, newest first: which IdP wrote last, and when.

        One max(id) lookup per token: O(tokens · log n) given an index on
        journal(token_name, id), a scan per token without one.
        """
        sql = (
            "SELECT j.* FROM tokens t JOIN journal j ON j.id = "
            "(SELECT max(id) FROM journal WHERE token_name = t.name) ORDER BY j.id DESC"
        )
        async with self.db.read() as conn, conn.execute(sql) as cur:
            return [_journal_entry(r) for r in await cur.fetchall()]

    async def search_journal(self, query: JournalQuery) -> list[JournalEntry]:
        """Journal rows matching every given criterion, newest first, keyset-paged by id."""
        sql, params = journal_sql(query)
        async with self.db.read() as conn, conn.execute(sql, params) as cur:
            return [_journal_entry(r) for r in await cur.fetchall()]

    async def team_summaries(
        self, start_index: int, count: int, name_contains: str | None = None
    ) -> tuple[int, list[TeamSummary]]:
        """A page of teams by name with member counts: one query, counted from the index."""
        where, params = "1", []
        if name_contains:
            escaped = fold(name_contains).translate({ord(c): f"\\{c}" for c in "\\%_"})
            where = "g.display_name_ci LIKE ? ESCAPE '\\'"
            params = [f"%{escaped}%"]
        async with self.db.snapshot() as conn:
            count_sql = f"SELECT count(*) FROM groups g WHERE {where}"  # noqa: S608
            async with conn.execute(count_sql, params) as cur:
                row = await cur.fetchone()
            sql = (
                "SELECT g.id, g.display_name, g.external_id, g.last_modified, "  # noqa: S608
                "(SELECT count(*) FROM memberships m WHERE m.group_id = g.id) AS members "
                f"FROM groups g WHERE {where} ORDER BY g.display_name_ci, g.rowid LIMIT ? OFFSET ?"
            )
            async with conn.execute(sql, [*params, count, start_index - 1]) as cur:
                rows = await cur.fetchall()
        return (int(row[0]) if row else 0), [TeamSummary(*tuple(r)) for r in rows]

    async def team_members(
        self, group_id: str, start_index: int, count: int
    ) -> tuple[int, list[MemberSummary]]:
        """A page of one team's members, in membership-index order (by user id).

        Walking the (group_id, user_id) primary key costs O(page) even for a team of 50,000;
        ordering by userName would sort the whole team on every page (~100 ms at 50,000).
        """
        async with self.db.snapshot() as conn:
            async with conn.execute(
                "SELECT count(*) FROM memberships WHERE group_id = ?", (group_id,)
            ) as cur:
                row = await cur.fetchone()
            async with conn.execute(
                "SELECT u.id, u.user_name, u.display_name, u.email, u.active FROM "
                "(SELECT user_id FROM memberships WHERE group_id = ? "
                "ORDER BY user_id LIMIT ? OFFSET ?) AS page JOIN users u ON u.id = page.user_id "
                "ORDER BY u.id",
                (group_id, count, start_index - 1),
            ) as cur:
                rows = await cur.fetchall()
        members = [MemberSummary(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]
        return (int(row[0]) if row else 0), members

    async def live_token(self, token_id: int) -> TokenInfo | None:
        """The token if it still exists and is not revoked (a console session checks this)."""
        async with (
            self.db.read(lookup=True) as conn,
            conn.execute(
                "SELECT id, name, prefix, scope, created, last_used, revoked "
                "FROM tokens WHERE id = ? AND revoked IS NULL",
                (token_id,),
            ) as cur,
        ):
            row = await cur.fetchone()
        return None if row is None else TokenInfo(*tuple(row))

    async def revoke_token_journaled(self, name: str, ctx: WriteContext) -> TokenInfo:
        """`revoke_token` for the console, journaled; NotFound unless the token is live."""
        stamp = timeutil.now()

        def write(conn: sqlite3.Connection) -> Any:
            row = _row_sync(
                conn,
                "SELECT id, name, prefix, scope, created, last_used, revoked "
                "FROM tokens WHERE name = ? AND revoked IS NULL",
                (name,),
            )
            if row is None:
                raise NotFound(f"no live token named {name!r}")
            conn.execute("UPDATE tokens SET revoked = ? WHERE id = ?", (stamp, row["id"]))
            changes = diff_docs({"revoked": None}, {"revoked": stamp})
            _journal(conn, ctx, "Token", name, 200, changes)
            return row

        row = await self.db.write(write)
        return TokenInfo(
            row["id"], row["name"], row["prefix"], row["scope"], row["created"],
            row["last_used"], stamp,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DirectoryCounts:
    users_active: int
    users_inactive: int
    teams: int
    memberships: int


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """Journal search criteria; None means "any". Times compare as RFC 3339 text."""

    resource_type: str | None = None
    resource_id: str | None = None
    token_name: str | None = None
    status_min: int | None = None
    status_max: int | None = None
    since: str | None = None
    until: str | None = None
    before_id: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class TeamSummary:
    id: str
    display_name: str
    external_id: str | None
    last_modified: str
    members: int


@dataclass(frozen=True, slots=True)
class MemberSummary:
    id: str
    user_name: str
    display_name: str | None
    email: str | None
    active: bool


def _journal_entry(r: aiosqlite.Row) -> JournalEntry:
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
