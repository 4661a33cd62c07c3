"""The console's live view (docs/console.md): Server-Sent Events that add journal rows and
events to the pages showing the newest ones while an IdP provisions.

A stream is a console route like any other, so the session middleware guards it (without a
session it is a redirect to the sign-in page, never a stream). It sends what commits after
its position, each message a batch of rows rendered by the same Jinja macros as the page
(templates/_partials.html: one home for the row markup, autoescaped), with `id:` the position
after them: a browser's EventSource reconnects with `Last-Event-ID` and misses nothing and
repeats nothing. Waiting is api/events.py `wait_for_new`, as the events feed's long-poll.
A stream ends after STREAM_SECONDS (the browser reconnects) and at shutdown; a process
serves at most MAX_STREAMS at once (503 past it), since each reads the store every
POLL_SECONDS while idle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import orjson
from aiohttp import web

from scimlite.api.events import render, wait_for_new
from scimlite.api.http import SERVER, base_url
from scimlite.console.history import Named, describe
from scimlite.console.middleware import SECURITY_HEADERS
from scimlite.console.params import SQLITE_MAX_INT, int_param
from scimlite.keys import STORE
from scimlite.scim.errors import InvalidValue, ScimError
from scimlite.store import Event, Resource, Store
from scimlite.store.errors import StoreError
from scimlite.store.events import EVENT_TYPES, FellBehind

log = logging.getLogger("scimlite.console")

STREAM_SECONDS = 600.0  # then the stream ends and EventSource reconnects (Last-Event-ID)
HEARTBEAT_SECONDS = 15.0  # a comment when nothing is new, so idle proxies keep it open
MAX_STREAMS = 50  # per process; each reads the store every POLL_SECONDS while idle
RETRY_MS = 3_000  # how long EventSource waits before reconnecting
BATCH = 100  # rows a message carries at most
EVENTS_PAGE = 25
JOURNAL_WHAT = "What changed or why not"  # the journal page's last column


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event as the Events page shows it: names beside ids, the data as the API has it."""

    event: Event
    user: Named | None
    team: Named | None
    data: str  # the event as GET /api/v1/events renders it, indented


async def event_rows(store: Store, events: list[Event], base: str) -> list[EventRow]:
    """Rows for the Events table: one store read tells which resources still exist (and
    are linked); names are the snapshots'."""
    ids = {r.id for e in events for r in (e.user, e.team) if r is not None}
    live = await store.resource_names(ids)

    def named(resource_type: str, resource: Resource | None, attr: str) -> Named | None:
        if resource is None:
            return None
        name = resource.doc.get(attr)
        shown = name if isinstance(name, str) else None
        return Named(resource_type, resource.id, shown, resource.id in live)

    return [
        EventRow(
            e,
            named("User", e.user, "userName"),
            named("Group", e.team, "displayName"),
            orjson.dumps(render(e, base), option=orjson.OPT_INDENT_2).decode(),
        )
        for e in events
    ]


class LiveStreams:
    """The streams this process serves: counted against MAX_STREAMS, ended at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """A place for the current request's stream: False when all are taken."""
        task = asyncio.current_task()
        if task is None or len(self._tasks) >= MAX_STREAMS:
            yield False
            return
        self._tasks.add(task)
        try:
            yield True
        finally:
            self._tasks.discard(task)

    async def end_all(self, app: web.Application) -> None:
        """on_shutdown: a stream would hold a graceful shutdown for its whole duration;
        ended, its browser reconnects (to this server once it is back, or another)."""
        for task in list(self._tasks):
            task.cancel()


LIVE_STREAMS = web.AppKey("live_streams", LiveStreams)

Read = Callable[[str], Awaitable[tuple[list[Any], str]]]
Render = Callable[[list[Any]], Awaitable[str]]


def _message(position: str, html: str) -> bytes:
    """One SSE message (WHATWG HTML §9.2): the rows as one JSON string, since a line break
    in the data (a CR in client text) would otherwise end the field."""
    return b"event: rows\nid: " + position.encode() + b"\ndata: " + orjson.dumps(html) + b"\n\n"


async def _stream(request: web.Request, start: str, read: Read, rows: Render) -> web.StreamResponse:
    """Serve a stream from `start` (a reconnect's Last-Event-ID wins)."""
    streams = request.app[LIVE_STREAMS]
    position = request.headers.get("Last-Event-ID") or start
    with streams.slot() as admitted:
        if not admitted:
            busy = f"this server already serves {MAX_STREAMS} live views; retry shortly"
            raise ScimError(busy, status=503, headers={"Retry-After": str(RETRY_MS // 1000)})
        try:
            found, position = await read(position)
        except FellBehind as exc:  # RFC 9110 §15.5.11: what was there is gone for good
            raise ScimError(str(exc), status=410) from None
        except ValueError as exc:
            raise InvalidValue(f"after: {exc}") from None
        return await _send(request, found, position, read, rows)


async def _send(
    request: web.Request, found: list[Any], position: str, read: Read, rows: Render
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a buffering proxy (nginx) would hold the rows back
            "Server": SERVER,  # prepared here, before the access log's middleware sees it
        }
    )
    await response.prepare(request)
    commits = request.app[STORE].commits
    try:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_SECONDS
        while True:
            if found:
                await response.write(_message(position, await rows(found)))
            left = deadline - loop.time()
            if left <= 0:
                break
            wait = min(HEARTBEAT_SECONDS, left)
            found, position = await wait_for_new(read, position, commits, wait)
            if not found and loop.time() < deadline:
                await response.write(b": heartbeat\n\n")
    except ConnectionResetError:  # the browser left while a message was on its way
        return response
    except StoreError as exc:  # busy or unreachable: end; the browser resumes from its last id
        log.warning("a live view ended early: %s", exc)
    await response.write_eof()
    return response


def _journal_row_html(request: web.Request) -> Callable[[list[Any]], str]:
    macros = aiohttp_jinja2.get_env(request.app).get_template("_partials.html").module
    journal_row: Any = getattr(macros, "journal_row")  # noqa: B009 - a Jinja macro
    return lambda rows: "".join(str(journal_row(r, JOURNAL_WHAT)) for r in rows)


async def journal_stream(request: web.Request) -> web.StreamResponse:
    """New journal rows for the unfiltered journal page, oldest first (the page puts each
    on top)."""
    store = request.app[STORE]
    html = _journal_row_html(request)

    async def read(position: str) -> tuple[list[Any], str]:
        entries, following = await store.journal_after(position, BATCH)
        return entries, following or position

    async def rows(entries: list[Any]) -> str:
        return html(await describe(store, entries))

    start = request.query.get("after") or await store.journal_now()
    return await _stream(request, start, read, rows)


def event_types(request: web.Request) -> tuple[str, ...]:
    """The Events page's type filter: one known type, or all (an unknown one is a 400)."""
    wanted = request.query.get("type", "").strip()
    if wanted and wanted not in EVENT_TYPES:
        raise InvalidValue(f"type: not an event type; known: {', '.join(EVENT_TYPES)}")
    return (wanted,) if wanted else ()


async def events_stream(request: web.Request) -> web.StreamResponse:
    """New events for the Events page (its type filter applies), oldest first."""
    store = request.app[STORE]
    types = event_types(request)
    macros = aiohttp_jinja2.get_env(request.app).get_template("_partials.html").module
    event_row: Any = getattr(macros, "event_row")  # noqa: B009 - a Jinja macro
    base = base_url(request)

    async def read(position: str) -> tuple[list[Any], str]:
        return await store.events_after(position, BATCH, types)

    async def rows(events: list[Any]) -> str:
        return "".join(str(event_row(r)) for r in await event_rows(store, events, base))

    start = request.query.get("after") or await store.events_now()
    return await _stream(request, start, read, rows)


async def events_page(request: web.Request) -> dict[str, Any]:
    """The Events page's context: newest first, EVENTS_PAGE a page (Older → by row id),
    live when it shows the newest."""
    store = request.app[STORE]
    types = event_types(request)
    before = int_param(request, "before", low=1, high=SQLITE_MAX_INT)
    now = await store.events_now()  # before the page's rows: a row in both is shown once
    found = await store.recent_events(types, before, EVENTS_PAGE)
    rows = await event_rows(store, [e for _, e in found], base_url(request))
    older = found[-1][0] if len(found) == EVENTS_PAGE else None
    return {
        "rows": rows,
        "types": EVENT_TYPES,
        "type": types[0] if types else "",
        "older": older,
        "before": before,
        "live": None if before else live_href("/events/live", now, type=types[0] if types else ""),
    }


def live_href(path: str, position: str, **criteria: str) -> str:
    """A stream's URL for a page: from `position` (read before the page's rows)."""
    return f"{path}?" + urlencode({"after": position, **{k: v for k, v in criteria.items() if v}})


def setup_live(app: web.Application) -> None:
    """Routes and state of the live view (console/mount.py calls it)."""
    streams = LiveStreams()
    app[LIVE_STREAMS] = streams
    app.on_shutdown.append(streams.end_all)
    app.router.add_get("/journal/live", journal_stream, name="journal-live")
    app.router.add_get("/events/live", events_stream, name="events-live")
