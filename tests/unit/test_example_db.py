"""scimlite.db.example: committed, at the current schema version, and what the README says."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from scimlite.store import JournalQuery, ListQuery, Store
from scimlite.store.sqlite.db import SQLiteDatabase as Database
from scimlite.store.sqlite.migrations import SCHEMA_VERSION

EXAMPLE = Path(__file__).parents[2] / "scimlite.db.example"


def test_example_is_at_the_current_schema_version() -> None:
    with sqlite3.connect(f"{EXAMPLE.resolve().as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_example_opens_with_25_users_in_5_teams(tmp_path: Path) -> None:
    copy = tmp_path / "demo.db"
    shutil.copy(EXAMPLE, copy)
    db = Database(copy)
    await db.open()
    try:
        store = Store(db)
        users = await store.users.list_page(ListQuery(count=100))
        teams = await store.groups.list_page(ListQuery(count=100))
    finally:
        await db.close()
    assert users.total == 25
    assert teams.total == 5
    assert any(u.doc.get("active") is False for u in users.items)
    assert all(t.refs for t in teams.items)


async def test_example_journal_tells_the_console_story(tmp_path: Path) -> None:
    """Issue #16, item 13: two IdPs, their quirks, errors, and memberships from both sides."""
    copy = tmp_path / "demo.db"
    shutil.copy(EXAMPLE, copy)
    db = Database(copy)
    await db.open()
    try:
        store = Store(db)
        entries = await store.search_journal(JournalQuery(limit=500))
        activity = await store.last_write_per_token("/scim/v2/")
        teams = await store.groups.list_page(ListQuery(count=100))
        histories = [
            await store.search_journal(JournalQuery(resource_id=t.id, limit=100))
            for t in teams.items
        ]
    finally:
        await db.close()
    assert {a.token_name for a in activity if a.last_write} == {"okta", "entra"}
    by = {name: [e for e in entries if e.token_name == name] for name in ("okta", "entra")}
    for mine in by.values():
        assert any(e.quirks for e in mine)
        assert any(e.status >= 400 and e.detail for e in mine)
    assert {e.method for e in entries} == {"POST", "PUT", "PATCH", "DELETE"}
    written_elsewhere = {
        (e.method, e.path.split("/")[3])
        for h, t in zip(histories, teams.items, strict=True)
        for e in h
        if e.resource_id != t.id
    }
    assert {("PUT", "Users"), ("DELETE", "Users")} <= written_elsewhere
    assert "Product Design" in {t.doc["displayName"] for t in teams.items}


async def test_example_has_the_events_of_its_story(tmp_path: Path) -> None:
    """The demo's feed (docs/events.md) is there to follow, made by the same writes."""
    copy = tmp_path / "demo.db"
    shutil.copy(EXAMPLE, copy)
    db = Database(copy)
    await db.open()
    try:
        store = Store(db)
        events, _ = await store.events_after(None, 1000)
        rest, _ = await store.events_after(events[0].position, 1000)  # resumes: all tables there
    finally:
        await db.close()
    kinds = {e.type for e in events}
    assert {"user.created", "user.deactivated", "team.member_added", "user.deleted"} <= kinds
    assert {e.token_name for e in events} == {"okta", "entra"}
    assert rest == events[1:]
