"""One log line per request, as text or JSON lines, and the request id that ties them together.

It also feeds the metrics (`api/metrics.py`): the request is timed here already, so
counting it costs no second middleware. Why its own middleware instead of aiohttp's access
logger: the line must carry the name of
the token that made the request (known only after authentication) and never the token
itself, and it must be machine-readable when `--log-format json` is set. The request id is
taken from an inbound `X-Request-Id` when it looks like one (so a reverse proxy's id carries
through), otherwise made here, and echoed in the response.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import secrets
import sys
import time
from contextlib import nullcontext
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from scimlite.api import route_label
from scimlite.api.auth import TOKEN
from scimlite.api.errors import WRITES
from scimlite.api.http import SERVER
from scimlite.api.metrics import Metrics

LogFormat = Literal["text", "json"]
HEADER = "X-Request-Id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

log = logging.getLogger("scimlite.access")


class RequestIds:
    """Unique ids without a system call per request: a random per-process prefix and a count.

    os.urandom (behind uuid4 and secrets) took ~50 µs a call on the benchmark machine, a
    tenth of a whole GET; an id only has to be unique, not unguessable.
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(4)
        self._count = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._count):x}"


class Outcomes:
    """The requests answered in one turn of the event loop, logged and counted together at
    the start of the next turn.

    Formatting a line and counting a request cost little, but done per request they ran
    with the rest of the request's code evicted from the CPU's caches; done for a turn's
    requests at once, the same code runs warm, and their lines go out in one system call.
    No outcome waits longer than that one turn; GET /metrics flushes before it answers.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._pending: list[tuple[web.Request, str, int, float]] = []

    def add(self, request: web.Request, request_id: str, status: int, seconds: float) -> None:
        pending = self._pending
        pending.append((request, request_id, status, seconds))
        if len(pending) > 1:
            return  # a flush is already scheduled
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop: nothing to wait for
            self.flush()

    def flush(self) -> None:
        """Log and count the pending outcomes (the Request objects are released)."""
        pending, self._pending = self._pending, []
        direct = _direct
        lines: list[dict[str, Any]] = []
        for request, request_id, status, seconds in pending:
            token = request.get(TOKEN)
            name = token.name if token else None  # the name, never the secret
            method = request.method
            fields: dict[str, Any] = {
                "request_id": request_id,
                "remote": request.remote,
                "token": name,
                "method": method,
                "path": request.path,  # no query string: filters may carry e-mail addresses
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
            }
            if direct is not None:
                lines.append(fields)
            else:
                log.info("%s %s %s", method, request.path, status, extra={"access": fields})
            resource = request.match_info.route.resource
            # bounded labels
            route = route_label(resource.canonical) if resource is not None else "unmatched"
            writes = request.get(WRITES)
            quirks = (note for ctx in writes for note in ctx.quirks) if writes else ()
            self._metrics.request_done(route, method, status, seconds, name, quirks)
        if direct is not None and lines:
            direct.write(lines)


# Here rather than in keys.py, which the modules this one imports import.
OUTCOMES = web.AppKey("outcomes", Outcomes)


def access_log(ids: RequestIds, outcomes: Outcomes) -> Middleware:
    """The outermost middleware: gives each request its id, logs the outcome of every
    request, and names scimlite in its `Server` header (not aiohttp's and Python's versions
    to look exploits up by). What it needs is bound here, not looked up per request."""

    @web.middleware
    async def logged(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        done = outcomes.add
        inbound = request.headers.get(HEADER)
        request_id = inbound if inbound and _SANE_ID.fullmatch(inbound) else ids.next()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers[HEADER] = request_id
            exc.headers["Server"] = SERVER
            done(request, request_id, exc.status, time.perf_counter() - started)
            raise
        except BaseException:
            # aiohttp answers 500 (or drops a cancelled request)
            done(request, request_id, 500, time.perf_counter() - started)
            raise
        if not response.prepared:  # a handler that prepares its response sets its own
            headers = response.headers
            headers[HEADER] = request_id
            headers["Server"] = SERVER
        done(request, request_id, response.status, time.perf_counter() - started)
        return response

    return logged


def _utc(seconds: float | None) -> time.struct_time:
    """Log times are UTC, like every time scimlite writes."""
    return time.gmtime(seconds)


def escape(text: str) -> str:
    """`text` on one line: backslashes and non-printable characters (C0/C1 controls, line and
    paragraph separators, bidi and other format characters) as Python escapes, so a decoded
    `%0a` in a path cannot start a forged log line (issue #12, finding 8)."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(
        ch if ch.isprintable() and ch != "\\" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def _field(value: object) -> str:
    """A `key=value` value that cannot pass for another pair: quoted when it has spaces.

    Runs for each field of every access line, so the common case (nothing to escape or
    quote) is a few scans in C and returns the text as it is."""
    text = value if type(value) is str else str(value)
    if text.isprintable() and not ("\\" in text or " " in text or '"' in text or "=" in text):
        return text if text else '""'
    text = escape(text)
    if text and " " not in text and '"' not in text and "=" not in text:
        return text
    return '"' + text.replace('"', '\\"') + '"'


def _pairs(fields: Any) -> str:
    """The access fields as `key=value` pairs (request_id, remote, token, method, path,
    status, latency_ms), leaving out a remote or token that is absent."""
    remote, token = fields["remote"], fields["token"]
    return (
        f"request_id={_field(fields['request_id'])}"
        + ("" if remote is None else f" remote={_field(remote)}")
        + ("" if token is None else f" token={_field(token)}")
        + f" method={_field(fields['method'])} path={_field(fields['path'])}"
        + f" status={fields['status']} latency_ms={fields['latency_ms']}"
    )


def _text_line(asctime: str, level: str, logger: str, message: str, fields: Any) -> str:
    """The text format of one record, escaped onto one line (tracebacks are added after)."""
    line = f"{asctime} {level} {logger} {escape(message)}"
    return f"{line} {_pairs(fields)}" if fields else line


def _json_entry(
    created: float, level: str, logger: str, message: str, fields: Any
) -> dict[str, Any]:
    """The JSON format of one record, before any traceback is added."""
    entry: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", _utc(created))
        + f".{int(created * 1000) % 1000:03d}Z",
        "level": level,
        "logger": logger,
        "message": message,
    }
    entry.update(fields or {})
    return entry


def _json_line(entry: dict[str, Any]) -> str:
    # ASCII only: json escapes C0 controls itself; this also covers U+2028 and U+0085,
    # which some line-oriented tools split on.
    return json.dumps(entry, ensure_ascii=True)


class TextFormatter(logging.Formatter):
    """`time level logger message`, then the access fields as `key=value` pairs.

    The message and every field are escaped onto one line; a traceback's lines are indented,
    so no line of a record can look like the start of another.
    """

    converter = staticmethod(_utc)

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "access", None)
        asctime = self.formatTime(record, self.datefmt)
        line = _text_line(asctime, record.levelname, record.name, record.getMessage(), fields)
        extra = []
        if record.exc_info:
            extra.append(self.formatException(record.exc_info))
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for block in extra:
            line += "".join(f"\n  {escape(part)}" for part in block.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, access fields, traceback."""

    converter = staticmethod(_utc)

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "access", None)
        entry = _json_entry(
            record.created, record.levelname, record.name, record.getMessage(), fields
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _json_line(entry)


class DirectAccessLog:
    """Access lines written straight to the log handler's stream, exactly as its formatter
    would write them, without a LogRecord each.

    The `logging` machinery (a record, caller lookup, handler locks, the formatter's
    `%`-formatting) cost about a fifth of a GET by id (docs/benchmarks.md). Used only when
    `configure` installed scimlite's own handler, so an embedding application's logging
    (or pytest's) still receives every record through `logging`.
    """

    def __init__(self, handler: logging.StreamHandler[Any], log_format: LogFormat) -> None:
        self._handler = handler
        self._json = log_format == "json"
        self._second = -1
        self._asctime = ""

    def _stamp(self, now: float) -> str:
        """The text format's time: strftime once per second, as that is all it changes."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._asctime = time.strftime("%Y-%m-%d %H:%M:%S", _utc(now))
        return f"{self._asctime},{int(now * 1000) % 1000:03d}"

    def line(self, fields: dict[str, Any], now: float) -> str:
        message = f"{fields['method']} {fields['path']} {fields['status']}"
        if self._json:
            return _json_line(_json_entry(now, "INFO", log.name, message, fields))
        return _text_line(self._stamp(now), "INFO", log.name, message, fields)

    def write(self, lines: list[dict[str, Any]]) -> None:
        """The access lines of `lines`' fields, written in one call."""
        if not log.isEnabledFor(logging.INFO):
            return
        now = time.time()
        text = "".join(f"{self.line(fields, now)}\n" for fields in lines)
        try:
            with self._handler.lock or nullcontext():
                self._handler.stream.write(text)
        except (OSError, ValueError):  # a closed or broken stream: logging reports it
            for fields in lines:
                message = f"{fields['method']} {fields['path']} {fields['status']}"
                log.info("%s", message, extra={"access": fields})


_direct: DirectAccessLog | None = None


def configure(log_format: LogFormat) -> None:
    """Route every log record to stderr in the chosen format (the CLI calls this once).

    Like `logging.basicConfig`, it does nothing when the root logger already has handlers
    (an embedding application's, or pytest's); otherwise access lines bypass `logging`
    for speed (DirectAccessLog), in the same format, to the same stream.
    """
    global _direct
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    ours = logging.getLogger().handlers == [handler] and not log.handlers and log.propagate
    _direct = DirectAccessLog(handler, log_format) if ours else None
