"""What every kind of test shares: the SCIM constants, the samples, one check of an RFC 7644
§3.12 error, and raw HTTP to a server on a port.

The clients build on this: `tests.support.scim` (the aiohttp test client, in-process),
`tests.support.threaded` (an app on its own loop in a thread, for synchronous tests),
`tests.support.process` (a real `scimlite` process) and `tests.support.console` (the web
console's pages). Fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import enum
import http.client
import json
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from scimlite.store import JournalEntry, JournalQuery, Store
from scimlite.store.sqlite.db import SQLiteDatabase as Database

SAMPLES = Path(__file__).parent.parent / "samples"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


class _Unchecked(enum.Enum):
    ANY = "any"


ANY_SCIM_TYPE: Final = _Unchecked.ANY
"""For `assert_scim_error`: the error may carry any scimType, or none."""


def sample(name: str) -> Any:
    """A request body from tests/samples/ (RFC examples and what real IdPs send)."""
    return json.loads((SAMPLES / name).read_text())


def patch_ops(*operations: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp request body (RFC 7644 §3.5.2) with these operations."""
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def assert_scim_error(
    body: Mapping[str, Any] | bytes | str,
    status: int,
    scim_type: str | Literal[_Unchecked.ANY] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """RFC 7644 §3.12: the Error schema, the status as a string, scimType when one applies
    (`None`: there is none; `ANY_SCIM_TYPE`: not checked) and a detail. With the response's
    `headers` (lower-case names), also its content type, application/scim+json. Returns the
    parsed body."""
    if headers is not None:
        content_type = headers.get("content-type", "").split(";")[0].strip()
        assert content_type == SCIM_JSON, (status, headers, body)
    doc = dict(json.loads(body) if isinstance(body, bytes | str) else body)
    assert doc["schemas"] == [ERROR_SCHEMA], doc
    assert doc["status"] == str(status), doc
    if scim_type is not ANY_SCIM_TYPE:
        assert doc.get("scimType") == scim_type, doc
    assert isinstance(doc.get("detail"), str) and doc["detail"], doc
    return doc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with raw bytes in and out (urls may carry any bytes, already quoted);
    (status, headers with lower-case names, body)."""
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, "/" + path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


async def create_token(db_path: Path, name: str = "test-idp") -> str:
    """A scim-scope token in the file, made the way `scimlite token create` makes it."""
    db = Database(db_path, readers=1)
    await db.open()
    try:
        _, secret = await Store(db).create_token(name, "scim")
    finally:
        await db.close()
    return secret


async def journal_entries(
    store: Store, *, resource_id: str | None = None, limit: int = 50
) -> list[JournalEntry]:
    """The latest journal rows, newest first (optionally of one resource)."""
    return await store.search_journal(JournalQuery(resource_id=resource_id, limit=limit))
