"""Console pages: parse the query or form, ask the store, render a template.

Writes go through the same store transactions as the SCIM API and are journaled under
the signed-in token's name, with the console path (e.g. `POST /users/<id>/active`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import orjson
from aiohttp import web

from scimlite import timeutil
from scimlite.api import SCIM_PREFIX
from scimlite.api.errors import as_scim
from scimlite.api.http import base_url
from scimlite.api.ratelimit import retry_after
from scimlite.console import session as sessions
from scimlite.console.history import describe
from scimlite.console.links import resource_href
from scimlite.console.live import events_page, live_href
from scimlite.console.middleware import DISABLED_WEBHOOKS, SESSION, redirect
from scimlite.console.params import MAX_PAGE, SQLITE_MAX_INT, int_param, read_form, time_param
from scimlite.console.search import MAX_QUERY, user_search
from scimlite.console.session import COOKIE, SIGNIN_COOKIE, Session, new_secret, same
from scimlite.keys import AUTH, SETTINGS, STORE
from scimlite.scim import render as scim_render
from scimlite.scim.errors import InvalidFilter, InvalidValue
from scimlite.scim.filter import parse_path
from scimlite.scim.schema import ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE
from scimlite.store import (
    JournalQuery,
    ListQuery,
    MembershipChange,
    Resource,
    Store,
    Update,
    WriteContext,
)
from scimlite.store.errors import Conflict, NotFound
from scimlite.tokens import SCOPES, parse_scope, valid_token_name

PER_PAGE = 50
JOURNAL_PAGE = 25  # rows of the journal a page: each may hold a diff, however folded
HISTORY = 50
USER_SORTS = {"userName": "userName", "displayName": "displayName", "modified": "meta.lastModified"}
STATUS_FILTERS = {"ok": (None, 399), "error": (400, None), "4xx": (400, 499), "5xx": (500, None)}
RESOURCE_TYPES = ("User", "Group", "Token")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Kept as they are in a `next` path; anything else (spaces, non-ASCII) is percent-encoded.
_URL_SAFE = "/?#&=%+:;@!$'()*,~"


# --- helpers -------------------------------------------------------------------------


def _store(request: web.Request) -> Store:
    return request.app[STORE]


def _session(request: web.Request) -> Session:
    return request[SESSION]


async def _flash(request: web.Request, message: str) -> None:
    """A message for the next page this session shows (kept in the database, so the next
    page may be served by another process)."""
    await _store(request).add_flash(_session(request).id, message)


def _context(request: web.Request, answered: int = 303) -> WriteContext:
    """The journal's view of a console write: the signed-in token, the console path, and the
    status the form is answered with (303 to the next page), as the access log has it."""
    return WriteContext(
        _session(request).token_name, request.method, request.path, answered=answered
    )


def page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    session = request.get(SESSION)

    def with_query(**changes: object) -> str:
        """This page's URL with some query parameters replaced (pagers, sort headers)."""
        query = {**request.query, **{k: str(v) for k, v in changes.items()}}
        return str(request.rel_url.with_query({k: v for k, v in query.items() if v != ""}))

    base = {
        "session": session,
        "flashes": session.take_flashes() if session else [],
        "disabled_webhooks": request.get(DISABLED_WEBHOOKS, 0),
        "with_query": with_query,
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


def _page_number(request: web.Request) -> int:
    return int_param(request, "page", low=1, high=MAX_PAGE) or 1


def _start(page_number: int, per_page: int = PER_PAGE) -> int:
    return (page_number - 1) * per_page + 1


def _pager(page_number: int, total: int, per_page: int = PER_PAGE) -> dict[str, int]:
    last = max(1, -(-total // per_page))
    return {"page": page_number, "last": last, "total": total, "per_page": per_page}


def _pretty(document: dict[str, Any]) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


async def _form(request: web.Request) -> dict[str, str]:
    return await read_form(request)


def _set_cookie(request: web.Request, response: web.Response, name: str, value: str) -> None:
    public = request.app[SETTINGS].public_url or ""
    response.set_cookie(
        name,
        value,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure or public.startswith("https://"),
    )


def _safe_next(target: str | None) -> str:
    """A path on this site to go to after sign-in, else `/`: never an open redirect.

    Judged as a browser reads a `Location` (WHATWG URL parser): surrounding spaces are
    stripped and `\\` is a `/`, so `//host`, `/\\host` and ` //host` all leave the site;
    the path must start with exactly one `/`. Control characters are refused outright:
    browsers drop tab/CR/LF (`/\t/host` is `//host`) and CR/LF/NUL cannot be in a header.
    The rest is percent-encoded to plain ASCII, so the header is what was checked.
    """
    if not target or _CONTROL.search(target):
        return "/"
    path = target.strip(" ").replace("\\", "/")
    if not path.startswith("/") or path.startswith("//"):
        return "/"
    return quote(path, safe=_URL_SAFE)


# --- sign-in ---------------------------------------------------------------------------


async def signin_form(request: web.Request) -> web.Response:
    if request.get(SESSION) is not None:
        return redirect(_safe_next(request.query.get("next")))
    return _signin_page(request, request.query.get("next"), None, 200)


def _signin_page(
    request: web.Request, target: str | None, error: str | None, status: int
) -> web.Response:
    csrf = new_secret()
    response = page(
        request, "signin.html", {"csrf": csrf, "next": _safe_next(target), "error": error}, status
    )
    _set_cookie(request, response, SIGNIN_COOKIE, csrf)
    return response


# Why a sign-in can fail before its token is even read: the form's double-submit CSRF check.
NO_COOKIE = (
    "Your browser sent the sign-in form without its cookie. The console needs cookies for "
    "this site (they keep you signed in and protect its forms): allow them, then sign in again."
)
STALE_FORM = "This sign-in form has expired (a newer one was opened since); sign in again."


async def signin(request: web.Request) -> web.Response:
    """Only admin-scope tokens sign in; the session id is new, so a planted one is useless.

    The form is checked first (double-submit: its hidden field must equal the cookie set
    with it), and a failure is explained on the sign-in page itself: most often the browser
    keeps no cookies, which "sign in first" never told anyone."""
    form = await _form(request)
    target = form.get("next")
    expected = request.cookies.get(SIGNIN_COOKIE)
    if expected is None:
        return _signin_page(request, target, NO_COOKIE, 403)
    if not same(form.get("csrf"), expected):
        return _signin_page(request, target, STALE_FORM, 403)
    token = await _store(request).authenticate(form.get("token", "").strip())
    if token is None:
        return _failed_signin(request, target)
    if token.scope != "admin":
        message = (
            f"Token '{token.name}' has scope '{token.scope}', which does not open the "
            "console. Sign in with an admin token."
        )
        return _signin_page(request, target, message, 403)
    store = _store(request)
    old = request.cookies.get(COOKIE)
    if old:
        await store.end_session(old)
    session = await sessions.start(store, token.id, token.name)
    await _store(request).touch_token(token.id, timeutil.now())
    response = redirect(_safe_next(target))
    _set_cookie(request, response, COOKIE, session.id)
    response.del_cookie(SIGNIN_COOKIE, path="/")
    return response


def _failed_signin(request: web.Request, target: str | None) -> web.Response:
    """401, or 429 once this address has failed too often, counted by the API's limiter.

    One limiter for every credential check (docs/security.md): failures here and on
    /scim/v2 add up. It only decides how a failure is answered: a valid token still
    signs in from a throttled address, as it is still served by the API.
    """
    wait = request.app[AUTH].limiter.failed(request.remote or "unknown")
    if wait is None:
        return _signin_page(request, target, "That token is not valid, or has been revoked.", 401)
    seconds = retry_after(wait)
    message = (
        f"Too many failed sign-ins from this address; try again in {seconds} seconds. "
        "A valid token still signs in."
    )
    response = _signin_page(request, target, message, 429)
    response.headers["Retry-After"] = seconds  # RFC 6585 §4
    return response


async def signout(request: web.Request) -> web.Response:
    await _store(request).end_session(_session(request).id)
    response = redirect("/signin")
    response.del_cookie(COOKIE, path="/")
    return response


# --- dashboard -------------------------------------------------------------------------


async def dashboard(request: web.Request) -> web.Response:
    store = _store(request)
    errors = await store.search_journal(JournalQuery(status_min=400, limit=10))
    context = {
        "counts": await store.directory_counts(),
        # SCIM writes only: the console's own actions say nothing about an IdP.
        "activity": await store.last_write_per_token(f"{SCIM_PREFIX}/"),
        "errors": await describe(store, errors),
    }
    return page(request, "dashboard.html", context)


# --- users -----------------------------------------------------------------------------


async def users(request: web.Request) -> web.Response:
    """Paged, sortable, searchable: plain text or a SCIM filter."""
    text = request.query.get("q", "")[:MAX_QUERY]
    sort = request.query.get("sort", "userName")
    sort = sort if sort in USER_SORTS else "userName"
    descending = request.query.get("order") == "desc"
    number = _page_number(request)
    error, total = None, 0
    items: Sequence[Resource] = []
    try:
        search = user_search(text)
        note = search.note
        query = ListQuery(
            filter=search.filter,
            start_index=_start(number),
            count=PER_PAGE,
            sort_by=parse_path(USER_SORTS[sort], USER_RESOURCE).path,
            descending=descending,
            load_refs=False,
        )
        with as_scim():  # a filter the store cannot answer is shown like one that did not parse
            result = await _store(request).users.list_page(query)
        total, items = result.total, result.items
    except (InvalidFilter, InvalidValue) as exc:
        note, error = None, f"Cannot search for that: {exc.detail}"
    context = {
        "q": text, "sort": sort, "descending": descending, "users": items,
        "pager": _pager(number, total), "note": note, "error": error,
    }  # fmt: skip
    return page(request, "users.html", context, 400 if error else 200)


async def user(request: web.Request) -> web.Response:
    store = _store(request)
    record = await store.users.get(request.match_info["id"])
    history = await store.search_journal(JournalQuery(resource_id=record.id, limit=HISTORY))
    context = {
        "user": record,
        "doc": record.doc,
        "manager": await _existing_user(store, _manager_value(record.doc)),
        "raw": _pretty(scim_render.to_wire(USER_RESOURCE, record, base_url(request))),
        "history": await describe(store, history, viewing=record.id),
    }
    return page(request, "user.html", context)


def _manager_value(doc: dict[str, Any]) -> str | None:
    manager = (doc.get(ENTERPRISE_USER_SCHEMA) or {}).get("manager")
    value = manager.get("value") if isinstance(manager, dict) else None
    return value if isinstance(value, str) else None


async def _existing_user(store: Store, user_id: str | None) -> Resource | None:
    """The user if it exists: a link is built only from an id that exists."""
    if not user_id:
        return None
    try:
        return await store.users.get(user_id, load_refs=False)
    except NotFound:
        return None


async def set_active(request: web.Request) -> web.Response:
    """Deactivate or reactivate a user: the same update (and journal row) as a SCIM PATCH."""
    user_id = request.match_info["id"]
    active = (await _form(request)).get("active") == "true"

    def change(current: Resource) -> Update:
        return Update(doc={**current.doc, "active": active})

    record = await _store(request).users.update(user_id, change, None, _context(request))
    verb = "Reactivated" if active else "Deactivated"
    await _flash(request, f"{verb} {record.doc['userName']}.")
    return redirect(resource_href("User", record.id) or "/users")


# --- teams -----------------------------------------------------------------------------


async def teams(request: web.Request) -> web.Response:
    text = request.query.get("q", "").strip()[:MAX_QUERY]
    number = _page_number(request)
    total, items = await _store(request).team_summaries(_start(number), PER_PAGE, text or None)
    context = {"q": text, "teams": items, "pager": _pager(number, total)}
    return page(request, "teams.html", context)


async def team(request: web.Request) -> web.Response:
    """The team, one page of its members (teams can be huge), and its history."""
    store = _store(request)
    record = await store.groups.get(request.match_info["id"], load_refs=False)
    number = _page_number(request)
    total, members = await store.team_members(record.id, _start(number), PER_PAGE)
    history = await store.search_journal(JournalQuery(resource_id=record.id, limit=HISTORY))
    context = {
        "team": record,
        "members": members,
        "pager": _pager(number, total),
        "raw": _pretty(scim_render.to_wire(GROUP_RESOURCE, record, base_url(request))),
        "history": await describe(store, history, viewing=record.id),
    }
    return page(request, "team.html", context)


async def remove_member(request: web.Request) -> web.Response:
    team_id = request.match_info["id"]
    user_id = (await _form(request)).get("user_id", "")

    def change(current: Resource) -> Update:
        return Update(doc=current.doc, membership=[MembershipChange("remove", (user_id,))])

    record = await _store(request).groups.update(team_id, change, None, _context(request))
    await _flash(request, "Removed the member from the team.")
    return redirect(resource_href("Group", record.id) or "/teams")


# --- journal ---------------------------------------------------------------------------


async def journal(request: web.Request) -> web.Response:
    """Every write, newest first, filtered by resource, token, status and time."""
    args = {k: request.query.get(k, "").strip() for k in ("type", "resource", "token", "status")}
    args |= {k: request.query.get(k, "").strip() for k in ("since", "until", "before")}
    low, high = STATUS_FILTERS.get(args["status"], (None, None))
    error, entries = None, []
    # Unfiltered and newest first, the page is live (console/live.py): from a position read
    # before its rows, so a row committed in between is sent again, and shown once.
    newest = not any(args.values())
    live = live_href("/journal/live", await _store(request).journal_now()) if newest else None
    try:
        query = JournalQuery(
            resource_type=args["type"] if args["type"] in RESOURCE_TYPES else None,
            resource_id=args["resource"] or None,
            token_name=args["token"] or None,
            status_min=low,
            status_max=high,
            since=time_param(request, "since", end=False),
            until=time_param(request, "until", end=True),
            before_id=int_param(request, "before", low=1, high=SQLITE_MAX_INT),
            limit=JOURNAL_PAGE,
        )
        entries = await _store(request).search_journal(query)
    except InvalidValue as exc:
        error = exc.detail
    # Filtered by a resource, the journal is its history, told from its side.
    rows = await describe(_store(request), entries, viewing=args["resource"] or None)
    context = {
        "args": args, "rows": rows, "error": error, "resource_types": RESOURCE_TYPES,
        "statuses": list(STATUS_FILTERS), "tokens": await _store(request).list_tokens(),
        "older": entries[-1].id if len(entries) == JOURNAL_PAGE else None, "live": live,
    }  # fmt: skip
    return page(request, "journal.html", context, 400 if error else 200)


async def events(request: web.Request) -> web.Response:
    """Events for applications, newest first, by type; live on the newest page."""
    return page(request, "events.html", await events_page(request))


# --- tokens ----------------------------------------------------------------------------


async def _tokens_page(
    request: web.Request, created: tuple[str, str] | None = None, error: str | None = None
) -> web.Response:
    context = {
        "tokens": await _store(request).list_tokens(),
        "scopes": SCOPES,
        "created": created,
        "error": error,
    }
    return page(request, "tokens.html", context, 400 if error else 200)


async def tokens(request: web.Request) -> web.Response:
    return await _tokens_page(request)


async def create_token(request: web.Request) -> web.Response:
    """The secret is in this response only; it is never stored or shown again."""
    form = await _form(request)
    name, scope = form.get("name", "").strip(), parse_scope(form.get("scope", "scim"))
    problem = valid_token_name(name)
    if problem is not None:
        return await _tokens_page(request, error=problem[0].upper() + problem[1:] + ".")
    if scope is None:
        return await _tokens_page(request, error=f"Scope must be one of {', '.join(SCOPES)}.")
    try:
        token, secret = await _store(request).create_token(
            name, scope, _context(request, answered=200)
        )
    except Conflict as exc:
        return await _tokens_page(request, error=f"{exc.detail}; choose another name.")
    return await _tokens_page(request, created=(token.name, secret))


async def revoke_token(request: web.Request) -> web.Response:
    """Revoking the token you signed in with signs you out: its sessions end with it."""
    session = _session(request)
    name = (await _form(request)).get("name", "")
    try:
        token = await _store(request).revoke_token_journaled(name, _context(request))
    except NotFound as exc:
        await _flash(request, f"Nothing revoked: {exc.detail}.")
        return redirect("/tokens")
    await _store(request).end_sessions_of(token.id)
    if token.id == session.token_id:
        response = redirect("/signin")
        response.del_cookie(COOKIE, path="/")
        return response
    await _flash(request, f"Revoked token '{token.name}'; it gets 401 from its next request on.")
    return redirect("/tokens")
