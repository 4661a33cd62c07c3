"""Following the events feed by position (Store.events_after): every event once, in an order
in which an event that commits late is never skipped — with writers in several processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from scimlite.settings import Settings
from scimlite.store import Event, Store, WriteContext, open_database
from scimlite.store.postgres import db as pg
from scimlite.store.postgres.db import PostgresDatabase
from tests.support.postgres import fresh_database

CTX = WriteContext("idp", "POST", "/scim/v2/Users")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    db = open_database(path=settings.db_path, url=settings.database_url)
    await db.open()
    try:
        yield Store(db)
    finally:
        await db.close()


async def _user(store: Store, name: str) -> None:
    await store.users.create({"userName": name}, None, CTX)


async def _visible(store: Store, after: str) -> tuple[list[Event], str]:
    """The next events, once they show: on PostgreSQL, once every older transaction ended."""
    for _ in range(300):
        found, position = await store.events_after(after, 10)
        if found:
            return found, position
        await asyncio.sleep(0.1)
    raise AssertionError("no event showed within 30 s")


async def test_positions_are_real_even_on_an_empty_feed(store: Store) -> None:
    events, start = await store.events_after(None, 10)
    assert events == [] and start == await store.events_now()
    assert await store.events_after(start, 10) == ([], start)
    await _user(store, "ada")
    (created,), after = await _visible(store, start)
    assert created.type == "user.created" and after == created.position
    assert await store.events_now() == after


async def test_a_position_from_elsewhere_is_refused(store: Store) -> None:
    for bad in ("", "x", "1.2.3", "-1", "1.x", "١", "1" * 20, "9223372036854775808", " 1"):
        with pytest.raises(ValueError, match="not an event position"):
            await store.events_after(bad, 10)


async def test_an_event_that_commits_late_is_not_skipped(postgres_server: str) -> None:
    """Another process's transaction takes event id N and commits after this process has
    committed N+1: a reader must not pass N+1 before N is there."""
    with fresh_database(postgres_server) as url:
        db = PostgresDatabase(url)
        await db.open()
        try:
            store = Store(db)
            await _user(store, "before")
            seen, position = await store.events_after(None, 10)
            with psycopg.connect(url) as slow:  # a transaction left open, as if mid-write
                slow.execute(
                    "INSERT INTO events (journal_id, at, type, user_id) "
                    "VALUES (0, 't', 'user.deleted', 'slow')"
                )
                await _user(store, "after")  # commits first, with a higher id
                held, held_position = await store.events_after(position, 10)
                assert (held, held_position) == ([], position)  # waits behind the open one
                now = await store.events_now()
                slow.commit()
            late, _ = await store.events_after(position, 10)
            assert [e.type for e in seen + late] == ["user.created", "user.deleted", "user.created"]
            # `now` taken while "slow" was open still delivers both: never a miss.
            assert len((await store.events_after(now, 10))[0]) == 2
        finally:
            await db.close()


async def test_a_bulk_chunk_does_not_hold_the_feed_back(postgres_server: str) -> None:
    """A /Bulk chunk is one transaction across an await per operation; under load each
    operation waits for a thread and the event loop, and every event committed meanwhile by
    other writes waited behind the chunk's transaction id until it ended (seen: >5 s). On
    PostgreSQL a chunk open longer than BATCH_HOLD_SECONDS commits before its next
    operation, so it holds the feed back no longer than that and one operation."""
    with fresh_database(postgres_server) as url:
        db = PostgresDatabase(url)
        await db.open()
        try:
            store = Store(db)
            start = await store.events_now()
            async with store.batch() as batch:
                await store.users.create({"userName": "bulk-1"}, None, CTX, batch=batch)
                await _user(store, "single")  # another request's write, committed at once
                await asyncio.sleep(pg.BATCH_HOLD_SECONDS + 0.1)  # the next operation is late
                await store.users.create({"userName": "bulk-2"}, None, CTX, batch=batch)
                shown: list[str] = []
                for _ in range(20):  # 2 s: the feed's own wait is a poll every 0.25 s
                    found, _ = await store.events_after(start, 10)
                    shown = [e.user.doc["userName"] for e in found if e.user]
                    if "single" in shown:
                        break
                    await asyncio.sleep(0.1)
                assert shown == ["bulk-1", "single"]  # while the chunk is still open
            found, _ = await store.events_after(start, 10)
            names = [e.user.doc["userName"] for e in found if e.user]
            assert names == ["bulk-1", "single", "bulk-2"]
        finally:
            await db.close()
