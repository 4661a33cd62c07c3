"""The SCIM error funnel: every failure under /scim/v2 becomes an RFC 7644 §3.12 body."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from scimlite.api import SCIM_PREFIX
from scimlite.api.auth import TOKEN
from scimlite.api.http import error_response
from scimlite.keys import STORE
from scimlite.scim.errors import (
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ScimError,
)
from scimlite.store import WriteContext

log = logging.getLogger("scimlite.scim")

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNJOURNALED = frozenset({404, 405})


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


def write_context(request: web.Request) -> WriteContext:
    token = request.get(TOKEN)
    return WriteContext(token.name if token else None, request.method, request.path_qs)


@web.middleware
async def scim_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(SCIM_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except ScimError as exc:
        error = exc
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _from_http(exc, request)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        error = InternalError("the server failed to handle this request; see its log")
    # Only an authenticated write is journaled: what an unauthenticated client sends (a bad
    # token, a flood) costs no row and cannot fill the dashboard's "recent errors".
    authenticated = request.get(TOKEN) is not None
    if authenticated and request.method in _WRITES and error.status not in _UNJOURNALED:
        try:
            await request.config_dict[STORE].record_failure(
                write_context(request), error.status, error.detail
            )
        except Exception:
            log.exception("could not journal a failed write")
    return error_response(error)
