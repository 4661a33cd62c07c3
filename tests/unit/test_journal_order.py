"""Following the journal by position (Store.journal_after): every row once, in an order in
which a row that commits late is never skipped — with writers in several processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from scimlite.settings import Settings
from scimlite.store import Store, WriteContext, open_database
from scimlite.store.postgres.db import PostgresDatabase
from tests.support.postgres import fresh_database


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    db = open_database(path=settings.db_path, url=settings.database_url)
    await db.open()
    try:
        yield Store(db)
    finally:
        await db.close()


async def test_a_reader_sees_every_row_once_in_order(store: Store) -> None:
    for i in range(5):
        await store.create_token(f"t{i}", "scim", WriteContext("admin", "POST", "/tokens"))
    first, position = await store.journal_after(None, 3)
    rest, end = await store.journal_after(position, 10)
    assert [e.resource_id for e in first + rest] == [f"t{i}" for i in range(5)]
    again, same = await store.journal_after(end, 10)
    assert (again, same) == ([], end)  # nothing new: the same position back


async def test_a_position_from_elsewhere_is_refused(store: Store) -> None:
    for bad in ("", "x", "1.2.3", "-1", "1.x", "١", "1" * 20, "9223372036854775808", " 1"):
        with pytest.raises(ValueError, match="not a journal position"):
            await store.journal_after(bad, 10)


async def test_a_row_that_commits_late_is_not_skipped(postgres_server: str) -> None:
    """Another process's transaction takes journal id N and commits after this process has
    committed N+1: a reader must not pass N+1 before N is there."""
    with fresh_database(postgres_server) as url:
        db = PostgresDatabase(url)
        await db.open()
        try:
            store = Store(db)
            ctx = WriteContext("admin", "POST", "/tokens")
            await store.create_token("before", "scim", ctx)
            seen, position = await store.journal_after(None, 10)
            with psycopg.connect(url) as slow:  # a transaction left open, as if mid-write
                slow.execute(
                    "INSERT INTO journal (at, method, path, status, resource_id) "
                    "VALUES ('t', 'POST', '/slow', 201, 'slow')"
                )
                await store.create_token("after", "scim", ctx)  # commits first, id N+1
                held, held_position = await store.journal_after(position, 10)
                assert (held, held_position) == ([], position)  # waits behind the open one
                slow.commit()
            late, _ = await store.journal_after(position, 10)
            assert [e.resource_id for e in seen + late] == ["before", "slow", "after"]
        finally:
            await db.close()
