"""`scimlite copy`'s engine (store/copy.py): a directory moved SQLite → PostgreSQL → SQLite
keeps every resource, version, timestamp, membership, token hash and journal row."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from scimlite.assets import EXAMPLE_DB, shipped
from scimlite.store import Store
from scimlite.store.copy import copy_directory
from scimlite.store.database import Database, DatabaseError
from scimlite.store.postgres.db import PostgresDatabase
from scimlite.store.rows import fetch_all
from scimlite.store.sqlite.db import SQLiteDatabase
from tests.support.postgres import fresh_database

# Every column a client or an admin can observe, per table, in a stable order.
OBSERVED = {
    "users": "SELECT seq, id, user_name, external_id, display_name, active, email, version, "
    "created, last_modified, doc FROM users ORDER BY seq",
    "user_emails": "SELECT * FROM user_emails ORDER BY user_id, position",
    "groups": "SELECT seq, id, display_name, external_id, version, created, last_modified, doc "
    "FROM groups ORDER BY seq",
    "memberships": "SELECT group_id, user_id FROM memberships ORDER BY group_id, user_id",
    "tokens": "SELECT * FROM tokens ORDER BY id",
    "journal": "SELECT id, at, token_name, method, path, resource_type, resource_id, status, "
    "latency_ms, changes, quirks, detail FROM journal ORDER BY id",
    "journal_refs": "SELECT resource_id, journal_id FROM journal_refs "
    "ORDER BY resource_id, journal_id",
    "events": "SELECT id, journal_id, at, type, token_name, user_id, group_id, user_snapshot, "
    "team_snapshot, changes FROM events ORDER BY id",
    "row_counts": "SELECT name, n FROM row_counts ORDER BY name",
}


async def observed(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    async with db.snapshot() as conn:
        return {
            name: [tuple(r) for r in await fetch_all(conn, sql)] for name, sql in OBSERVED.items()
        }


@asynccontextmanager
async def opened(db: Database) -> AsyncIterator[Database]:
    await db.open()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """The demo directory: users, teams, memberships from both sides, tokens, a journal."""
    path = tmp_path / "seeded.db"
    shutil.copyfile(shipped(EXAMPLE_DB), path)
    return path


async def test_copy_there_and_back_keeps_everything(
    seeded: Path, tmp_path: Path, postgres_server: str
) -> None:
    with fresh_database(postgres_server, empty=True) as url:  # freshly created, no schema
        async with opened(SQLiteDatabase(seeded)) as source:
            _, secret = await Store(source).create_token("copied", "scim")
            before = await observed(source)
            async with opened(PostgresDatabase(url)) as middle:
                copied = await copy_directory(source, middle)
                assert copied.users == len(before["users"]) > 10
                assert copied.memberships == len(before["memberships"]) > 10
                assert copied.events == len(before["events"]) > 10
                assert await observed(middle) == before
                # Token hashes came along: the secret still signs in.
                found = await Store(middle).authenticate(secret)
                assert found is not None and found.name == "copied"
                # New rows continue after the copied ones.
                created, _ = await Store(middle).create_token("after-copy", "scim")
                assert created.id > max(r[0] for r in before["tokens"])
                async with opened(SQLiteDatabase(tmp_path / "back.db")) as back:
                    await copy_directory(middle, back)
                    after = await observed(back)
                    assert after["tokens"][:-1] == before["tokens"]
                    assert {k: v for k, v in after.items() if k != "tokens"} == {
                        k: v for k, v in before.items() if k != "tokens"
                    }
                    assert await Store(back).authenticate(secret) is not None


async def test_copy_refuses_a_target_that_holds_a_directory(seeded: Path, tmp_path: Path) -> None:
    async with (
        opened(SQLiteDatabase(seeded)) as source,
        opened(SQLiteDatabase(tmp_path / "other.db")) as target,
    ):
        await Store(target).create_token("existing", "scim")
        with pytest.raises(DatabaseError, match="tokens is not empty"):
            await copy_directory(source, target)
        assert [t.name for t in await Store(target).list_tokens()] == ["existing"]
