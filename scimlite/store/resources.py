"""Users and teams: create, read, replace, update, delete and list, for both kinds.

Users and teams share one implementation, `ResourceStore`, parametrised by a `Kind`
(store/kinds.py). Every write runs in one writer transaction that also appends the
journal row, so a write and its record commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from scimlite import timeutil
from scimlite.scim.comparable import comparable
from scimlite.scim.diff import diff_docs
from scimlite.scim.filter import And, Compare, Filter, ValueFilter
from scimlite.store.database import Batch, Conn, Database, Dialect, ReadConn
from scimlite.store.errors import Conflict, NotFound, StaleVersion
from scimlite.store.events import Commits, Derived, derive, emit
from scimlite.store.journal import record
from scimlite.store.kinds import Kind, Rows, row_to_resource
from scimlite.store.memberships import apply_membership, bump, other_side, touched
from scimlite.store.records import ListQuery, MembershipChange, Page, Resource, Update, WriteContext
from scimlite.store.rows import fetch_all, fetch_one, fetch_one_sync, marks
from scimlite.store.sqlfilter import compile_filter, compile_sort, text_phrases
from scimlite.store.textindex import rare_phrases
from scimlite.text import clip, fold

T = TypeVar("T")

# The versions a conditional write accepts; None: any. A set, not one `int | None`, because
# RFC 7232 §3.1 lets If-Match list several entity tags, and the write succeeds when the
# current version is any of them (an empty set: none of the tags was ours, so none matches).
ExpectedVersions = frozenset[int] | None


# An indexed `eq` matching at most this many rows is answered inline (ResourceStore.
# _list_inline); one matching more is read again by a pooled reader.
INLINE_ROWS = 20


def _indexed_match(f: Filter | None) -> bool:
    """A filter an index answers: `eq` on a column with its own index (sqlite/migrations.py)
    or on an e-mail's value (the user_emails index), the lookups IdPs send before each
    write. They read from the lookup reader (`lookup=True`), or inline."""
    if isinstance(f, ValueFilter) and f.path.attr == "emails" and f.path.sub_attr is None:
        inner = f.filter
        sides = [inner.left, inner.right] if isinstance(inner, And) else [inner]
        return any(_eq_text(side, "value", None) for side in sides)
    return (
        _eq_text(f, "id", None)
        or _eq_text(f, "userName", None)
        or _eq_text(f, "externalId", None)
        or _eq_text(f, "displayName", None)
        or _eq_text(f, "emails", "value")
    )


def _eq_text(f: Filter | None, attr: str, sub_attr: str | None) -> bool:
    return (
        isinstance(f, Compare)
        and f.op == "eq"
        and f.path.urn is None
        and f.path.attr == attr
        and f.path.sub_attr == sub_attr
        and isinstance(f.value, str)
    )


def sort_order(kind: Kind, query: ListQuery, dialect: Dialect) -> str:
    """The ORDER BY of a list page: sortBy's key, then insertion order (seq) for ties.

    RFC 7644 §3.4.2.3: missing values sort last ascending, first descending. Ties stay in
    insertion order in both directions, so paging is stable; an index holding (key, seq)
    in each direction's order (migrations) lets a deep page walk it instead of sorting.
    """
    order = f"{kind.alias}.seq"
    if query.sort_by is None:
        return order
    direction = "DESC" if query.descending else "ASC"
    nulls = "NULLS FIRST" if query.descending else "NULLS LAST"
    key = compile_sort(query.sort_by, kind.resource, dialect)
    return f"{key} {direction} {nulls}, {order}"


def page_seqs(kind: Kind, where: str, order: str) -> str:
    """The row ids of a page (LIMIT ?, OFFSET ?), chosen from whatever narrow index holds
    the filter's and the sort's columns: the offset is walked there, not over documents."""
    a = kind.alias
    return (
        f"SELECT {a}.seq FROM {kind.table} {a} WHERE {where} "  # noqa: S608
        f"ORDER BY {order} LIMIT ? OFFSET ?"
    )


class ResourceStore:
    """Create, read, replace, update, delete and list one kind of resource."""

    def __init__(self, db: Database, kind: Kind, commits: Commits) -> None:
        self._db = db
        self._kind = kind
        self._commits = commits
        self._by_id_sql: dict[bool, str] = {}

    def _select(self, with_refs: bool, *, position: bool = False) -> str:
        k = self._kind
        refs = f", {k.refs_sql(self._db.dialect)} AS refs" if with_refs else ""
        pos = f", {k.alias}.seq AS position" if position else ""
        return (
            f"SELECT {k.alias}.id, {k.alias}.version, {k.alias}.created, "  # noqa: S608
            f"{k.alias}.last_modified, {k.alias}.doc{refs}{pos} FROM {k.table} {k.alias}"
        )

    async def _run(self, batch: Batch | None, write: Callable[[Conn], T]) -> T:
        """A write in one hop: its own transaction, or a savepoint inside a batch's (which
        Store.batch announces when it commits)."""
        if batch is None:
            done = await self._db.write(write)
            self._commits.notify()
            return done
        return await batch.run(write)

    async def get(self, resource_id: str, *, load_refs: bool = True) -> Resource:
        """One statement: the row and its memberships, so they always agree."""
        if "\x00" in resource_id:  # no id holds U+0000 (and PostgreSQL cannot be asked)
            raise NotFound(f"{self._kind.name} {resource_id!r} not found")
        sql = self._by_id(load_refs)
        # Only bounded reads run inline on the event loop (Kind.refs_bounded).
        rows = None
        if self._kind.refs_bounded or not load_refs:
            rows = self._db.read_inline(sql, (resource_id,))
        if rows is None:
            async with self._db.read(lookup=True) as conn:
                rows = await fetch_all(conn, sql, (resource_id,))
        return self._found(rows[0] if rows else None, resource_id, load_refs)

    def _fetch_sync(
        self, conn: Conn, resource_id: str, *, load_refs: bool = True, lock: bool = False
    ) -> Resource:
        """`get` on the writer's own connection, inside its transaction; `lock`: the row
        about to be changed, locked until the transaction ends (Dialect.for_update)."""
        sql = self._by_id(load_refs)
        if lock:
            sql += self._db.dialect.for_update
        row = fetch_one_sync(conn, sql, (resource_id,))
        return self._found(row, resource_id, load_refs)

    def _by_id(self, load_refs: bool) -> str:
        """The point read's SQL, built once per store (it is asked on every GET)."""
        sql = self._by_id_sql.get(load_refs)
        if sql is None:
            sql = self._by_id_sql[load_refs] = (
                f"{self._select(load_refs)} WHERE {self._kind.alias}.id = ?"
            )
        return sql

    def _found(self, row: Any, resource_id: str, load_refs: bool) -> Resource:
        if row is None:
            raise NotFound(f"{self._kind.name} {resource_id!r} not found")
        return row_to_resource(row, load_refs)

    async def list_page(self, query: ListQuery) -> Page:
        inline = query.sort_by is None and (self._kind.refs_bounded or not query.load_refs)
        if inline and _indexed_match(query.filter):
            page = self._list_inline(query)
            if page is not None:
                return page
        k = self._kind
        dialect = self._db.dialect
        phrases: set[str] = set()
        if query.filter is not None and dialect.text_index:
            phrases = text_phrases(query.filter, k.resource)
        order = sort_order(k, query, dialect)
        async with self._db.snapshot(lookup=_indexed_match(query.filter)) as conn:
            where: str = "TRUE"
            params: list[object] = []
            if query.filter is not None:
                rare = await rare_phrases(conn, phrases)
                where, params = compile_filter(
                    query.filter, k.resource, use_text=rare.__contains__, dialect=dialect
                )
            page_where, page_params, offset = where, list(params), query.start_index - 1
            if query.after is not None and query.sort_by is None:
                page_where = f"({where}) AND {k.alias}.seq > ?"
                page_params.append(query.after)
                offset = 0
            count_sql = f"SELECT count(*) FROM {k.table} {k.alias} WHERE {where}"  # noqa: S608
            count_params = params
            if query.filter is None:  # kept by triggers (migrations.py: 3)
                count_sql, count_params = "SELECT n FROM row_counts WHERE name = ?", [k.table]
            row = await fetch_one(conn, count_sql, count_params)
            total = int(row[0]) if row else 0
            rows: list[Any] = []
            more = False
            if query.count > 0 and total > 0:
                # Deferred join: the page's row ids are chosen first, from whatever narrow
                # index holds the filter's and the sort's columns; only the page's rows
                # are then read whole (1M users: a sorted page 900,000 deep, or a
                # substring search, no longer reads every document).
                a = k.alias
                chosen = page_seqs(k, page_where, order)
                args: list[object] = [*page_params, query.count + 1, offset]
                if not k.refs_bounded and query.load_refs and query.max_members is not None:
                    chosen, args, more = await self._within_members(
                        conn, chosen, args, order, query.count, query.max_members
                    )
                sql = (
                    f"{self._select(query.load_refs, position=True)} WHERE {a}.seq IN "
                    f"({chosen}) ORDER BY {order}"
                )
                rows = await fetch_all(conn, sql, args)
        more = more or len(rows) > query.count
        rows = rows[: query.count]
        return Page(
            total=total,
            items=Rows(rows, query.load_refs),
            more=more,
            last_position=rows[-1]["position"] if rows else None,
        )

    async def _within_members(
        self,
        conn: ReadConn,
        chosen: str,
        args: list[object],
        order: str,
        count: int,
        budget: int,
    ) -> tuple[str, list[object], bool]:
        """The leading teams of a page whose rosters sum to at most `budget` members.

        A list response holds every roster it shows in memory at once, so a page of large
        teams ends early instead (itemsPerPage < count, which RFC 7644 §3.4.2.4 lets a
        client page past); a team larger than the budget comes alone, whole, as from GET
        /Groups/{id}. Rosters are counted from the memberships index, never loaded. Returns
        the page's row-id query, its parameters, and whether teams were left for later.
        """
        sizes = await fetch_all(
            conn,
            f"SELECT g.seq, (SELECT count(*) FROM memberships m WHERE m.group_id = g.id) "  # noqa: S608
            f"FROM groups g WHERE g.seq IN ({chosen}) ORDER BY {order}",
            args,
        )
        keep: list[object] = []
        members = 0
        for position, size in sizes[:count]:
            if keep and members + size > budget:
                break
            keep.append(position)
            members += size
        page = f"SELECT seq FROM groups WHERE seq IN ({marks(len(keep))})"  # noqa: S608
        return page, keep, len(sizes) > len(keep)

    def _list_inline(self, query: ListQuery) -> Page | None:
        """An IdP's exists-check (`userName eq "…"`, `emails.value eq "…"`), read inline:
        an index finds the few rows, so the whole answer costs microseconds on the event
        loop instead of four hops to a reader thread. None: read it with a pooled reader
        (the inline connection was busy, or more than INLINE_ROWS rows match)."""
        assert query.filter is not None
        k = self._kind
        where, params = compile_filter(query.filter, k.resource, dialect=self._db.dialect)
        sql = (
            f"{self._select(query.load_refs, position=True)} WHERE {where} "
            f"ORDER BY {k.alias}.seq LIMIT {INLINE_ROWS + 1}"
        )
        rows = self._db.read_inline(sql, params)
        if rows is None or len(rows) > INLINE_ROWS:
            return None
        # As list_page: a cursor pages by position, startIndex by offset; totalResults
        # counts every match either way.
        after, start = query.after, query.start_index - 1
        chosen = [r for r in rows if r["position"] > after] if after is not None else rows
        offset = 0 if after is not None else start
        page = chosen[offset : offset + query.count]
        return Page(
            total=len(rows),
            items=[row_to_resource(r, query.load_refs) for r in page],
            more=len(chosen) > offset + len(page),
            last_position=page[-1]["position"] if page else None,
        )

    async def create(
        self,
        doc: dict[str, Any],
        refs: list[str] | None,
        ctx: WriteContext,
        *,
        batch: Batch | None = None,
        load_refs: bool = True,
    ) -> Resource:
        k = self._kind
        resource_id = str(uuid.uuid4())
        stamp = timeutil.now()
        columns = self._columns(doc)
        names = ["id", *columns, "version", "created", "last_modified", "doc"]
        values = [resource_id, *columns.values(), 1, stamp, stamp, orjson.dumps(doc).decode()]

        def write(conn: Conn) -> Resource:
            inserted = conn.execute(
                f"INSERT INTO {k.table} ({', '.join(names)}) "  # noqa: S608
                f"VALUES ({marks(len(names))}) ON CONFLICT DO NOTHING",
                values,
            ).rowcount
            if not inserted:
                # The UNIQUE index decided (also against a concurrent writer, which it made
                # us wait for); this names the holder.
                self._check_unique(conn, columns, None)
                raise Conflict(f"{k.name} {resource_id!r} already exists")
            self._write_side_tables(conn, resource_id, doc, new=True)
            changes = diff_docs({}, doc)
            membership: list[dict[str, Any]] = []
            if refs:
                change = MembershipChange("replace", tuple(refs))
                membership = apply_membership(conn, k, resource_id, [change], stamp, ctx)
            records = changes + membership
            row = record(conn, ctx, k.name, resource_id, 201, records, refs=touched(membership))
            self._emit(conn, row, ctx, derive(k, "create", resource_id, records))
            if refs:
                return self._fetch_sync(conn, resource_id, load_refs=load_refs)
            # Nothing server-computed is left to read back: a new resource without teams.
            return Resource(resource_id, 1, stamp, stamp, doc, [] if load_refs else None)

        return await self._run(batch, write)

    async def replace(
        self,
        resource_id: str,
        doc: dict[str, Any],
        refs: list[str] | None,
        expected_versions: ExpectedVersions,
        ctx: WriteContext,
        *,
        batch: Batch | None = None,
        load_refs: bool = True,
    ) -> Resource:
        """PUT (RFC 7644 §3.5.1): the document is replaced whole; refs only when given."""

        def replace_doc(_current: Resource) -> Update:
            changes: list[MembershipChange] = (
                [] if refs is None else [MembershipChange("replace", tuple(refs))]
            )
            return Update(doc=doc, membership=changes)

        return await self.update(
            resource_id, replace_doc, expected_versions, ctx, batch=batch, load_refs=load_refs
        )

    async def update(
        self,
        resource_id: str,
        change: Callable[[Resource], Update],
        expected_versions: ExpectedVersions,
        ctx: WriteContext,
        *,
        batch: Batch | None = None,
        load_refs: bool = True,
    ) -> Resource:
        """Read-modify-write inside one transaction; `change` is pure and may raise.

        `expected_versions` (ExpectedVersions): the versions the caller may overwrite, or
        None for any; a set rather than one `int | None` because a conditional request may
        name several (RFC 7232 §3.1 If-Match lists). Otherwise StaleVersion, checked inside
        the transaction.

        `load_refs=False` answers without the memberships: an IdP adding one member to a
        team of 50,000 asks for no roster back, and must not pay for one.
        """
        k = self._kind

        def write(conn: Conn) -> Resource:
            current = self._current(conn, resource_id, expected_versions)
            update = change(current)
            ctx.quirks.extend(update.quirks)
            stamp = timeutil.now()
            changes = diff_docs(current.doc, update.doc)
            if update.doc != current.doc:
                columns = self._columns(update.doc)
                sets = ", ".join(f"{c} = ?" for c in columns)
                # Checked first when the unique value changes, so the conflict names its
                # holder. A holder committed by another process after this check makes the
                # UPDATE fail on the UNIQUE index instead, and the database runs the write
                # again (Database.write).
                if k.unique is not None and columns[k.unique.folded] != fold(
                    str(current.doc.get(k.unique.attr, ""))
                ):
                    self._check_unique(conn, columns, resource_id)
                conn.execute(
                    f"UPDATE {k.table} SET {sets}, doc = ?, "  # noqa: S608
                    "version = version + 1, last_modified = ? WHERE id = ?",
                    [*columns.values(), orjson.dumps(update.doc).decode(), stamp, resource_id],
                )
                if update.doc.get("emails") != current.doc.get("emails"):
                    self._write_side_tables(conn, resource_id, update.doc, new=False)
            membership = apply_membership(conn, k, resource_id, update.membership, stamp, ctx)
            if membership and update.doc == current.doc:
                bump(conn, k.table, [resource_id], stamp)
            refs = touched(membership)
            if any(c.get("path") in k.shown_by_other for c in changes):
                # A rename changes the other side's representation (its `display`): a new
                # version for each (RFC 7644 §3.14), and the write in their histories.
                others = other_side(conn, k, resource_id)
                bump(conn, k.other_table, others, stamp)
                refs += others
            records = changes + membership
            row = record(conn, ctx, k.name, resource_id, 200, records, refs=refs)
            self._emit(conn, row, ctx, derive(k, "update", resource_id, records))
            return self._fetch_sync(conn, resource_id, load_refs=load_refs)

        return await self._run(batch, write)

    async def delete(
        self,
        resource_id: str,
        expected_versions: ExpectedVersions,
        ctx: WriteContext,
        *,
        batch: Batch | None = None,
    ) -> None:
        k = self._kind

        def write(conn: Conn) -> None:
            current = self._current(conn, resource_id, expected_versions)
            # Its events show it as it was last: a user with its teams (Kind.refs_bounded).
            last = self._fetch_sync(conn, resource_id) if k.refs_bounded else current
            stamp = timeutil.now()
            others = other_side(conn, k, resource_id)
            conn.execute(f"DELETE FROM {k.table} WHERE id = ?", (resource_id,))  # noqa: S608
            # The other side's `groups`/`members` changed, so its version moves too, and the
            # deletion is in its history: the journal names whom the resource left.
            bump(conn, k.other_table, others, stamp)
            left = [{"path": k.refs_attr, "op": "remove", "values": others}] if others else []
            changes = diff_docs(current.doc, {}) + left
            row = record(conn, ctx, k.name, resource_id, 204, changes, refs=others)
            self._emit(conn, row, ctx, derive(k, "delete", resource_id, changes), gone=last)

        await self._run(batch, write)

    def _emit(
        self,
        conn: Conn,
        row: tuple[int, str],
        ctx: WriteContext,
        events: list[Derived],
        gone: Resource | None = None,
    ) -> None:
        emit(conn, self._db.dialect, row, ctx.token_name, events, gone)

    def _current(self, conn: Conn, resource_id: str, expected: ExpectedVersions) -> Resource:
        k = self._kind
        if "\x00" in resource_id:
            raise NotFound(f"{k.name} {resource_id!r} not found")
        current = self._fetch_sync(conn, resource_id, load_refs=False, lock=True)
        # RFC 7644 §3.14: a stale version fails; checked inside the write transaction.
        if expected is not None and current.version not in expected:
            named = ", ".join(f'W/"{v}"' for v in sorted(expected))
            wanted = f"not {named}" if named else "which the request did not name"
            raise StaleVersion(
                f'{k.name} {resource_id!r} is at version W/"{current.version}", '
                f"{wanted}; re-read it and retry"
            )
        return current

    def _columns(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The derived columns of a document, and its folded copy where the dialect keeps one."""
        columns = self._kind.columns(doc)
        if self._db.dialect.folded_doc:
            columns["doc_ci"] = orjson.dumps(comparable(doc, self._kind.resource)).decode()
        return columns

    def _check_unique(self, conn: Conn, columns: dict[str, Any], resource_id: str | None) -> None:
        k = self._kind
        if k.unique is None:
            return
        u = k.unique
        row = fetch_one_sync(
            conn,
            f"SELECT id FROM {k.table} WHERE {u.folded} = ?",  # noqa: S608
            (columns[u.folded],),
        )
        if row is not None and row[0] != resource_id:
            raise Conflict(
                f'{u.attr} "{clip(columns[u.column])}" is already taken by '
                f"{k.name.lower()} {row[0]} ({u.attr} is compared case-insensitively)"
            )

    def _write_side_tables(
        self, conn: Conn, resource_id: str, doc: dict[str, Any], *, new: bool
    ) -> None:
        if not self._kind.emails:
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
