"""Membership writes, from either side: a team's members or a user's teams.

`memberships(group_id, user_id)` is the one source of truth; a change bumps the version of
every resource on the other side whose `groups`/`members` it changed.
"""

from __future__ import annotations

from typing import Any

from scimlite.scim.records import MembershipChange
from scimlite.store.database import Conn
from scimlite.store.errors import UnknownMembers
from scimlite.store.kinds import Kind
from scimlite.store.records import WriteContext
from scimlite.store.rows import chunks, fetch_all_sync, marks


def apply_membership(
    conn: Conn,
    k: Kind,
    resource_id: str,
    changes: list[MembershipChange],
    stamp: str,
    ctx: WriteContext,
) -> list[dict[str, Any]]:
    """Apply membership deltas for this resource; returns journal change records.

    Ids that name nothing refuse the write (UnknownMembers), unless the context says to
    skip them (`ctx.skip_unknown_members`): then the rest applies and the skipped ids are
    noted in the context's quirks, for its journal row.
    """
    records: list[dict[str, Any]] = []
    for change in changes:
        ids = list(dict.fromkeys(change.ids))
        if change.kind != "remove":
            ids = _existing(conn, k, ids, ctx)
        current = _member_ids(conn, k, resource_id, ids if change.kind != "replace" else None)
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
                f"INSERT INTO memberships {pair} VALUES (?, ?) ON CONFLICT DO NOTHING",  # noqa: S608
                [(resource_id, other) for other in added],
            )
        for chunk in chunks(removed):
            conn.execute(
                f"DELETE FROM memberships WHERE {k.own_col} = ? "  # noqa: S608
                f"AND {k.other_col} IN ({marks(len(chunk))})",
                [resource_id, *chunk],
            )
        bump(conn, k.other_table, added + removed, stamp)
        if added:
            records.append({"path": k.refs_attr, "op": "add", "values": added})
        if removed:
            records.append({"path": k.refs_attr, "op": "remove", "values": removed})
    return records


def touched(records: list[dict[str, Any]]) -> list[str]:
    """The other-side ids named in `apply_membership`'s records: whose histories they join."""
    return [i for r in records for i in r["values"]]


def other_side(conn: Conn, k: Kind, resource_id: str) -> list[str]:
    """The ids on the other side of every membership of this resource."""
    sql = f"SELECT {k.other_col} FROM memberships WHERE {k.own_col} = ?"  # noqa: S608
    return [r[0] for r in fetch_all_sync(conn, sql, (resource_id,))]


def _member_ids(conn: Conn, k: Kind, resource_id: str, among: list[str] | None) -> set[str]:
    base = f"SELECT {k.other_col} FROM memberships WHERE {k.own_col} = ?"  # noqa: S608
    found: set[str] = set()
    if among is None:
        return {r[0] for r in fetch_all_sync(conn, base, (resource_id,))}
    for chunk in chunks(_storable(among)):
        sql = f"{base} AND {k.other_col} IN ({marks(len(chunk))})"
        found.update(r[0] for r in fetch_all_sync(conn, sql, [resource_id, *chunk]))
    return found


def _storable(ids: list[str]) -> list[str]:
    """The ids a row could hold: one with U+0000 names nothing (and PostgreSQL cannot be
    asked for it), so it is left out of lookups and reported as unknown."""
    return [i for i in ids if "\x00" not in i]


def _existing(conn: Conn, k: Kind, ids: list[str], ctx: WriteContext) -> list[str]:
    """The ids that exist on the other side; the others refuse the write or are skipped."""
    found: set[str] = set()
    for chunk in chunks(_storable(ids)):
        sql = f"SELECT id FROM {k.other_table} WHERE id IN ({marks(len(chunk))})"  # noqa: S608
        found.update(r[0] for r in fetch_all_sync(conn, sql, chunk))
    missing = [i for i in ids if i not in found]
    if not missing:
        return ids
    shown = ", ".join(repr(m) for m in missing[:10])
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    if not ctx.skip_unknown_members:
        raise UnknownMembers(f"no {k.other_label} with id {shown}{more}; nothing was changed")
    ctx.quirks.append(
        f"skipped {len(missing)} unknown {k.other_label} id(s) (SCIMLITE_UNKNOWN_MEMBERS=skip): "
        f"{shown}{more}"
    )
    return [i for i in ids if i in found]


def bump(conn: Conn, table: str, ids: list[str], stamp: str) -> None:
    """A new version for each of these rows: their `groups`/`members` changed."""
    for chunk in chunks(ids):
        conn.execute(
            f"UPDATE {table} SET version = version + 1, last_modified = ? "  # noqa: S608
            f"WHERE id IN ({marks(len(chunk))})",
            [stamp, *chunk],
        )
