"""The application factory: the only place where scimlite is wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from scimlite.auth import AuthState, authenticate
from scimlite.db import Database
from scimlite.keys import AUTH, SETTINGS, STORE
from scimlite.scim.handlers.resources import add_routes
from scimlite.scim.middleware import SCIM_PREFIX, scim_errors
from scimlite.scim.schema import GROUP_RESOURCE, USER_RESOURCE
from scimlite.settings import Settings
from scimlite.store import Store


def _database(settings: Settings) -> Database:
    return Database(settings.db_path, readers=settings.readers, synchronous=settings.synchronous)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the database for the app's lifetime; close it after in-flight requests end."""
    db = _database(app[SETTINGS])
    await db.open()
    app[STORE] = Store(db)
    yield
    await db.close()


@web.middleware
async def _scim_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    await authenticate(request, request.config_dict[STORE], request.config_dict[AUTH])
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: answers once the database is open."""
    return web.json_response({"status": "ok"})


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text="scimlite is running. SCIM 2.0 base URL: /scim/v2\n", content_type="text/plain"
    )


def create_scim_app() -> web.Application:
    scim = web.Application(middlewares=[_scim_auth])
    add_routes(scim, USER_RESOURCE)
    add_routes(scim, GROUP_RESOURCE)
    return scim


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[scim_errors], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[AUTH] = AuthState()
    app.cleanup_ctx.append(_store_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    app.add_subapp(SCIM_PREFIX, create_scim_app())
    return app
