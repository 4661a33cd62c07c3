"""Client input for console pages: integers, times and forms, each parsed in one place.

Whatever a client puts in a query string or a form, a page answers with a 400 error page
that says what was wrong, never a 500: these raise InvalidValue, which the console
middleware (or the page itself) shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from aiohttp import web

from scimlite import timeutil
from scimlite.scim.errors import InvalidValue

SQLITE_MAX_INT = 2**63 - 1  # journal ids are SQLite INTEGERs
MAX_PAGE = 1_000_000_000  # far past any directory, and (page - 1) · per page stays an int64


def int_param(request: web.Request, name: str, *, low: int, high: int) -> int | None:
    """The query parameter as an integer in [low, high], None when absent or empty.

    Only ASCII digits: `str.isdigit()` also accepts `²` and `٣`, which `int()` refuses or
    reads as another number; the length check keeps `int()` off huge digit strings.
    """
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    bound = f"{name} must be a whole number from {low:,} to {high:,}"
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(high)):
        raise InvalidValue(bound)
    value = int(raw)
    if not low <= value <= high:
        raise InvalidValue(bound)
    return value


def time_param(request: web.Request, name: str, *, end: bool) -> str | None:
    """A datetime-local value (taken as UTC) as journal text; `end` covers its whole minute.

    Any offset is accepted, but the moment must exist in UTC: `0001-01-01T00:00+14:00`
    is before year 1 there, a 400 rather than an overflow.
    """
    text = request.query.get(name, "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if end and moment.second == 0 and moment.microsecond == 0:
            moment += timedelta(seconds=59, microseconds=999_000)
        return timeutil.format_time(moment)
    except (ValueError, OverflowError):
        raise InvalidValue(
            f"{name}: {text[:40]!r} is not a date and time like 2026-01-31T09:30"
        ) from None


async def read_form(request: web.Request) -> dict[str, str]:
    """The posted form's text fields; a body that is not valid UTF-8 is a 400."""
    try:
        form = await request.post()
    except ValueError:  # UnicodeDecodeError included: raw non-UTF-8 bytes in the body
        raise InvalidValue("the form could not be read: it is not valid UTF-8 form data") from None
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    refuse_nul(fields)
    return fields


def refuse_nul(fields: Mapping[str, str]) -> None:
    """U+0000 is never part of a search, a name or an id, and PostgreSQL cannot even be
    asked for it: a 400 on both backends. `next` is exempt: the sign-in redirect drops
    anything that is not a console path (views._safe_next)."""
    if any("\x00" in value for key, value in fields.items() if key != "next"):
        raise InvalidValue("a parameter contains U+0000; remove it and retry")
