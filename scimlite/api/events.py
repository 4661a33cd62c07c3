"""GET /api/v1/events (docs/events.md): the events feed for applications.

Not SCIM: its errors are plain JSON (`{"status", "detail"}`), a 4xx with a message for
anything a client sent wrong. An `events` or `admin` token reads it. `wait` long-polls: a
write of this process wakes it at once (Store.commits), and the store is read every
POLL_SECONDS anyway, for writes by other processes sharing the database; a client that
hangs up cancels the wait with its handler (app.py: handler_cancellation).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiMapping

from scimlite.api import SCIM_PREFIX
from scimlite.api.auth import authenticate
from scimlite.api.errors import scim_error
from scimlite.api.http import base_url
from scimlite.keys import AUTH, STORE
from scimlite.scim.errors import ScimError
from scimlite.scim.render import to_wire
from scimlite.scim.schema import GROUP_RESOURCE, USER_RESOURCE
from scimlite.settings import Settings
from scimlite.store import Event
from scimlite.store.errors import StoreError
from scimlite.store.events import EVENT_TYPES, Commits, FellBehind, split_types, unknown_types
from scimlite.tokens import Scope

EVENTS_PATH = "/api/v1/events"
EVENTS_SCOPES: tuple[Scope, ...] = ("events", "admin")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
MAX_WAIT_SECONDS = 60
POLL_SECONDS = 0.25  # how soon a long-poll sees a commit; one indexed query per poll
P = TypeVar("P")
T = TypeVar("T")


class BadRequest(Exception):
    """A query parameter the feed cannot use; its message says which and why."""


@dataclass(frozen=True, slots=True)
class FeedQuery:
    after: str | None  # None: from the oldest retained event; "now": from now on
    types: tuple[str, ...]
    limit: int
    wait: float


def parse_query(query: MultiMapping[str]) -> FeedQuery:
    """The feed's parameters, or BadRequest naming the first one that is wrong."""
    types: tuple[str, ...] = ()
    if "types" in query:
        types = split_types(query["types"])
        unknown = unknown_types(types)
        if unknown:
            raise BadRequest(
                f"types: unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}"
            )
    limit = _number(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, whole=True)
    wait = _number(query, "wait", 0, 0, MAX_WAIT_SECONDS, whole=False)
    after = query.get("after")
    if after == "":
        raise BadRequest("after: give an event id, 'now', or leave it out for the oldest")
    return FeedQuery(after, types, int(limit), wait)


def _number(
    query: MultiMapping[str], name: str, default: float, low: float, high: float, *, whole: bool
) -> float:
    text = query.get(name)
    if text is None:
        return default
    kind = "a whole number" if whole else "a number of seconds"
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise BadRequest(f"{name}: {text[:40]!r} is not {kind}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadRequest(f"{name}: must be {kind} from {low:g} to {high:g}")
    return value


def render(event: Event, base: str) -> dict[str, Any]:
    """An event as the API (and, later, a webhook) shows it: snapshots as GET returns them."""
    data: dict[str, Any] = {}
    if event.user is not None:
        data["user"] = to_wire(USER_RESOURCE, event.user, base)
    if event.team is not None:
        data["team"] = to_wire(GROUP_RESOURCE, event.team, base)
    if event.changes is not None:
        data["changes"] = event.changes
    return {
        "id": event.position,
        "type": event.type,
        "occurred_at": event.at,
        "actor": event.token_name,
        "data": data,
    }


def configured_base(settings: Settings) -> str:
    """The SCIM base URL for snapshots' `meta.location` outside a request (events tail,
    webhooks): the public URL, else the address the server listens on."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return base.rstrip("/") + SCIM_PREFIX


def one_line(event: Event) -> str:
    """An event as `scimlite events tail` prints it for a person: time, type, actor, whom."""
    parts = [event.at, event.type.ljust(19), event.token_name or "-"]
    if event.user is not None:
        parts.append(f"user={event.user.doc.get('userName')} ({event.user.id})")
    if event.team is not None:
        parts.append(f"team={event.team.doc.get('displayName')} ({event.team.id})")
    if event.changes:
        parts.append("changed=" + ",".join(c["path"] for c in event.changes))
    return "  ".join(parts)


async def wait_for_new(
    read: Callable[[P], Awaitable[tuple[list[T], P]]], after: P, commits: Commits, seconds: float
) -> tuple[list[T], P]:
    """`read(after)` until it finds something or `seconds` have passed: what it found and
    the position to go on from. The one home of "wait for new positions" (this feed's
    long-poll, the console's live view): a write of this process wakes it at once
    (Store.commits); writes of other processes sharing the database are seen by reading
    again every POLL_SECONDS."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        found, after = await read(after)
        left = deadline - loop.time()
        if found or left <= 0:
            return found, after
        await commits.wait(min(POLL_SECONDS, left))


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"status": status, "detail": detail}, status=status, headers=headers)


async def events(request: web.Request) -> web.Response:
    """`{"events": [...], "next": position}` in commit order (docs/events.md)."""
    store = request.app[STORE]
    try:
        await authenticate(request, store, request.app[AUTH], EVENTS_SCOPES)
    except ScimError as refused:
        return _error(refused.status, refused.detail, refused.headers)
    try:
        query = parse_query(request.query)
        after = await store.events_now() if query.after == "now" else query.after

        def read(position: str | None) -> Awaitable[tuple[list[Event], str]]:
            return store.events_after(position, query.limit, query.types)

        found, after = await wait_for_new(read, after, store.commits, query.wait)
    except BadRequest as exc:
        return _error(400, str(exc))
    except FellBehind as exc:  # RFC 9110 §15.5.11: what was there is gone for good
        return _error(410, str(exc))
    except ValueError as exc:  # a position this database never gave out
        return _error(400, f"after: {exc}; pass an event's id or the last 'next'")
    except StoreError as exc:  # busy or unreachable: the API's mapping (503, Retry-After)
        mapped = scim_error(exc)
        return _error(mapped.status, mapped.detail, mapped.headers)
    base = base_url(request)
    return web.json_response({"events": [render(e, base) for e in found], "next": after})


def add_routes(app: web.Application) -> None:
    app.router.add_get(EVENTS_PATH, events)
