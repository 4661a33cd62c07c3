"""The SCIM error funnel: every failure under /scim/v2 becomes an RFC 7644 §3.12 body."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web
from aiohttp.typedefs import Handler

from scimlite.api import SCIM_PREFIX
from scimlite.api.auth import TOKEN
from scimlite.api.http import error_response
from scimlite.keys import SETTINGS, STORE
from scimlite.scim import errors as scim
from scimlite.scim.errors import (
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ScimError,
)
from scimlite.scim.schema import RESOURCE_TYPES
from scimlite.store import WriteContext
from scimlite.store import errors as domain

log = logging.getLogger("scimlite.scim")

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNJOURNALED = frozenset({404, 405})


# The store's refusals as SCIM errors (RFC 7644 §3.12): the one table, used by the funnel, by
# /Bulk for each operation and by the console.
STORE_ERRORS: dict[type[domain.StoreError], Callable[[str], ScimError]] = {
    domain.NotFound: scim.NotFound,
    domain.Conflict: scim.Conflict,
    # RFC 7644 §3.14: a stale If-Match (or Bulk `version`) is 412 Precondition Failed.
    domain.StaleVersion: scim.PreconditionFailed,
    domain.UnknownMembers: scim.InvalidValue,
    domain.UnsupportedFilter: scim.InvalidFilter,
    domain.UnsupportedSort: scim.InvalidValue,
    # RFC 7644 §3.12 tooMany: more than the server is willing to process.
    domain.ReadTooLong: scim.TooMany,
    # RFC 7231 §6.6.4: the server is busy; the same read may succeed in a moment.
    domain.ReadersBusy: lambda detail: ScimError(detail, status=503, headers={"Retry-After": "1"}),
    domain.Unavailable: lambda detail: ScimError(detail, status=503, headers={"Retry-After": "1"}),
}


def scim_error(exc: domain.StoreError) -> ScimError:
    """The SCIM error for a store refusal: the class's entry in STORE_ERRORS."""
    return STORE_ERRORS[type(exc)](exc.detail)


@contextmanager
def as_scim() -> Iterator[None]:
    """Store refusals inside the block re-raised as their SCIM errors (for a caller that
    handles some SCIM errors itself, as the console's search does)."""
    try:
        yield
    except domain.StoreError as exc:
        raise scim_error(exc) from None


def _from_http(exc: web.HTTPException, request: web.Request) -> ScimError:
    if exc.status == 404:
        return NotFound(f"no SCIM endpoint or resource at {request.path}")
    if exc.status == 405:
        allowed: set[str] = getattr(exc, "allowed_methods", set())
        methods = ", ".join(sorted(allowed))
        error = MethodNotAllowed(f"{request.method} is not supported here; use {methods}")
        error.headers["Allow"] = methods
        return error
    if exc.status == 413:
        return PayloadTooLarge(
            f"the request body exceeds the limit of {request.client_max_size} bytes"
        )
    if exc.status == 408:  # scimlite.api.server.body_deadline says what was late
        return ScimError(exc.text or "the request body did not arrive in time", status=408)
    return ScimError(exc.reason or "request failed", status=exc.status)


def _target(request: web.Request) -> tuple[str | None, str | None]:
    """The resource type and id a write was aimed at (`/Users/{id}` → User, id), so a
    refused write is in that resource's history and the dashboard can name it."""
    first = request.path.removeprefix(SCIM_PREFIX).strip("/").split("/")[0]
    resource = next((r for r in RESOURCE_TYPES if r.endpoint == f"/{first}"), None)
    if resource is None:
        return None, None
    return resource.id, request.match_info.get("id")


# The write contexts of a request (one, or one per /Bulk operation), so the access log can
# count the IdP quirks they noted once the request is answered.
WRITES = web.RequestKey("writes", list[WriteContext])


def write_context(
    request: web.Request, method: str | None = None, path: str | None = None
) -> WriteContext:
    """The journal's context of a write made by `request` (a /Bulk operation names its own
    method and path)."""
    token = request.get(TOKEN)
    ctx = WriteContext(
        token.name if token else None,
        method or request.method,
        path or request.path_qs,
        skip_unknown_members=request.app[SETTINGS].unknown_members == "skip",
    )
    request.setdefault(WRITES, []).append(ctx)
    return ctx


# A part of the app's one dispatching middleware (app.py): what runs around a handler.
Surface = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def scim_surface(before: Callable[[web.Request], Awaitable[None]]) -> Surface:
    """What runs around every /scim/v2 handler: `before(request)` (authentication), then the
    handler; every failure of either becomes an RFC 7644 §3.12 error."""

    async def scim_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            await before(request)
            return await handler(request)
        except ScimError as exc:
            error = exc
        except domain.StoreError as exc:
            error = scim_error(exc)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            error = _from_http(exc, request)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            error = InternalError("the server failed to handle this request; see its log")
        # Only an authenticated write is journaled: what an unauthenticated client sends (a
        # bad token, a flood) costs no row and cannot fill the dashboard's "recent errors".
        authenticated = request.get(TOKEN) is not None
        if authenticated and request.method in _WRITES and error.status not in _UNJOURNALED:
            try:
                await request.app[STORE].record_failure(
                    write_context(request), error.status, error.detail, *_target(request)
                )
            except Exception:
                log.exception("could not journal a failed write")
        return error_response(error)

    return scim_errors
