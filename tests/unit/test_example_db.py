"""scimlite.db.example: committed, at the current schema version, and what the README says."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from scimlite.store import ListQuery, Store
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
