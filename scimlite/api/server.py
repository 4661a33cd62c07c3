"""The HTTP server under the app: what aiohttp's defaults leave open to a hostile network.

- A request head must arrive within `header_timeout` seconds of the connection opening or
  of the previous response. aiohttp's keep-alive timer closes a connection whose handler is
  still waiting for a complete head; set to `header_timeout`, it closes an idle keep-alive
  connection and a slowloris alike, where its default (an hour) kept both open.
- A request body must arrive within `body_timeout` seconds (`body_deadline`): 408.
- At most `max_connections` connections are open at once; a connection past the cap is
  closed as soon as it is accepted, with one warning per episode, not one per accept. The
  soft RLIMIT_NOFILE is raised to the hard limit at start, so a flood meets the cap and not
  "Too many open files" in the accept loop.
- A request aiohttp cannot parse (a line over `MAX_LINE` bytes, bad header bytes) is a SCIM
  Error body and one short log line that never quotes the request: aiohttp's own handler
  logs a traceback holding the first ~100 bytes of the line, a live token for an
  `Authorization` or `Cookie` header (issue #12, findings 6 and 7).

What a reverse proxy still adds (TLS, per-client connection and rate limits, buffering of
slow clients) is in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from contextlib import suppress
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.typedefs import Handler
from aiohttp.web_request import BaseRequest

from scimlite.api.http import error_response
from scimlite.keys import SETTINGS
from scimlite.scim.errors import ScimError
from scimlite.settings import Settings

log = logging.getLogger("scimlite.http")
MAX_LINE = 8190  # bytes in the request line and in one header field (aiohttp's default)
# Descriptors kept back from the connection cap: the database, its readers, logs, sockets.
FD_RESERVE = 64


def raise_fd_limit() -> int:
    """Raise the soft open-file limit to the hard one; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return soft


class _ScimRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering unparsable requests without quoting them."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:  # a server fault, not client input: aiohttp logs its traceback
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, LineTooLong):
            detail = f"the request line or a header field is longer than {MAX_LINE} bytes"
        else:
            detail = "the request is not valid HTTP/1.1"
        log.warning("refused a malformed request from %s: %s", request.remote, detail)
        # RFC 7644 §3.12 even before routing: the path may be unknown, the body is SCIM.
        response = error_response(ScimError(detail, status=status))
        response.force_close()
        return response


class _Refused(asyncio.Protocol):
    """A connection past the cap: closed as soon as it is accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Connections:
    """The listening socket's protocol factory: aiohttp's handler, up to `limit` at once."""

    def __init__(self, server: web.Server, limit: int, handler_args: dict[str, Any]) -> None:
        self._server, self._limit, self._handler_args = server, limit, handler_args
        self._saturated = False

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self._server.connections) >= self._limit:
            if not self._saturated:
                self._saturated = True
                log.warning(
                    "%d connections open, the limit (SCIMLITE_MAX_CONNECTIONS): closing new "
                    "connections until some end",
                    self._limit,
                )
            return _Refused()
        if self._saturated:
            self._saturated = False
            log.info("accepting connections again")
        loop = asyncio.get_running_loop()
        return _ScimRequestHandler(self._server, loop=loop, **self._handler_args)


class _Site(web.BaseSite):
    """A TCP site whose connections come from `_Connections`."""

    def __init__(self, runner: web.AppRunner, settings: Settings, limit: int) -> None:
        super().__init__(runner, backlog=512)
        self._host, self._port, self._limit = settings.host, settings.port, limit
        self._handler_args: dict[str, Any] = {
            "access_log": None,  # scimlite.accesslog logs each request, with its token's name
            "keepalive_timeout": settings.header_timeout,
            "max_line_size": MAX_LINE,
            "max_field_size": MAX_LINE,
        }

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None  # BaseSite.__init__ checked that setup() ran
        factory = _Connections(server, self._limit, self._handler_args)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            factory, self._host, self._port, backlog=self._backlog, reuse_address=True
        )


async def start(
    app: web.Application, settings: Settings, *, handle_signals: bool = False
) -> web.AppRunner:
    """Set the app up and listen on `settings.host:port`; `runner.cleanup()` stops it."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = settings.max_connections
    if soft != resource.RLIM_INFINITY and limit > soft - FD_RESERVE:
        limit = max(1, soft - FD_RESERVE)
        log.warning(
            "SCIMLITE_MAX_CONNECTIONS=%d exceeds what the open-file limit (%d) allows; using %d",
            settings.max_connections,
            soft,
            limit,
        )
    runner = web.AppRunner(app, handle_signals=handle_signals, shutdown_timeout=10)
    await runner.setup()
    await _Site(runner, settings, limit).start()
    return runner


def run(app: web.Application, settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM, then stop gracefully (what `web.run_app` does)."""
    raise_fd_limit()

    async def serve() -> None:
        runner = await start(app, settings, handle_signals=True)
        try:
            await asyncio.Event().wait()  # until a signal raises GracefulExit
        finally:
            await runner.cleanup()

    loop = asyncio.new_event_loop()
    try:
        main = loop.create_task(serve())
        with suppress(web.GracefulExit, KeyboardInterrupt):
            loop.run_until_complete(main)
        main.cancel()
        with suppress(asyncio.CancelledError):
            loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body that has not fully arrived within `body_timeout` seconds fails its read: 408.

    Only reading is bounded, not the handler: a write waiting for the writer is not the
    client's doing. The connection is closed after the answer, since its body is unread.
    """
    payload = request.content
    if payload.is_eof():
        return await handler(request)
    seconds = request.config_dict[SETTINGS].body_timeout
    expired = False

    def expire() -> None:
        nonlocal expired
        if not payload.is_eof():
            expired = True
            detail = f"the request body did not arrive within {seconds:g} s"
            payload.set_exception(web.HTTPRequestTimeout(text=detail))

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await handler(request)
    finally:
        timer.cancel()
        if expired:
            payload.feed_eof()  # nothing more is read from this body, nor lingered over
            request.protocol.close()
