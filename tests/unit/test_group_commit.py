"""Group commit on SQLite (issue #14): writes that queue while one commits share the next
COMMIT and its fsync, each in its own savepoint, and none is acknowledged before the COMMIT
that holds it has returned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from scimlite.store.database import Conn
from scimlite.store.sqlite.db import SQLiteDatabase
from tests.unit.test_writer_thread import HANG_GUARD, Gate, insert, token_names


class Commits:
    def __init__(self) -> None:
        self.sizes: list[int] = []


@pytest.fixture
async def commits() -> Commits:
    return Commits()


async def opened(path: Path, commits: Commits, max_batch: int = 64) -> SQLiteDatabase:
    db = SQLiteDatabase(path, max_batch=max_batch, on_commit=commits.sizes.append)
    await db.open()
    return db


@pytest.fixture
async def db(tmp_path: Path, commits: Commits) -> AsyncIterator[SQLiteDatabase]:
    database = await opened(tmp_path / "group.db", commits)
    yield database
    await database.close()


async def queued_behind(
    db: SQLiteDatabase, fns: list[Callable[[Conn], object]]
) -> tuple[Gate, asyncio.Task[object], list[asyncio.Task[object]]]:
    """A first write held on the writer's thread, and `fns` queued while it runs."""
    gate = Gate()
    first = asyncio.create_task(db.write(gate.hold(insert("first"))))
    await gate.wait_started()
    rest = [asyncio.create_task(db.write(fn)) for fn in fns]
    await asyncio.sleep(0.01)  # every one of them is queued
    return gate, first, rest


async def test_writes_queued_while_one_commits_share_the_next_commit(
    db: SQLiteDatabase, commits: Commits
) -> None:
    gate, first, rest = await queued_behind(db, [insert(f"w{i}") for i in range(5)])
    gate.release.set()
    async with asyncio.timeout(HANG_GUARD):
        await asyncio.gather(first, *rest)
    assert commits.sizes == [1, 5]
    assert token_names(db.path) == ["first", "w0", "w1", "w2", "w3", "w4"]


async def test_a_write_alone_commits_at_once(db: SQLiteDatabase, commits: Commits) -> None:
    for name in ("a", "b", "c"):
        await db.write(insert(name))
    assert commits.sizes == [1, 1, 1]


async def test_a_batch_holds_at_most_write_batch_writes(tmp_path: Path, commits: Commits) -> None:
    db = await opened(tmp_path / "small.db", commits, max_batch=2)
    try:
        gate, first, rest = await queued_behind(db, [insert(f"w{i}") for i in range(5)])
        gate.release.set()
        async with asyncio.timeout(HANG_GUARD):
            await asyncio.gather(first, *rest)
    finally:
        await db.close()
    assert commits.sizes == [1, 2, 2, 1]
    assert len(token_names(tmp_path / "small.db")) == 6


async def test_a_failing_write_in_a_batch_fails_alone(db: SQLiteDatabase, commits: Commits) -> None:
    def fail(conn: Conn) -> None:
        insert("undone")(conn)
        raise ValueError("refused")

    gate, first, rest = await queued_behind(db, [insert("before"), fail, insert("after")])
    gate.release.set()
    async with asyncio.timeout(HANG_GUARD):
        outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert [type(o).__name__ for o in outcomes] == [
        "NoneType",
        "NoneType",
        "ValueError",
        "NoneType",
    ]
    assert token_names(db.path) == ["after", "before", "first"]
    assert commits.sizes == [1, 3]


async def test_no_write_is_acknowledged_before_the_commit_that_holds_it(
    db: SQLiteDatabase,
) -> None:
    """The first write of a batch is done on the writer, but its caller hears nothing while
    a later write of the same batch still runs: their COMMIT has not happened yet."""
    gate, first, _ = await queued_behind(db, [])
    held = Gate()
    early = asyncio.create_task(db.write(insert("early")))
    late = asyncio.create_task(db.write(held.hold(insert("late"))))
    await asyncio.sleep(0.01)
    gate.release.set()
    await first
    await held.wait_started()  # "early" has run in the batch's transaction
    await asyncio.sleep(0.05)
    assert not early.done()
    assert token_names(db.path) == ["first"]  # nothing of the batch is visible yet
    held.release.set()
    async with asyncio.timeout(HANG_GUARD):
        await asyncio.gather(early, late)
    assert token_names(db.path) == ["early", "first", "late"]


async def test_a_batch_that_cannot_commit_runs_each_write_alone(
    db: SQLiteDatabase, commits: Commits
) -> None:
    """A deferred foreign key fails the batch's COMMIT: the writes run again, each in a
    transaction of its own, and only the one at fault fails."""

    def dangling(conn: Conn) -> None:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute("INSERT INTO memberships (group_id, user_id) VALUES ('nobody', 'none')")

    gate, first, rest = await queued_behind(db, [insert("kept"), dangling, insert("also kept")])
    gate.release.set()
    async with asyncio.timeout(HANG_GUARD):
        outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert "FOREIGN KEY" in str(outcomes[2])
    assert [o for i, o in enumerate(outcomes) if i != 2] == [None, None, None]
    assert token_names(db.path) == ["also kept", "first", "kept"]
    assert commits.sizes == [1]  # the batch's COMMIT failed; the retries commit one by one


async def test_a_batch_whose_transaction_sqlite_ended_runs_each_write_alone(
    db: SQLiteDatabase,
) -> None:
    def ends_it(conn: Conn) -> None:
        conn.execute("ROLLBACK")

    gate, first, rest = await queued_behind(db, [insert("one"), ends_it, insert("two")])
    gate.release.set()
    async with asyncio.timeout(HANG_GUARD):
        outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert outcomes[0] is None and outcomes[1] is None and outcomes[3] is None
    assert isinstance(outcomes[2], Exception)
    assert token_names(db.path) == ["first", "one", "two"]


async def test_a_write_cancelled_while_queued_never_runs(db: SQLiteDatabase) -> None:
    gate, first, rest = await queued_behind(db, [insert("cancelled"), insert("kept")])
    rest[0].cancel()
    gate.release.set()
    async with asyncio.timeout(HANG_GUARD):
        await asyncio.gather(first, rest[1])
    assert token_names(db.path) == ["first", "kept"]


async def test_a_second_process_on_the_file_waits_for_the_first_ones_transaction(
    db: SQLiteDatabase, commits: Commits
) -> None:
    """Two databases on one file stand for two `--workers`: the write lock (flock) makes
    the second wait for the first's transaction, then commit, with no 'database is locked'."""
    other = await opened(db.path, commits)
    try:
        async with db.batch() as batch:
            await batch.run(insert("first"))
            waiting = asyncio.create_task(other.write(insert("second")))
            await asyncio.sleep(0.1)
            assert not waiting.done()
        async with asyncio.timeout(HANG_GUARD):
            await waiting
    finally:
        await other.close()
    assert token_names(db.path) == ["first", "second"]


async def test_a_cancelled_transaction_lets_the_other_process_write(
    db: SQLiteDatabase, commits: Commits
) -> None:
    other = await opened(db.path, commits)
    gate = Gate()

    async def bulk() -> None:
        async with db.batch() as batch:
            await batch.run(gate.hold(insert("held")))

    try:
        task = asyncio.create_task(bulk())
        await gate.wait_started()
        task.cancel()
        gate.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(HANG_GUARD):
            await other.write(insert("other"))
            await db.write(insert("again"))
    finally:
        await other.close()
    assert token_names(db.path) == ["again", "other"]
