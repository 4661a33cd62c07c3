"""The HTTP server under the app: what aiohttp's defaults leave open to a hostile network.

- A request head must arrive within `header_timeout` seconds of the connection opening or
  of the previous response. aiohttp's keep-alive timer closes a connection whose handler is
  still waiting for a complete head; set to `header_timeout`, it closes an idle keep-alive
  connection and a slowloris alike, where its default (an hour) kept both open.
- A request body must arrive within `body_timeout` seconds (`body_deadline`): 408.
- The address is bound before anything else happens (`listen`), so a port in use or an
  address the machine does not have is one line of error before a database is created or a
  token printed, not a traceback after (issue #16, item 5).
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
import errno
import logging
import resource
import signal
import socket
from contextlib import suppress
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.typedefs import Handler
from aiohttp.web_request import BaseRequest

from scimlite.api.http import SERVER, error_response
from scimlite.keys import SETTINGS
from scimlite.scim.errors import ScimError
from scimlite.settings import Settings

log = logging.getLogger("scimlite.http")
MAX_LINE = 8190  # bytes in the request line and in one header field (aiohttp's default)
# Descriptors kept back from the connection cap: the database, its readers, logs, sockets.
FD_RESERVE = 64
BACKLOG = 512


class ListenError(Exception):
    """The server cannot listen where it was asked to; the message is one line."""


def _why(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use — pass --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine — pass --host"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} — pass --port (1024 or above)"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def listen(settings: Settings, *, reuse_port: bool = False) -> list[socket.socket]:
    """Listening sockets for `settings.host:port`, one per address the host resolves to,
    bound as asyncio's `create_server` binds them; ListenError if any cannot be bound.
    `reuse_port`: SO_REUSEPORT, so each of several workers binds the port (api/workers.py)."""
    host, port = settings.host, settings.port
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(f"cannot resolve host {host!r}: {exc.strerror} — pass --host") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:  # as asyncio: v4 addresses get their own socket
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ListenError(_why(exc, host, port)) from None
    return sockets


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
        response.headers["Server"] = SERVER  # no app here, so no access-log middleware
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
    """A site on one listening socket whose connections come from `_Connections`."""

    def __init__(self, runner: web.AppRunner, sock: socket.socket, factory: _Connections) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self._sock, self._factory = sock, factory

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, sock=self._sock, backlog=BACKLOG)


async def start(
    app: web.Application,
    settings: Settings,
    sockets: list[socket.socket] | None = None,
) -> web.AppRunner:
    """Set the app up and serve on `sockets` (by default, `listen(settings)`'s);
    `runner.cleanup()` stops it."""
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
    sockets = listen(settings) if sockets is None else sockets
    runner = web.AppRunner(app, shutdown_timeout=10)
    await runner.setup()
    assert runner.server is not None  # setup() made it
    handler_args: dict[str, Any] = {
        "access_log": None,  # scimlite.accesslog logs each request, with its token's name
        "keepalive_timeout": settings.header_timeout,
        "max_line_size": MAX_LINE,
        "max_field_size": MAX_LINE,
    }
    factory = _Connections(runner.server, limit, handler_args)  # one cap for every socket
    for sock in sockets:
        await _Site(runner, sock, factory).start()
    return runner


def run(app: web.Application, settings: Settings, sockets: list[socket.socket]) -> int:
    """Serve on `sockets` until SIGINT or SIGTERM, then stop gracefully (what
    `web.run_app` does); the number of requests served."""
    raise_fd_limit()
    served = 0

    async def serve() -> None:
        nonlocal served
        # Our own handlers rather than aiohttp's GracefulExit: a second signal while
        # stopping (Ctrl-C reaches a worker from the terminal and from its parent) must not
        # interrupt the graceful stop already under way.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = await start(app, settings, sockets)
        assert runner.server is not None
        server = runner.server
        try:
            await stop.wait()
        finally:
            # From here on a signal changes nothing, up to the process's exit: once the loop
            # closed, SIGTERM's default action would kill a worker that its parent's
            # forwarded stop reached late, before it reported how many requests it served.
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_IGN)
            await runner.cleanup()
            served = server.requests_count

    loop = asyncio.new_event_loop()
    try:
        main = loop.create_task(serve())
        with suppress(KeyboardInterrupt):  # a SIGINT before the handlers are in place
            loop.run_until_complete(main)
        main.cancel()
        with suppress(asyncio.CancelledError):
            loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
    return served


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body that has not fully arrived within `body_timeout` seconds fails its read: 408.

    Only reading is bounded, not the handler: a write waiting for the writer is not the
    client's doing. The connection is closed after the answer, since its body is unread.
    """
    payload = request.content
    if payload.is_eof():
        return await handler(request)
    seconds = request.app[SETTINGS].body_timeout
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
