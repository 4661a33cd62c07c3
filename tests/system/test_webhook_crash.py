"""Webhooks under kill -9 (issue #18 quality bar): a server killed while a delivery is in
flight re-delivers that one event after a restart, and no event it had delivered."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from scimlite.cli import main
from tests.support import USER_SCHEMA, create_token
from tests.support.process import ServerProcess

USERS = 8
HANG_ON = 5  # the receiver leaves this delivery (1-based) unanswered, and the server dies


class Receiver:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.ids.append(request.headers["webhook-id"])
        if len(self.ids) == HANG_ON:
            await self.release.wait()  # in flight until the server is killed
        return web.Response(status=204)

    async def until(self, count: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while len(self.ids) < count:
            assert time.monotonic() < deadline, f"{len(self.ids)} of {count} deliveries"
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_sigkill_during_a_delivery_redelivers_only_the_event_in_flight(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hooks.db"
    token = await create_token(db, "idp")
    got = Receiver()
    app = web.Application()
    app.router.add_post("/hook", got.handle)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    url = str(receiver.make_url("/hook"))
    add = ["webhook", "add", url, "--allow-private", "--db", str(db)]
    assert await asyncio.to_thread(main, add) == 0
    server = ServerProcess.serve(db)
    server.env.update(SCIMLITE_WEBHOOK_ALLOW_PRIVATE="true", SCIMLITE_WEBHOOK_TIMEOUT="2")
    server.start()
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            for i in range(USERS):
                body = {"schemas": [USER_SCHEMA], "userName": f"user{i}"}
                async with session.post(f"{server.base}/scim/v2/Users", json=body) as resp:
                    assert resp.status == 201
        await got.until(HANG_ON)
        server.kill()  # at once: the worker waits up to 2 s for an answer
        got.release.set()
        delivered = list(got.ids)
        server.start()  # the dead process's lease ends within 2·2 + 5 s
        await got.until(USERS + 1)
        await asyncio.sleep(1)
        assert server.stop() == 0
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
        await receiver.close()
    assert delivered == [str(i) for i in range(1, HANG_ON + 1)]
    assert got.ids == delivered + [str(i) for i in range(HANG_ON, USERS + 1)]
