"""Small helpers for the store's SQL: one hop per statement, ids bound in chunks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from scimlite.store.database import Conn, ReadConn

_CHUNK = 500  # ids bound per statement; far below SQLite's variable limit


def chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def marks(n: int) -> str:
    return ",".join("?" * n)


async def fetch_all(conn: ReadConn, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """All rows of one statement in a single hop to the connection's thread.

    `execute` + `fetchone` + cursor close are three hops; on a point lookup the hops,
    not SQLite, are most of the cost.
    """
    return list(await conn.execute_fetchall(sql, params))


def fetch_all_sync(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def fetch_one_sync(conn: Conn, sql: str, params: Sequence[Any] = ()) -> Any:
    return conn.execute(sql, params).fetchone()


async def fetch_one(conn: ReadConn, sql: str, params: Sequence[Any] = ()) -> Any:
    found = await fetch_all(conn, sql, params)
    return found[0] if found else None
