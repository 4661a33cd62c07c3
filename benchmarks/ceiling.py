"""The ceiling: a bare aiohttp app doing the one SQLite statement each scimlite request needs.

Same stack, same PRAGMAs (WAL, synchronous as scimlite's default), no SCIM: what is left
between this and scimlite is what scimlite itself costs. Run as
`python -m benchmarks.ceiling DB PORT`.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
from aiohttp import web

CONN = web.AppKey("conn", aiosqlite.Connection)


async def _conn(app: web.Application) -> AsyncIterator[None]:
    path = Path(sys.argv[1])
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = FULL")
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS ceiling_rows (id TEXT PRIMARY KEY, doc TEXT NOT NULL)"
    )
    app[CONN] = conn
    yield
    await conn.close()


async def bare_json(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def point_lookup(request: web.Request) -> web.Response:
    """One primary-key SELECT, the stored document returned as it is."""
    async with request.app[CONN].execute(
        "SELECT doc FROM users WHERE id = ?", (request.match_info["id"],)
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        raise web.HTTPNotFound()
    return web.Response(text=row[0], content_type="application/json")


async def insert(request: web.Request) -> web.Response:
    """One INSERT and its commit (autocommit: the statement is its own transaction)."""
    body = await request.text()
    await request.app[CONN].execute(
        "INSERT INTO ceiling_rows (id, doc) VALUES (?, ?)", (str(uuid.uuid4()), body)
    )
    return web.Response(status=201, text=body, content_type="application/json")


def create_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(_conn)
    app.router.add_get("/json", bare_json)
    app.router.add_get("/users/{id}", point_lookup)
    app.router.add_post("/users", insert)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
