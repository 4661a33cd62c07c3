"""An app served on its own event loop in a thread, so synchronous hypothesis and
schemathesis tests can talk to it over HTTP while pytest's loop stays out of the way; and
the raw HTTP helpers they use. Server processes are in tests/serverproc.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store import Store
from scimlite.store.sqlite.db import SQLiteDatabase as Database

T = TypeVar("T")
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def create_token(db_path: Path, name: str = "test-idp") -> str:
    """A scim-scope token in the file, made the way `scimlite token create` makes it."""
    db = Database(db_path, readers=1)
    await db.open()
    try:
        _, secret = await Store(db).create_token(name, "scim")
    finally:
        await db.close()
    return secret


class ThreadedApp:
    """`create_app(settings)` served on 127.0.0.1 from a private loop in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    async def _start(self) -> None:
        self.runner = web.AppRunner(create_app(self.settings), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    def __enter__(self) -> ThreadedApp:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.runner is not None:
            self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, name: str = "fuzz") -> str:
        assert self.runner is not None
        _, secret = self.run(self.runner.app[STORE].create_token(name, "scim"))
        return secret


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with raw bytes in and out (urls may carry any bytes, already quoted)."""
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, "/" + path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def assert_scim_error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """RFC 7644 §3.12: a 4xx/5xx under /scim/v2 is an Error body in application/scim+json."""
    assert headers.get("content-type", "").split(";")[0] == SCIM_JSON, (status, headers, body)
    doc: dict[str, Any] = json.loads(body)
    assert doc["schemas"] == [ERROR_SCHEMA], doc
    assert doc["status"] == str(status), doc
    assert isinstance(doc.get("detail"), str) and doc["detail"], doc
    return doc
