"""Webhooks under kill -9 (issue #18 quality bar): a server killed while a delivery is in
flight re-delivers that one event after a restart, and no event it had delivered; with
processes sharing PostgreSQL, one delivers at a time and another takes over a dead one's
endpoints."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from scimlite import timeutil
from scimlite.cli import main
from scimlite.store import Store, open_database
from tests.support import USER_SCHEMA, create_token, free_port
from tests.support.postgres import fresh_database
from tests.support.process import ServerProcess
from tests.support.webhooks import receiving

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


@pytest.mark.slow
async def test_processes_sharing_postgres_deliver_each_event_once_and_take_over(
    postgres_server: str,
) -> None:
    """Two `scimlite serve` on one PostgreSQL database: the endpoint's lease lets one process
    deliver at a time (never two requests in flight, no event twice); when that process is
    killed, the other takes the endpoint over once the lease has ended."""
    async with receiving() as got:
        got.delay = 0.02  # long enough for a second process's request to overlap
        with fresh_database(postgres_server) as url:
            db = open_database(path=Path(), url=url, readers=1)
            await db.open()
            try:
                store = Store(db)
                _, token = await store.create_token("idp", "scim")
                await store.add_webhook(got.url, (), await store.events_now(), timeutil.now())
            finally:
                await db.close()
            env = {
                "SCIMLITE_DATABASE_URL": url,
                "SCIMLITE_WEBHOOK_ALLOW_PRIVATE": "true",
                "SCIMLITE_WEBHOOK_TIMEOUT": "1",
            }
            servers = []
            for _ in range(2):
                port = free_port()
                argv = [sys.executable, "-m", "scimlite", "serve", "--port", str(port)]
                servers.append(ServerProcess(argv, port=port, env=env))
            try:
                await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))
                headers = {"Authorization": f"Bearer {token}"}
                async with aiohttp.ClientSession(headers=headers) as session:

                    async def create(i: int) -> None:
                        body = {"schemas": [USER_SCHEMA], "userName": f"user{i}"}
                        base = servers[i % 2].base if servers[0].proc else servers[1].base
                        async with session.post(f"{base}/scim/v2/Users", json=body) as resp:
                            assert resp.status == 201

                    for i in range(10):
                        await create(i)
                    await got.wait_for(10)
                    await asyncio.sleep(0.5)
                    first = [orjson.loads(b)["data"]["user"]["userName"] for _, b in got.got]
                    assert first == [f"user{i}" for i in range(10)]
                    servers[0].kill()
                    servers[0].proc = None
                    for i in range(10, 20):
                        await create(i)
                    names = [f"user{i}" for i in range(20)]

                    async def all_arrived() -> bool:
                        seen = {orjson.loads(b)["data"]["user"]["userName"] for _, b in got.got}
                        return seen >= set(names)

                    deadline = time.monotonic() + 60
                    while not await all_arrived():
                        assert time.monotonic() < deadline, len(got.got)
                        await asyncio.sleep(0.1)
            finally:
                for server in servers:
                    if server.proc is not None and server.proc.poll() is None:
                        server.stop()
        arrived = [orjson.loads(b)["data"]["user"]["userName"] for _, b in got.got]
        assert got.most_in_flight == 1
        assert [n for i, n in enumerate(arrived) if n not in arrived[:i]] == names  # in order
        assert len(arrived) <= len(names) + 1  # at most the event in flight, twice
