"""Reading SCIM requests and writing SCIM responses: the one place headers are set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import orjson
from aiohttp import web

from scimlite.api import SCIM_PREFIX
from scimlite.keys import SETTINGS
from scimlite.scim.errors import InvalidSyntax, ScimError, UnsupportedMediaType

SCIM_CONTENT_TYPE = "application/scim+json"
# The `Server` header: the product, not aiohttp's and Python's versions to look exploits up by.
SERVER = "scimlite"
# RFC 7644 §3.1: requests carry application/scim+json; plain JSON is accepted too.
ACCEPTED_TYPES = (SCIM_CONTENT_TYPE, "application/json")


def respond(
    body: Any,
    status: int = 200,
    *,
    etag: str | None = None,
    location: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A SCIM JSON response (RFC 7644 §3.1: application/scim+json; ETag and Location)."""
    response = web.Response(body=orjson.dumps(body), status=status, content_type=SCIM_CONTENT_TYPE)
    if etag is not None:
        response.headers["ETag"] = etag
    if location is not None:
        response.headers["Location"] = location
    if headers:
        response.headers.update(headers)
    return response


# Bytes gathered before a streamed body is handed to the transport: few writes, small buffer;
# a body shorter than this is sent whole.
FLUSH = 64 * 1024


def respond_chunks(
    chunks: Iterable[bytes],
    status: int = 200,
    *,
    etag: str | None = None,
    location: str | None = None,
) -> web.Response:
    """A SCIM JSON response whose body is rendered while it is sent (chunked transfer coding,
    RFC 9112 §7.1), at the pace the client reads it: a large list or roster is never held
    whole. Everything that can answer a SCIM error (parsing, the query) has run before; a
    failure while rendering can only abort the connection (docs/scim.md).

    A body that ends within its first FLUSH bytes — an exists-check's list, most pages — is
    sent whole with a Content-Length instead: streaming costs an async iterator and a
    chunked write per response, which cut `userName eq` lookups by about a tenth."""
    rest = iter(chunks)
    head = bytearray()
    body: bytes | AsyncIterator[bytes] | None = None
    for chunk in rest:
        head += chunk
        if len(head) >= FLUSH:
            body = _flushed(bytes(head), rest)
            break
    response = web.Response(
        body=bytes(head) if body is None else body,
        status=status,
        content_type=SCIM_CONTENT_TYPE,
    )
    if etag is not None:
        response.headers["ETag"] = etag
    if location is not None:
        response.headers["Location"] = location
    return response


async def _flushed(first: bytes, rest: Iterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    buffer = bytearray()
    for chunk in rest:
        buffer += chunk
        if len(buffer) >= FLUSH:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def error_response(error: ScimError) -> web.Response:
    return respond(error.body(), error.status, headers=error.headers)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; anything unparsable is 400 invalidSyntax.

    Every SCIM request with a body reads it here, so this is where a body of another media
    type is refused (415). No Content-Type at all is accepted: some IdPs omit it.
    """
    if "Content-Type" in request.headers and request.content_type not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(
            f'Content-Type "{request.content_type}" is not accepted; send '
            f"{' or '.join(ACCEPTED_TYPES)}"
        )
    raw = await request.read()
    if not raw.strip():
        raise InvalidSyntax("the request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidSyntax(f"the request body is not valid JSON: {exc}") from None


def expected_versions(if_match: str | None) -> frozenset[int] | None:
    """The versions an If-Match header accepts, for the store; None when any version does.

    RFC 7232 §3.1: the header is `*` (any current representation) or a list of entity tags,
    and matches when any of them does. A tag that is not one of ours matches nothing.
    Used by single writes (the header) and /Bulk (each operation's `version`).
    """
    if if_match is None:
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        return None
    versions: set[int] = set()
    for tag in tags:
        try:
            versions.add(int(tag.removeprefix("W/").strip('"')))
        except ValueError:
            continue
    return frozenset(versions)


def base_url(request: web.Request) -> str:
    """The SCIM base URL clients should use, e.g. `https://host/scim/v2`."""
    public = request.app[SETTINGS].public_url
    if public:
        return public.rstrip("/") + SCIM_PREFIX
    return f"{request.scheme}://{request.host}{SCIM_PREFIX}"
