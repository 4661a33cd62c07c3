"""Console middleware: security headers, the session, sign-in enforcement, CSRF, error pages."""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from scimlite.api.errors import scim_error
from scimlite.console.params import read_form, refuse_nul
from scimlite.console.session import COOKIE, Session, current, same
from scimlite.keys import STORE
from scimlite.scim.errors import Forbidden, ScimError
from scimlite.store.errors import StoreError

log = logging.getLogger("scimlite.console")

SESSION = web.RequestKey("console_session", Session)  # set only when signed in
# How many webhook endpoints are auto-disabled: every signed-in page shows a banner then.
DISABLED_WEBHOOKS = web.RequestKey("disabled_webhooks", int)
PUBLIC_ROUTES = frozenset({"signin", "static"})
NOT_CONSOLE = frozenset({"/healthz", "/openapi.json", "/metrics", "/api/v1/events"})

# No inline script or style anywhere, so 'self' is the whole policy.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST the browser GETs the next page (no resubmission)."""
    return web.Response(status=303, headers={"Location": location})


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    return route.name if route.resource is not None else "not-found"


async def _csrf_field(request: web.Request) -> str | None:
    return (await read_form(request)).get("csrf")


async def _signed_in(request: web.Request) -> Session | None:
    """The request's session, if its token is still live (revocation ends sessions)."""
    return await current(request.app[STORE], request.cookies.get(COOKIE))


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    name = _route_name(request)
    if name == "static":
        try:
            return await handler(request)
        except OSError:  # a client-chosen file name the OS refuses (too long, …): not ours
            raise web.HTTPNotFound() from None
    refuse_nul(request.query)
    session = await _signed_in(request)
    if session is not None:
        request[SESSION] = session
        request[DISABLED_WEBHOOKS] = await request.app[STORE].disabled_webhooks()
    public = name in PUBLIC_ROUTES or name == "not-found"
    if request.method == "POST" and name != "signin":  # the sign-in view checks its own form
        if session is None:
            raise Forbidden(
                "you are not signed in (the session ended, or this browser keeps no cookies "
                "for this site); sign in, then try again"
            )
        if not same(await _csrf_field(request), session.csrf):
            raise Forbidden("the form's security token is missing or stale; reload and retry")
    elif not public and session is None:
        return redirect(f"/signin?next={quote(request.path_qs, safe='/')}")
    response = await handler(request)
    if session is not None and session.flashes_shown:
        await request.app[STORE].clear_flashes(session.id)
    return response


def _error_page(
    request: web.Request, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    context = {"status": status, "message": message, "session": request.get(SESSION)}
    response = aiohttp_jinja2.render_template("error.html", request, context, status=status)
    response.headers.update(headers or {})
    return response


async def console_surface(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What runs around every console page: everything outside /scim/v2 and NOT_CONSOLE
    (/healthz, /metrics …; app.py dispatches)."""
    try:
        response = await _guarded(request, handler)
    except ScimError as exc:
        response = _error_page(request, exc.status, exc.detail, exc.headers)
    except StoreError as refused:  # the API's mapping, so both surfaces say the same
        mapped = scim_error(refused)
        response = _error_page(request, mapped.status, mapped.detail, mapped.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error_page(request, exc.status, exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = _error_page(request, 500, "the console failed to show this page; see the log")
    response.headers.update(SECURITY_HEADERS)
    if _route_name(request) != "static":
        # Pages show directory data and, once, a new token's secret: never cache them.
        response.headers["Cache-Control"] = "no-store"
    return response
