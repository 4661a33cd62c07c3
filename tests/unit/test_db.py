"""The database file: migrations, read-only readers, one writer, restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scimlite.scim.filter import parse_filter, parse_path
from scimlite.scim.models import parse_resource
from scimlite.scim.schema import USER_RESOURCE
from scimlite.store import (
    DirectoryCounts,
    JournalQuery,
    ListQuery,
    Store,
    WriteContext,
)
from scimlite.store.database import SQLITE, DatabaseError
from scimlite.store.errors import NotFound
from scimlite.store.journal import journal_sql
from scimlite.store.kinds import USERS
from scimlite.store.resources import page_seqs, sort_order
from scimlite.store.sqlite.db import SQLiteDatabase as Database
from scimlite.store.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION, migrate

CTX = WriteContext("test", "POST", "/Users")


def user_doc(name: str) -> dict[str, object]:
    body = {"schemas": [USER_RESOURCE.schema.id], "userName": name}
    return parse_resource(USER_RESOURCE, body).doc


async def test_a_new_file_is_created_at_the_current_version(tmp_path: Path) -> None:
    db = Database(tmp_path / "new.db")
    await db.open()
    await db.close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_an_older_file_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # version 0: an empty file
    db = Database(path)
    await db.open()
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_a_newer_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DatabaseError, match="newer than this scimlite supports"):
        await Database(path).open()


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    db = Database(path)
    await db.open()
    created = await Store(db).users.create(user_doc("persist@example.com"), None, CTX)
    await db.close()
    db = Database(path)
    await db.open()
    again = await Store(db).users.get(created.id)
    await db.close()
    assert again.doc["userName"] == "persist@example.com"


async def test_readers_cannot_write(tmp_path: Path) -> None:
    db = Database(tmp_path / "ro.db")
    await db.open()
    try:
        async with db.read() as conn:
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await conn.execute("DELETE FROM users")
    finally:
        await db.close()


async def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "tx.db")
    await db.open()
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO tokens (name, prefix, hash, scope, created) "
                    "VALUES ('t', 'p', 'h', 'scim', 'now')"
                )
                raise RuntimeError("abort")
        assert await Store(db).list_tokens() == []
    finally:
        await db.close()


async def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    db = Database(tmp_path / "fk.db")
    await db.open()
    try:
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO memberships VALUES ('nope', 'nope')")
    finally:
        await db.close()


async def test_a_version_1_file_with_data_is_upgraded_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(MIGRATIONS[0])
        conn.execute(
            "INSERT INTO tokens (name, prefix, hash, scope, created) "
            "VALUES ('old', 'p', 'h', 'scim', 'then')"
        )
        conn.execute("PRAGMA user_version = 1")
    db = Database(path)
    await db.open()
    try:
        assert [t.name for t in await Store(db).list_tokens()] == ["old"]
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "journal_token" in indexes


async def test_point_reads_fall_back_to_the_pool_when_sqlite_is_busy(tmp_path: Path) -> None:
    db = Database(tmp_path / "busy.db")
    await db.open()
    try:
        store = Store(db)
        created = await store.users.create(user_doc("busy@example.com"), None, CTX)

        class Busy:
            def execute(self, *args: object) -> None:
                raise sqlite3.OperationalError("database is locked")

            def close(self) -> None:
                pass

        db._inline = Busy()  # type: ignore[assignment]  # WAL recovery in progress
        assert (await store.users.get(created.id)).doc["userName"] == "busy@example.com"
    finally:
        await db.close()


async def test_list_totals_kept_by_triggers_match_count(tmp_path: Path) -> None:
    db = Database(tmp_path / "counts.db")
    await db.open()
    try:
        store = Store(db)
        made = [
            await store.users.create(user_doc(f"c{i}@example.com"), None, CTX) for i in range(5)
        ]
        await store.users.delete(made[0].id, None, CTX)
        page = await store.users.list_page(ListQuery(count=0))
        assert page.total == 4
    finally:
        await db.close()
    with sqlite3.connect(tmp_path / "counts.db") as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 4


async def test_upgrading_counts_the_rows_already_there(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as conn:
        for script in MIGRATIONS[:2]:
            conn.executescript(script)
        conn.execute(
            "INSERT INTO groups (id, display_name, display_name_ci, version, created, "
            "last_modified, doc) VALUES ('g', 'G', 'g', 1, 'then', 'then', '{}')"
        )
        conn.execute("PRAGMA user_version = 2")
    db = Database(path)
    await db.open()
    try:
        assert (await Store(db).groups.list_page(ListQuery(count=0))).total == 1
    finally:
        await db.close()


def _version_4_file(path: Path) -> None:
    """A file as scimlite 0.1 left it: three users (the middle one deleted, leaving a gap in
    the rowids), their emails, and a team holding the other two."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")  # as scimlite writes
        for script in MIGRATIONS[:4]:
            conn.executescript(script)
        for i in range(3):
            conn.execute(
                "INSERT INTO users (id, user_name, user_name_ci, version, created, "
                "last_modified, doc) VALUES (?, ?, ?, 1, 't', 't', '{}')",
                (f"u{i}", f"User{i}", f"user{i}"),
            )
            conn.execute(
                "INSERT INTO user_emails (user_id, position, value_ci) VALUES (?, 0, ?)",
                (f"u{i}", f"person{i}@mail.example"),
            )
        conn.execute("DELETE FROM users WHERE id = 'u1'")
        conn.execute(
            "INSERT INTO groups (id, display_name, display_name_ci, version, created, "
            "last_modified, doc) VALUES ('g', 'G', 'g', 1, 't', 't', '{}')"
        )
        conn.executemany("INSERT INTO memberships VALUES ('g', ?)", [("u0",), ("u2",)])
        conn.execute("PRAGMA user_version = 4")


async def test_upgrading_to_row_numbers_keeps_rows_teams_and_positions(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    _version_4_file(path)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT id, rowid FROM users ORDER BY rowid").fetchall()
    db = Database(path)
    await db.open()
    try:
        store = Store(db)
        by_email = parse_filter('emails.value co "person2@"', USER_RESOURCE)
        assert [u.id for u in (await store.users.list_page(ListQuery(filter=by_email))).items] == [
            "u2"
        ]
        # Cursors issued before the upgrade name the same rows after it.
        page = await store.users.list_page(ListQuery(after=before[0][1]))
        assert [u.id for u in page.items] == ["u2"]
        team = await store.groups.get("g")
        assert sorted(r.id for r in team.refs or []) == ["u0", "u2"]
        assert await store.directory_counts() == DirectoryCounts(2, 0, 1, 2)
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id, seq FROM users ORDER BY seq").fetchall() == before
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


async def test_vacuum_keeps_row_numbers_and_the_text_index(tmp_path: Path) -> None:
    path = tmp_path / "vacuum.db"
    db = Database(path)
    await db.open()
    try:
        store = Store(db)
        made = [
            await store.users.create(user_doc(f"v{i}@example.com"), None, CTX) for i in range(6)
        ]
        for user in made[:3]:
            await store.users.delete(user.id, None, CTX)
        first = await store.users.list_page(ListQuery(count=1))
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
    db = Database(path)
    await db.open()
    try:
        store = Store(db)
        assert first.last_position is not None
        after = await store.users.list_page(ListQuery(after=first.last_position))
        assert [u.id for u in after.items] == [made[4].id, made[5].id]
        search = parse_filter('userName co "v4@ex"', USER_RESOURCE)
        assert [u.id for u in (await store.users.list_page(ListQuery(filter=search))).items] == [
            made[4].id
        ]
    finally:
        await db.close()


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(JournalQuery(status_min=400, limit=10), id="dashboard-recent-errors"),
        pytest.param(JournalQuery(status_min=500, limit=50), id="journal-5xx"),
        pytest.param(JournalQuery(status_min=400, status_max=499, limit=50), id="journal-4xx"),
    ],
)
def test_error_searches_read_only_the_error_rows(query: JournalQuery) -> None:
    """Errors are rare among a journal's writes: finding the newest must not read it all."""
    conn = sqlite3.connect(":memory:")
    for script in MIGRATIONS:
        conn.executescript(script)
    sql, params = journal_sql(query)
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    assert plan == ["SCAN journal USING INDEX journal_errors"]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("sort_by", ["userName", "meta.created", "meta.lastModified"])
def test_a_deep_sorted_page_walks_an_index(sort_by: str, descending: bool) -> None:
    """sortBy with a deep startIndex: the offset is counted along an index that is already
    in the page's order (ties by seq ascending), never a sort of the whole table."""
    conn = sqlite3.connect(":memory:")
    for script in MIGRATIONS:
        conn.executescript(script)
    query = ListQuery(sort_by=parse_path(sort_by, USER_RESOURCE).path, descending=descending)
    sql = page_seqs(USERS, "TRUE", sort_order(USERS, query, SQLITE))
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (100, 90_000))]
    assert len(plan) == 1 and plan[0].startswith("SCAN u USING COVERING INDEX"), plan


def test_upgrading_indexes_the_membership_changes_already_journaled(tmp_path: Path) -> None:
    path = tmp_path / "v7.db"
    with sqlite3.connect(path) as conn:
        for script in MIGRATIONS[:7]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 7")
        changes = '[{"path":"displayName","op":"add","new":"One"},' + (
            '{"path":"members","op":"add","values":["u1","u2"]},'
            '{"path":"members","op":"remove","values":["u1"]}]'
        )
        conn.execute(
            "INSERT INTO journal (id, at, method, path, resource_type, resource_id, status, "
            "changes) VALUES (7, 't', 'PATCH', '/scim/v2/Groups/g', 'Group', 'g', 200, ?)",
            (changes,),
        )
        migrate(conn)
        rows = conn.execute(
            "SELECT resource_id, journal_id FROM journal_refs ORDER BY 1"
        ).fetchall()
    assert rows == [("u1", 7), ("u2", 7)]


async def test_upgrading_tokens_keeps_them_and_frees_revoked_names(tmp_path: Path) -> None:
    path = tmp_path / "v8.db"
    with sqlite3.connect(path) as conn:
        for script in MIGRATIONS[:8]:
            conn.executescript(script)
        conn.executemany(
            "INSERT INTO tokens (id, name, prefix, hash, scope, created, revoked) "
            "VALUES (?, ?, ?, 'h', ?, 't', ?)",
            [(3, "okta", "p3", "scim", "r"), (7, "admin", "p7", "admin", None)],
        )
        conn.execute("PRAGMA user_version = 8")
    db = Database(path)
    await db.open()
    try:
        store = Store(db)
        before = [(t.id, t.name, t.scope, t.revoked) for t in await store.list_tokens()]
        assert before == [(3, "okta", "scim", "r"), (7, "admin", "admin", None)]
        okta, _ = await store.create_token("okta", "metrics")  # the revoked one held the name
        assert okta.scope == "metrics"
    finally:
        await db.close()
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute(  # two live tokens never share a name
            "INSERT INTO tokens (name, prefix, hash, scope, created) "
            "VALUES ('okta', 'p9', 'h', 'scim', 't')"
        )


async def test_rotating_a_token_revokes_the_old_secret_in_the_same_write(tmp_path: Path) -> None:
    db = Database(tmp_path / "rotate.db")
    await db.open()
    try:
        store = Store(db)
        old, old_secret = await store.create_token("okta", "scim")
        new, new_secret = await store.rotate_token("okta")
        assert (new.name, new.scope) == ("okta", "scim") and new.id != old.id
        assert await store.authenticate(old_secret) is None
        assert (await store.authenticate(new_secret)) == new
        [first, second] = await store.list_tokens()
        assert first.revoked == second.created  # one timestamp: one transaction
        with pytest.raises(NotFound, match="no live token named 'entra'"):
            await store.rotate_token("entra")
    finally:
        await db.close()
