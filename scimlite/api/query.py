"""Query planning for list and search requests (RFC 7644 §3.4.2, §3.4.3; RFC 9865 cursors).

Paging, filter, sort and projection parameters become a store `ListQuery`; cursors are
opaque to clients and encode a keyset position (default order) or an offset (sorted).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace

from aiohttp import web

from scimlite.api.http import read_json
from scimlite.scim.errors import InvalidCursor, InvalidValue
from scimlite.scim.filter import parse_filter, parse_path
from scimlite.scim.project import Projection, parse_projection
from scimlite.scim.schema import ResourceType
from scimlite.settings import Settings
from scimlite.store.records import ListQuery


def refs_attr(resource: ResourceType) -> str:
    return resource.membership_attr


_INT_LIMIT = 2**31 - 1  # far beyond any real page, and safe for SQLite and JSON


def _param_int(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidValue(f"{name} must be an integer, got {raw!r}") from None
    if abs(value) > _INT_LIMIT:
        raise InvalidValue(f"{name} must be between -{_INT_LIMIT} and {_INT_LIMIT}")
    return value


@dataclass(frozen=True, slots=True)
class QueryPlan:
    query: ListQuery
    projection: Projection
    cursor: bool = False  # RFC 9865 cursor paging instead of startIndex


def encode_cursor(kind: str, position: int) -> str:
    """An opaque cursor: "k" keyset position (default order) or "o" offset (sorted)."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(text: str, kind: str) -> int:
    """The position in a cursor this server issued for this kind of order; "" is the start."""
    if text == "":
        return 0
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        found, _, number = raw.partition(":")
        position = int(number)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor(f"cursor {text!r} was not issued by this server") from None
    if found != kind or not 0 <= position <= 2**63 - 1:
        raise InvalidCursor(f"cursor {text!r} does not belong to this query's sort order")
    return position


async def search_params(request: web.Request) -> dict[str, str]:
    """A SearchRequest body (RFC 7644 §3.4.3) as query parameters; lists become CSV."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidValue("a SearchRequest must be a JSON object")
    return {
        k: v if isinstance(v, str) else ",".join(map(str, v)) if isinstance(v, list) else str(v)
        for k, v in body.items()
        if k != "schemas" and v is not None
    }


def plan_query(
    resource: ResourceType, params: dict[str, str], settings: Settings, *, lenient: bool = False
) -> QueryPlan:
    """Paging, filter, sort and projection parameters → a store query (RFC 7644 §3.4.2)."""
    # RFC 7644 §3.4.2.4: startIndex < 1 means 1; a negative count means 0.
    start = max(1, _param_int(params, "startIndex", 1))
    count = min(max(0, _param_int(params, "count", settings.default_count)), settings.max_count)
    projection = parse_projection(
        resource, params.get("attributes"), params.get("excludedAttributes"), lenient=lenient
    )
    text = params.get("filter")
    sort_by = params.get("sortBy")
    order = (params.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValue('sortOrder must be "ascending" or "descending"')
    query = ListQuery(
        filter=parse_filter(text, resource) if text else None,
        start_index=start,
        count=count,
        sort_by=parse_path(sort_by, resource).path if sort_by else None,
        descending=order == "descending",
        load_refs=projection.wants(refs_attr(resource)),
        max_members=settings.max_page_members,
    )
    cursor = params.get("cursor")
    if cursor is None:
        return QueryPlan(query, projection)
    # RFC 9865 §2.1: cursor and startIndex are two ways of paging; a request picks one.
    if "startIndex" in params:
        raise InvalidValue("give either cursor or startIndex, not both")
    if query.sort_by is None:
        query = replace(query, after=decode_cursor(cursor, "k"))
    else:
        query = replace(query, start_index=decode_cursor(cursor, "o") + 1)
    return QueryPlan(query, projection, cursor=True)
