"""The console's read queries: dashboard counts, last writes, team pages and rosters."""

from __future__ import annotations

from collections.abc import Collection

from scimlite.store.database import Database
from scimlite.store.journal import journal_entry
from scimlite.store.records import DirectoryCounts, MemberSummary, TeamSummary, TokenActivity
from scimlite.store.rows import chunks, fetch_all, fetch_one, marks
from scimlite.text import fold


class ConsoleQueries:
    """The Store's console methods (a mixin: `Store` provides `db`)."""

    db: Database

    async def directory_counts(self) -> DirectoryCounts:
        """The dashboard's numbers, kept by triggers (store/sqlite/migrations.py: 3 and 7): O(1)."""
        async with self.db.read() as conn:
            rows = await fetch_all(conn, "SELECT name, n FROM row_counts")
        n = {str(r[0]): int(r[1]) for r in rows}
        inactive = n.get("users_inactive", 0)
        return DirectoryCounts(
            n.get("users", 0) - inactive, inactive, n.get("groups", 0), n.get("memberships", 0)
        )

    async def last_write_per_token(self, path_prefix: str) -> list[TokenActivity]:
        """Each token's latest write under `path_prefix` (the SCIM API's, so console actions
        do not count), newest first: which IdP wrote last, and when. Live `scim` tokens that
        never wrote are listed last, with no entry: an IdP that was never connected.

        Per token, journal_token is read newest first until a write under the prefix:
        O(tokens · log n) for an IdP's token, whose writes all are.
        """
        sql = (
            "SELECT t.name AS token, j.* FROM tokens t LEFT JOIN journal j ON j.id = "
            "(SELECT id FROM journal WHERE token_name = t.name AND substr(path, 1, ?) = ? "
            "ORDER BY id DESC LIMIT 1) "
            "WHERE t.id = (SELECT max(x.id) FROM tokens x WHERE x.name = t.name) "
            "AND (j.id IS NOT NULL OR (t.scope = 'scim' AND t.revoked IS NULL)) "
            "ORDER BY j.id DESC NULLS LAST, t.name"
        )
        async with self.db.read() as conn:
            rows = await fetch_all(conn, sql, (len(path_prefix), path_prefix))
        return [
            TokenActivity(r["token"], journal_entry(r) if r["id"] is not None else None)
            for r in rows
        ]

    async def resource_names(self, ids: Collection[str]) -> dict[str, str]:
        """The current userName of each of these users and displayName of each of these
        teams, by id; ids of deleted resources are absent. Read by primary key, in chunks."""
        wanted = list(dict.fromkeys(ids))
        names: dict[str, str] = {}
        async with self.db.snapshot() as conn:
            for chunk in chunks(wanted):
                among = marks(len(chunk))
                sql = (
                    f"SELECT id, user_name FROM users WHERE id IN ({among}) UNION ALL "  # noqa: S608
                    f"SELECT id, display_name FROM groups WHERE id IN ({among})"
                )
                names.update((r[0], r[1]) for r in await fetch_all(conn, sql, [*chunk, *chunk]))
        return names

    async def team_summaries(
        self, start_index: int, count: int, name_contains: str | None = None
    ) -> tuple[int, list[TeamSummary]]:
        """A page of teams by name with member counts: one query, counted from the index."""
        where, params = "TRUE", []
        if name_contains:
            escaped = fold(name_contains).translate({ord(c): f"\\{c}" for c in "\\%_"})
            where = "g.display_name_ci LIKE ? ESCAPE '\\'"
            params = [f"%{escaped}%"]
        async with self.db.snapshot() as conn:
            count_sql = f"SELECT count(*) FROM groups g WHERE {where}"  # noqa: S608
            row = await fetch_one(conn, count_sql, params)
            sql = (
                "SELECT g.id, g.display_name, g.external_id, g.last_modified, "  # noqa: S608
                "(SELECT count(*) FROM memberships m WHERE m.group_id = g.id) AS members "
                f"FROM groups g WHERE {where} ORDER BY g.display_name_ci, g.seq LIMIT ? OFFSET ?"
            )
            rows = await fetch_all(conn, sql, [*params, count, start_index - 1])
        return (int(row[0]) if row else 0), [TeamSummary(*tuple(r)) for r in rows]

    async def team_members(
        self, group_id: str, start_index: int, count: int
    ) -> tuple[int, list[MemberSummary]]:
        """A page of one team's members, in membership-index order (by user id).

        Walking the (group_id, user_id) primary key costs O(page) even for a team of 50,000;
        ordering by userName would sort the whole team on every page (~100 ms at 50,000).
        """
        async with self.db.snapshot() as conn:
            row = await fetch_one(
                conn, "SELECT count(*) FROM memberships WHERE group_id = ?", (group_id,)
            )
            rows = await fetch_all(
                conn,
                "SELECT u.id, u.user_name, u.display_name, u.email, u.active FROM "
                "(SELECT user_id FROM memberships WHERE group_id = ? "
                "ORDER BY user_id LIMIT ? OFFSET ?) AS page JOIN users u ON u.id = page.user_id "
                "ORDER BY u.id",
                (group_id, count, start_index - 1),
            )
        members = [MemberSummary(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]
        return (int(row[0]) if row else 0), members
