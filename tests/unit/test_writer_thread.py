"""The writer thread: one thread of scimlite's own runs every write transaction (issue #13)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from scimlite.store.database import Conn, DatabaseError
from scimlite.store.sqlite.db import SQLiteDatabase as Database

HANG_GUARD = 10  # seconds; only stops a broken build from hanging the suite


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "writer.db")
    await database.open()
    yield database
    await database.close()


def insert(name: str) -> Callable[[Conn], None]:
    def fn(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO tokens (name, prefix, hash, scope, created) "
            "VALUES (?, ?, 'h', 'scim', 'now')",
            (name, name),
        )

    return fn


def token_names(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM tokens ORDER BY name")]


def writer_threads() -> int:
    return sum(t.name == "scimlite-writer" for t in threading.enumerate())


class Gate:
    """Holds a write closure on the writer's thread until the test lets it go."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def hold(self, then: Callable[[Conn], None]) -> Callable[[Conn], None]:
        def fn(conn: Conn) -> None:
            self.started.set()
            self.release.wait(HANG_GUARD)
            then(conn)

        return fn

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, HANG_GUARD)


async def test_a_write_runs_on_the_writer_thread_inside_one_transaction(db: Database) -> None:
    def where(conn: Conn) -> tuple[str, bool]:
        assert isinstance(conn, sqlite3.Connection)
        return threading.current_thread().name, conn.in_transaction

    assert await db.write(where) == ("scimlite-writer", True)


async def test_a_write_that_raises_is_rolled_back_and_its_error_reaches_the_caller(
    db: Database,
) -> None:
    def fail(conn: Conn) -> None:
        insert("lost")(conn)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await db.write(fail)
    await db.write(insert("kept"))
    assert token_names(db.path) == ["kept"]


async def test_a_sqlite_error_reaches_the_caller_and_the_next_write_runs(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await db.write(lambda conn: conn.execute("INSERT INTO memberships VALUES ('no', 'no')"))
    await db.write(insert("after"))
    assert token_names(db.path) == ["after"]


async def test_a_write_whose_caller_is_cancelled_still_ends_its_transaction(
    db: Database,
) -> None:
    """A closure once handed to the writer runs to its end (COMMIT or ROLLBACK), so the
    next write never meets a transaction left open."""
    gate = Gate()
    task = asyncio.create_task(db.write(gate.hold(insert("cancelled"))))
    await gate.wait_started()
    task.cancel()
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(HANG_GUARD):
        await db.write(insert("next"))
    assert token_names(db.path) == ["cancelled", "next"]


async def test_close_waits_for_a_write_in_progress(tmp_path: Path) -> None:
    db = Database(tmp_path / "closing.db")
    await db.open()
    gate = Gate()
    write = asyncio.create_task(db.write(gate.hold(insert("in-flight"))))
    await gate.wait_started()
    close = asyncio.create_task(db.close())
    await asyncio.sleep(0.05)
    assert not close.done()
    gate.release.set()
    async with asyncio.timeout(HANG_GUARD):
        await asyncio.gather(write, close)
    assert token_names(tmp_path / "closing.db") == ["in-flight"]


async def test_close_ends_the_writer_thread_and_later_writes_are_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "closed.db")
    await db.open()
    running = writer_threads()
    await db.close()
    assert writer_threads() == running - 1
    with pytest.raises(DatabaseError, match="not open"):
        await db.write(insert("late"))


async def test_a_batch_keeps_the_operations_that_succeed_and_commits_once(db: Database) -> None:
    def fail(conn: Conn) -> None:
        insert("undone")(conn)
        raise ValueError("this operation fails")

    async with db.batch() as batch:
        await batch.run(insert("first"))
        with pytest.raises(ValueError):
            await batch.run(fail)
        await batch.run(insert("third"))
        assert token_names(db.path) == []  # nothing committed before the batch ends
    assert token_names(db.path) == ["first", "third"]


async def test_a_batch_that_raises_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.batch() as batch:
            await batch.run(insert("gone"))
            raise RuntimeError("abort")
    await db.write(insert("after"))
    assert token_names(db.path) == ["after"]


async def test_a_batch_cancelled_twice_is_still_rolled_back(db: Database) -> None:
    """The ROLLBACK queued on the way out of a cancelled batch runs even if its caller is
    cancelled again while it waits behind the operation still running."""
    gate = Gate()

    async def bulk() -> None:
        async with db.batch() as batch:
            await batch.run(insert("before"))
            await batch.run(gate.hold(insert("held")))

    task = asyncio.create_task(bulk())
    await gate.wait_started()
    task.cancel()
    await asyncio.sleep(0.01)  # the task is now waiting for its ROLLBACK
    task.cancel()
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(HANG_GUARD):
        await db.write(insert("after"))
    assert token_names(db.path) == ["after"]
