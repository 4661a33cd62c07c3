"""The application factory: the only place where scimlite is wired together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from scimlite import timeutil
from scimlite.api import SCIM_BASE, SCIM_PREFIX, events, openapi, route
from scimlite.api.accesslog import OUTCOMES, Outcomes, RequestIds, access_log
from scimlite.api.auth import AuthState, authenticate
from scimlite.api.errors import Surface, scim_surface
from scimlite.api.handlers import bulk, discovery
from scimlite.api.handlers.resources import add_routes, root_list, root_search
from scimlite.api.metrics import Metrics
from scimlite.api.ratelimit import FailureLimiter
from scimlite.api.server import body_deadline
from scimlite.api.webhooks import DELIVERER, Deliverer
from scimlite.console.middleware import NOT_CONSOLE, console_surface
from scimlite.console.mount import setup_console
from scimlite.keys import AUTH, METRICS, SETTINGS, STORE
from scimlite.scim.errors import ScimError
from scimlite.scim.schema import RESOURCE_TYPES
from scimlite.settings import Settings
from scimlite.store import Store, open_database
from scimlite.store.database import Database
from scimlite.tokens import Scope

log = logging.getLogger("scimlite")
# How often pending users are indexed for substring search; answers never wait for it.
TEXT_INDEX_SECONDS = 1.0
# How often counter deltas are folded into their base (PostgreSQL; docs/scale-out.md).
COUNT_COMPACTION_SECONDS = 5.0
SCIM_SCOPES: tuple[Scope, ...] = ("scim", "admin")  # a metrics token reads /metrics only
METRICS_SCOPES: tuple[Scope, ...] = ("metrics", "admin")


def _database(settings: Settings, metrics: Metrics) -> Database:
    return open_database(
        path=settings.db_path,
        url=settings.database_url,
        readers=settings.readers,
        synchronous=settings.synchronous,
        read_timeout_ms=settings.read_timeout_ms,
        on_write_wait=metrics.writer_wait.observe,
        on_commit=metrics.writes_per_commit.observe,
        write_batch=settings.write_batch,
    )


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the database for the app's lifetime; close it after in-flight requests end."""
    db = app[STORE].db
    await db.open()
    yield
    await db.close()


CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def _every(seconds: float, what: str, job: Callable[[Store], Awaitable[object]]) -> CleanupCtx:
    """A cleanup context running `job` now and every `seconds` while the server runs."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async def forever() -> None:
            while True:
                try:
                    await job(app[STORE])
                except Exception:
                    log.exception("%s failed; retrying in %s s", what, seconds)
                await asyncio.sleep(seconds)

        task = asyncio.create_task(forever())
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    return ctx


def _prune_journal(days: int) -> Callable[[Store], Awaitable[int]]:
    async def prune(store: Store) -> int:
        cutoff = timeutil.format_time(datetime.now(UTC) - timedelta(days=days))
        removed = await store.prune_journal(cutoff)
        await store.prune_webhook_deliveries(cutoff)  # the delivery log: the same retention
        return removed

    return prune


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """Deliver events to webhook endpoints while the server runs (api/webhooks.py)."""
    app[DELIVERER] = deliverer = Deliverer(app[STORE], app[SETTINGS])
    task = asyncio.create_task(deliverer.run())
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


async def _index_text(store: Store) -> None:
    """Index what writes left pending (sqlite/migrations.py: 6); cheap when nothing is."""
    if store.text_pending():
        await store.index_pending_text()


async def _scim_auth(request: web.Request) -> None:
    if not discovery.is_public(request.path):  # RFC 7644 §4: discovery needs no token
        app = request.app
        await authenticate(request, app[STORE], app[AUTH], SCIM_SCOPES)


async def _flush_outcomes(app: web.Application) -> None:
    app[OUTCOMES].flush()


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: answers once the database is open."""
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format (api/metrics.py), for `metrics` and `admin` tokens only."""
    store = request.app[STORE]
    try:
        await authenticate(request, store, request.app[AUTH], METRICS_SCOPES)
    except ScimError as refused:  # a scraper reads the status; the text is for a person
        return web.Response(status=refused.status, text=refused.detail, headers=refused.headers)
    request.app[OUTCOMES].flush()  # the requests answered in this turn count too
    collected = request.app[METRICS]
    await collected.refresh(store)
    return collected.exposition()


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI description of /scim/v2; public, like SCIM discovery (RFC 7644 §4)."""
    return web.json_response(openapi.document(request.app[SETTINGS]))


def add_scim_routes(app: web.Application) -> None:
    """The SCIM API's routes, under /scim/v2 on the app itself: a sub-app would add a
    second routing step and two middleware layers to every request."""
    for resource in RESOURCE_TYPES:
        add_routes(app, resource)
    app.router.add_post(route("/.search"), root_search)
    app.router.add_get(SCIM_PREFIX, root_list)  # the base URL itself, /scim/v2 …
    app.router.add_get(route("/"), root_list)  # … and /scim/v2/
    discovery.add_routes(app)
    bulk.add_routes(app)


def _surfaces(scim: Surface) -> Middleware:
    """The one middleware after the access log and the body deadline: /scim/v2 answers SCIM
    errors and needs a token, /healthz and the like pass straight through, and everything
    else is the console (its sign-in, CSRF checks and error pages)."""

    @web.middleware
    async def dispatch(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(SCIM_BASE) or path == SCIM_PREFIX:
            return await scim(request, handler)
        if path in NOT_CONSOLE:
            return await handler(request)
        return await console_surface(request, handler)

    return dispatch


def create_app(settings: Settings) -> web.Application:
    limiter = FailureLimiter(settings.auth_failure_limit, settings.auth_failure_window)
    collected = Metrics(limiter)
    outcomes = Outcomes(collected)
    app = web.Application(
        middlewares=[
            access_log(RequestIds(), outcomes),
            body_deadline,
            _surfaces(scim_surface(_scim_auth)),
        ],
        client_max_size=settings.max_body_bytes,
        # A client that hangs up cancels its handler, which interrupts its query
        # (SQLiteDatabase.read); aiohttp leaves this off unless asked, whatever runs the app.
        handler_args={"handler_cancellation": True},
    )
    app[SETTINGS] = settings
    app[AUTH] = AuthState(limiter=limiter)
    app[METRICS] = collected
    app[OUTCOMES] = outcomes
    app.on_cleanup.append(_flush_outcomes)  # the last turn's requests
    app[STORE] = Store(_database(settings, collected))  # opened by _store_ctx
    app.cleanup_ctx.append(_store_ctx)
    if settings.journal_retention_days:
        days = settings.journal_retention_days
        app.cleanup_ctx.append(_every(3600, "journal pruning", _prune_journal(days)))
    app.cleanup_ctx.append(_every(TEXT_INDEX_SECONDS, "search indexing", _index_text))
    app.cleanup_ctx.append(_webhooks)
    app.cleanup_ctx.append(
        _every(COUNT_COMPACTION_SECONDS, "counter compaction", Store.compact_counts)
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/metrics", metrics)
    events.add_routes(app)
    setup_console(app)  # GET / is the console dashboard (sign-in first)
    add_scim_routes(app)
    return app
