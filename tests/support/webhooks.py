"""A webhook receiver for tests: an aiohttp server on 127.0.0.1 that keeps each request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer


class Receiver:
    """A webhook receiver: keeps each request, answers `status` after `delay` seconds."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.status = 204
        self.delay = 0.0
        self.url = ""
        self.in_flight = self.most_in_flight = 0  # requests being answered at once

    async def handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self.got.append((dict(request.headers), await request.read()))
            if self.delay:
                await asyncio.sleep(self.delay)
            return web.Response(status=self.status, text="no" if self.status >= 300 else "")
        finally:
            self.in_flight -= 1

    async def wait_for(self, count: int, seconds: float = 20) -> list[Any]:
        """The bodies of the first `count` requests, once they arrived."""
        deadline = time.monotonic() + seconds
        while len(self.got) < count:
            assert time.monotonic() < deadline, f"{len(self.got)} of {count} arrived"
            await asyncio.sleep(0.02)
        return [orjson.loads(body) for _, body in self.got[:count]]


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A Receiver listening at its `url` until the block ends."""
    got = Receiver()
    app = web.Application()
    app.router.add_post("/hook", got.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    got.url = str(server.make_url("/hook"))
    try:
        yield got
    finally:
        await server.close()
