"""An app served on its own event loop in a thread, so synchronous hypothesis and
schemathesis tests can talk to it over HTTP (`tests.support.request`) while pytest's loop
stays out of the way. Server processes are in tests/support/process.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings

T = TypeVar("T")


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
