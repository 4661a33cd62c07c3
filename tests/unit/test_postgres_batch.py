"""A /Bulk chunk on PostgreSQL (PostgresBatch): its operations run on worker threads, so a
request cancelled mid-operation (the client hung up) must not roll back underneath one."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from scimlite.store.database import Conn
from scimlite.store.postgres.db import PostgresDatabase
from tests.support.postgres import fresh_database


async def test_a_cancelled_chunk_leaves_no_half_operation(postgres_server: str) -> None:
    """The operation's thread goes on after its caller is cancelled; the chunk's ROLLBACK
    used to run between two of its statements, and the rest then committed one by one
    (the connection is in autocommit outside BEGIN), half an operation for good."""
    with fresh_database(postgres_server) as url:
        db = PostgresDatabase(url)
        await db.open()
        try:
            await db.write(lambda conn: conn.execute("CREATE TABLE scratch (n integer)"))
            midway = threading.Event()

            def operation(conn: Conn) -> None:
                conn.execute("INSERT INTO scratch VALUES (1)")
                midway.set()
                time.sleep(0.5)  # between two statements, as a busy machine may be
                conn.execute("INSERT INTO scratch VALUES (2)")

            async def bulk() -> None:
                async with db.batch() as batch:
                    await batch.run(operation)

            request = asyncio.create_task(bulk())
            await asyncio.to_thread(midway.wait, 5)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            await asyncio.sleep(0.7)  # anything still running on the connection is done
            async with db.read() as conn:
                rows = await conn.execute_fetchall("SELECT n FROM scratch")
            assert rows == []
        finally:
            await db.close()


async def test_a_chunk_cancelled_waiting_for_a_connection_gives_it_back(
    postgres_server: str,
) -> None:
    """Taking a connection is a worker thread too: cancelled while it waited, the connection
    it got afterwards was never returned, and the pool of writers shrank for good."""
    with fresh_database(postgres_server) as url:
        db = PostgresDatabase(url, writers=1, connect_timeout=3)
        await db.open()
        try:
            holding, release = asyncio.Event(), asyncio.Event()

            async def first() -> None:
                async with db.batch():
                    holding.set()
                    await release.wait()

            async def second() -> None:
                async with db.batch():
                    pass

            held = asyncio.create_task(first())
            await holding.wait()
            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.2)  # blocked in the pool: the only writer is taken
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            release.set()
            await held
            await asyncio.sleep(0.2)  # the waiting thread has its connection by now
            await asyncio.wait_for(db.write(lambda conn: conn.execute("SELECT 1")), 2)
        finally:
            await db.close()
