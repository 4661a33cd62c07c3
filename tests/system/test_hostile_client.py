"""A hostile client against a real `scimlite serve` process, over raw sockets.

One server for the whole module; every request is something an attacker (or a broken client)
can send. After each, the invariants of docs/security.md must hold:

- no 5xx, and the server keeps answering;
- every 4xx under /scim/v2 is an RFC 7644 §3.12 Error in `application/scim+json`, including
  those the HTTP parser raises before a handler runs;
- nothing an unauthenticated client sends reaches the journal;
- no token ever appears in what the server prints, and no traceback either;
- a control character in a request cannot forge a log line.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support import (
    ANY_SCIM_TYPE,
    PATCH_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    create_token,
)
from tests.support.process import ServerProcess

pytestmark = pytest.mark.slow


class Hostile:
    """The server, its file, a valid token, and a raw-bytes HTTP/1.1 client."""

    def __init__(self, server: ServerProcess, db: Path, token: str) -> None:
        self.server, self.db, self.token = server, db, token

    def send(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send raw bytes on a fresh connection; the parsed response (status 0: none)."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=15) as sock:
            sock.sendall(raw)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        if not data:
            return 0, {}, b""
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers, body

    def request(
        self,
        method: str,
        target: bytes | str,
        *,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes = b"",
        token: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        target_bytes = target.encode() if isinstance(target, str) else target
        lines = [method.encode() + b" " + target_bytes + b" HTTP/1.1", b"Host: 127.0.0.1"]
        if token:
            lines.append(b"Authorization: Bearer " + self.token.encode())
        lines += [name + b": " + value for name, value in headers]
        if body:
            lines.append(b"Content-Type: application/scim+json")
        lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
        return self.send(b"\r\n".join(lines) + b"\r\n\r\n" + body)

    def journal_rows(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT token_name, method, path, status FROM journal").fetchall()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    db = tmp_path_factory.mktemp("hostile") / "hostile.db"
    server = ServerProcess.serve(db)
    server.start(banner_token=True)
    token = asyncio.run(create_token(db, "idp"))
    banner = len(server.lines)  # the first run prints the admin token once, by design
    try:
        yield Hostile(server, db, token)
    finally:
        server.stop()
    output = "".join(server.lines[banner:])
    assert "Traceback" not in output, output
    for secret in (token, server.token):
        assert secret.split("_", 2)[2][:12] not in output, output


def _assert_client_error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """A 4xx, in RFC 7644 §3.12 form."""
    assert 400 <= status < 500, (status, body[:300])
    return assert_scim_error(body, status, ANY_SCIM_TYPE, headers=headers)


def _alive(hostile: Hostile) -> None:
    status, _, body = hostile.request("GET", "/scim/v2/Users?count=0", token=True)
    assert status == 200, body


BAD_CREDENTIALS = [
    pytest.param(b"Bearer sl_" + b"\xff" * 8 + b"_x", id="invalid-utf8-prefix"),
    pytest.param(b"Bearer sl_12345678_" + b"\x80\xfe" * 20, id="invalid-utf8-secret"),
    pytest.param(b"Bearer \xc3\x28", id="invalid-utf8-short"),
    pytest.param(b"Bearer " + b"A" * 4000, id="long-garbage"),
    pytest.param(b"Bearer sl_00000000_" + b"A" * 43, id="right-shape-unknown"),
    pytest.param(b"Bearer", id="scheme-only"),
    pytest.param(b"Basic dXNlcjpwYXNzd29yZA==", id="basic"),
    pytest.param(b"Bearer sl_%00%00_x", id="percent-nul"),
]


@pytest.mark.parametrize("credential", BAD_CREDENTIALS)
@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "/scim/v2/Users?x=evil"),
        ("PATCH", "/scim/v2/Groups/abc"),
        ("GET", "/scim/v2/Users"),
    ],
)
def test_a_malformed_credential_is_401_or_429_and_leaves_no_trace(
    hostile: Hostile, credential: bytes, method: str, target: str
) -> None:
    before = hostile.journal_rows()
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": "intruder"}).encode()
    status, headers, raw = hostile.request(
        method,
        target,
        headers=[(b"Authorization", credential)],
        body=body if method != "GET" else b"",
    )
    assert status in (401, 429)  # 429 once this address has failed too often
    _assert_client_error(status, headers, raw)
    assert hostile.journal_rows() == before
    _alive(hostile)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"Authorization", id="authorization"),
        pytest.param(b"Cookie", id="cookie"),
        pytest.param(b"X-Anything", id="other"),
    ],
)
def test_an_oversized_header_never_logs_the_token(hostile: Hostile, header: bytes) -> None:
    value = b"Bearer " + hostile.token.encode() + b"x" * 9000
    if header == b"Cookie":
        value = b"scimlite_session=" + hostile.token.encode() + b"y" * 9000
    status, headers, raw = hostile.request("GET", "/scim/v2/Users", headers=[(header, value)])
    assert 400 <= status < 500
    _assert_client_error(status, headers, raw)
    _alive(hostile)


def test_an_oversized_request_line_is_a_scim_error(hostile: Hostile) -> None:
    target = "/scim/v2/Users?filter=" + "x" * 9000 + hostile.token
    status, headers, raw = hostile.request("GET", target, token=True)
    _assert_client_error(status, headers, raw)
    _alive(hostile)


@pytest.mark.parametrize(
    "raw_header",
    [
        pytest.param(b"X-Bad: \x00\x01", id="nul-in-value"),
        pytest.param(b"Authorization: Bearer sl_\x01\x02\x03\x04_x", id="control-in-credential"),
        pytest.param(b"Bad Header: x", id="space-in-name"),
        pytest.param(b"X-Folded: a\r\n b", id="obsolete-folding"),
    ],
)
def test_a_malformed_header_is_a_scim_error(hostile: Hostile, raw_header: bytes) -> None:
    status, headers, raw = hostile.send(
        b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n"
        + raw_header
        + b"\r\nConnection: close\r\n\r\n"
    )
    _assert_client_error(status, headers, raw)
    assert headers["server"] == "scimlite"  # answered before routing, named all the same
    _alive(hostile)


@pytest.mark.parametrize("token", [False, True], ids=["anonymous", "authenticated"])
@pytest.mark.parametrize(
    "path",
    [
        "/scim/v2/Users/x%0a2026-12-03T00:00:00 INFO scimlite.access forged",
        "/scim/v2/Users/x%0d%0aforged",
        "/scim/v2/Users/x%00y",
        "/scim/v2/Users/x%1b[31mred",
    ],
)
def test_control_characters_cannot_forge_a_log_line(
    hostile: Hostile, token: bool, path: str
) -> None:
    status, headers, raw = hostile.request("DELETE", path.replace(" ", "%20"), token=token)
    assert status in ((404,) if token else (401, 429))
    _assert_client_error(status, headers, raw)
    for line in hostile.server.lines:
        assert not line.startswith(("forged", "2026-12-03T00:00:00 INFO")), line
        assert "\x1b" not in line and "\x00" not in line


PATHOLOGICAL_FILTERS = [
    "(" * 3000 + 'userName eq "a"' + ")" * 3000,
    " or ".join(f'emails[type co "q{i}"]' for i in range(60)),
    " or ".join(f'userName co "{i:03d}"' for i in range(150)),
    'userName eq "' + "\u0130" * 2000 + '"',
    "userName eq",
    'userName sw "\x00"',
]


@pytest.mark.parametrize("text", PATHOLOGICAL_FILTERS, ids=range(len(PATHOLOGICAL_FILTERS)))
def test_pathological_filters_are_answered_or_refused_never_500(
    hostile: Hostile, text: str
) -> None:
    status, headers, raw = hostile.request(
        "GET", "/scim/v2/Users?count=5&filter=" + quote(text), token=True
    )
    if status != 200:
        _assert_client_error(status, headers, raw)
    _alive(hostile)


def _patch(*operations: dict[str, Any]) -> bytes:
    return json.dumps({"schemas": [PATCH_SCHEMA], "Operations": list(operations)}).encode()


def test_pathological_patches_are_refused_cleanly_and_change_nothing(hostile: Hostile) -> None:
    user = json.dumps({"schemas": [USER_SCHEMA], "userName": "target@example.com"}).encode()
    status, _, raw = hostile.request("POST", "/scim/v2/Users", body=user, token=True)
    assert status == 201, raw
    created = json.loads(raw)
    path = f"/scim/v2/Users/{created['id']}"
    many = [{"value": f"e{i}@example.com"} for i in range(5000)]
    bodies = [
        _patch({"op": "replace", "path": "emails", "value": many}),
        _patch(*({"op": "add", "path": "emails", "value": [v]} for v in many[:1500])),
        _patch({"op": "replace", "path": "emails[value eq " + '"x"' * 2000 + "].display"}),
        _patch({"op": "replace", "value": {"userName": " \u200b "}}),
        _patch({"op": "add", "path": "x" * 10000, "value": 1}),
    ]
    for body in bodies:
        status, headers, raw = hostile.request("PATCH", path, body=body, token=True)
        _assert_client_error(status, headers, raw)
    status, _, raw = hostile.request("GET", path, token=True)
    assert json.loads(raw)["meta"]["version"] == created["meta"]["version"]


def test_no_unauthenticated_request_reached_the_journal(hostile: Hostile) -> None:
    """Run last in this module (pytest keeps file order): everything above is covered."""
    assert all(row[0] is not None for row in hostile.journal_rows())
