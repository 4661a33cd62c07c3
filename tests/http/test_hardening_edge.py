"""Issue #12, the edge: credentials, connections, logs, files (docs/security.md).

Each test reproduces one finding the way a hostile client on the network would: raw bytes
over a real socket where a client library would refuse to send them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from scimlite import tokens
from scimlite.api import server
from scimlite.api.accesslog import JsonFormatter, TextFormatter
from scimlite.app import create_app
from scimlite.banner import banner
from scimlite.cli import main
from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store import Store
from scimlite.store.sqlite.backup import backup
from scimlite.store.sqlite.db import SQLiteDatabase as Database
from tests.support import USER_SCHEMA, assert_scim_error, journal_entries
from tests.support.process import ServerProcess
from tests.support.scim import Scim

Reply = tuple[int, dict[str, str], bytes]


async def exchange(port: int, raw: bytes) -> Reply:
    """Send raw bytes, read until the server closes; (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_error_reply(reply: Reply, status: int) -> None:
    """The reply has this status and an RFC 7644 §3.12 error body, without a scimType."""
    got, headers, body = reply
    assert got == status, reply
    assert_scim_error(body, status, headers=headers)


def formatted(records: list[logging.LogRecord]) -> str:
    return "\n".join(f.format(r) for r in records for f in (TextFormatter(), JsonFormatter()))


# --- 1. malformed credentials: 401 then 429, no journal row, no 500 ---------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "edge.db", auth_failure_limit=3)


async def journal_size(scim: Scim) -> int:
    return len(await journal_entries(scim.client.app[STORE], limit=1000))


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(b"sl_" + b"\xff" * 8 + b"_x", id="invalid-utf8-prefix"),
        pytest.param("sl_é" * 3 + "_x", id="non-ascii"),
        pytest.param(b"sl_00000000_\xff\xfe", id="invalid-utf8-secret"),
        pytest.param("sl_0000000g_secret", id="prefix-not-hex"),
        pytest.param("sl_00000000_" + "a" * 5000, id="oversized"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic-as-bearer-value"),
    ],
)
async def test_a_malformed_bearer_is_401_then_429_and_never_journaled(
    scim: Scim, caplog: pytest.LogCaptureFixture, credential: bytes | str
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = credential if isinstance(credential, bytes) else credential.encode()
    before = await journal_size(scim)
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": "x"}).encode()
    request = (
        b"POST /scim/v2/Users?filter=attacker-controlled HTTP/1.1\r\nHost: t\r\n"
        b"Content-Type: application/scim+json\r\nConnection: close\r\n"
        b"Authorization: Bearer " + raw + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    port = scim.client.port
    assert port is not None
    statuses = [(await exchange(port, request))[0] for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert_error_reply(await exchange(port, request), 429)
    assert await journal_size(scim) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    ours = [r for r in caplog.records if r.name != "aiohttp.access"]  # the test server's own
    # One short line per refused request: its access line, nothing else from scimlite.
    assert [r.name for r in ours if r.name.startswith("scimlite")] == ["scimlite.access"] * 5
    assert "attacker-controlled" not in formatted(ours)


async def test_an_unauthenticated_request_never_reaches_the_journal(scim: Scim) -> None:
    before = await journal_size(scim)
    for method, path in [("POST", "/Users"), ("DELETE", "/Users/x"), ("PUT", "/Schemas")]:
        resp = await scim.client.request(method, f"/scim/v2{path}", data=b"{")
        assert resp.status in (401, 405), await resp.text()
    assert await journal_size(scim) == before


# --- 6 and 7. the HTTP server layer: deadlines, a connection cap, no token in the log -----


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[int, Settings]]:
    """scimlite's own server layer (what `scimlite serve` runs), in this process."""
    settings = settings.model_copy(update={"port": 0})
    runner = await server.start(create_app(settings), settings)
    try:
        yield int(runner.addresses[0][1]), settings
    finally:
        await runner.cleanup()


async def live_token(settings: Settings) -> str:
    db = Database(settings.db_path, readers=1)
    await db.open()
    try:
        _, secret = await Store(db).create_token("edge", "scim")
    finally:
        await db.close()
    return secret


@pytest.mark.parametrize(
    "where",
    ["authorization", "cookie", "request-line"],
)
async def test_an_oversized_header_or_line_is_a_scim_400_and_its_bytes_are_not_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = await live_token(settings)
    padding = "A" * 9000
    headers = {
        "authorization": f"Authorization: Bearer {secret}{padding}\r\n",
        "cookie": f"Cookie: scimlite_session={secret}{padding}\r\n",
        "request-line": "",
    }[where]
    path = f"/scim/v2/Users?x={secret}{padding}" if where == "request-line" else "/scim/v2/Users"
    async with serving(settings) as (port, _):
        reply = await exchange(port, f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode())
    status = reply[0]
    assert 400 <= status < 500
    assert_error_reply(reply, status)
    assert secret not in reply[2].decode()
    log = formatted(caplog.records)
    assert secret[:12] not in log and "AAAAAAAA" not in log
    assert not [r for r in caplog.records if r.exc_info]


async def test_bad_header_bytes_are_a_scim_400(settings: Settings) -> None:
    async with serving(settings) as (port, _):
        reply = await exchange(port, b"GET /scim/v2/Users HTTP/1.1\r\nBad Name: x\r\n\r\n")
    assert_error_reply(reply, 400)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closes the connection (bounded wait, not a timing assertion)."""
    return await asyncio.wait_for(reader.read(), timeout=20) == b""


@pytest.mark.parametrize(
    "fragments",
    [
        pytest.param([b"GET /scim/v2/Us"], id="half-a-request-line"),
        pytest.param([b"GET / HTTP/1.1\r\n", b"Host: t\r\n", b"X-a: b\r\n"], id="trickled"),
        pytest.param([], id="silent"),
    ],
)
async def test_a_request_head_that_does_not_arrive_in_time_is_closed(
    settings: Settings, fragments: list[bytes]
) -> None:
    async with serving(settings.model_copy(update={"header_timeout": 1.0})) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for fragment in fragments:
            writer.write(fragment)
            await asyncio.sleep(0.4)
        assert await closed_by_server(reader)
        writer.close()


async def test_a_request_body_that_does_not_arrive_in_time_is_408(settings: Settings) -> None:
    secret = await live_token(settings)
    async with serving(settings.model_copy(update={"body_timeout": 1.0})) as (port, _):
        reply = await exchange(
            port,
            b"POST /scim/v2/Users HTTP/1.1\r\nHost: t\r\nContent-Type: application/scim+json\r\n"
            b"Authorization: Bearer " + secret.encode() + b"\r\n"
            b'Content-Length: 100\r\n\r\n{"schemas":',
        )
    assert_error_reply(reply, 408)


async def served_once_a_slot_frees(port: int) -> bool:
    """A normal request is answered once the server has seen a connection end (bounded poll)."""
    for _ in range(100):
        try:
            status, _, _ = await exchange(
                port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            return status == 200
        except (ValueError, IndexError):  # closed unanswered: the server still counts it
            await asyncio.sleep(0.05)
    return False


async def test_connections_past_the_cap_are_closed_and_logged_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with serving(settings.model_copy(update={"max_connections": 3})) as (port, _):
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await asyncio.sleep(0.2)
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await closed_by_server(reader)
            writer.close()
        held.pop()[1].close()
        assert await served_once_a_slot_frees(port)
        for _, writer in held:
            writer.close()
    warnings = [r for r in caplog.records if "SCIMLITE_MAX_CONNECTIONS" in r.getMessage()]
    assert len(warnings) == 1


@pytest.fixture
def process(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess.serve(tmp_path / "rlimit.db")
    proc.env["SCIMLITE_HEADER_TIMEOUT"] = "1"
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_the_server_process_raises_its_file_limit_and_closes_half_requests(
    process: ServerProcess,
) -> None:
    assert process.proc is not None
    limits = Path(f"/proc/{process.proc.pid}/limits").read_text().splitlines()
    files = next(line for line in limits if line.startswith("Max open files")).split()
    assert files[3] == files[4], files  # soft == hard

    async def half_request() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", process.port)
        writer.write(b"GET /scim/v2/Us")
        try:
            return await closed_by_server(reader)
        finally:
            writer.close()

    assert asyncio.run(half_request())


# --- 8. access-log lines cannot be forged -------------------------------------------------


async def test_control_characters_in_a_path_cannot_forge_a_log_line(
    scim: Scim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scimlite.access")
    forged = "/x%0a2026-01-01 00:00:00,000 INFO scimlite.access GET /Users 200%0d%1b[2J%e2%80%a8"
    await scim.client.get(f"/scim/v2{forged}", headers=scim.headers)
    await scim.client.get("/scim/v2/x%20status=200", headers=scim.headers)
    records = [r for r in caplog.records if r.name == "scimlite.access"]
    assert len(records) == 2
    first, second = (TextFormatter().format(r) for r in records)
    for line in (first, second):
        assert not any(ch in line for ch in "\n\r\x1b\u2028"), line
    assert "\\n2026-01-01" in first
    assert second.endswith("status=404") or " status=404 " in second, second
    assert 'path="/scim/v2/x status=200"' in second
    for record in records:
        entry = JsonFormatter().format(record)
        assert "\n" not in entry and json.loads(entry)["path"].startswith("/scim/v2/x")


# --- 14. Host header reflection is announced when it can happen -----------------------------


@pytest.mark.parametrize(
    ("host", "public_url", "warned"),
    [
        ("0.0.0.0", None, True),
        ("192.0.2.10", None, True),
        ("0.0.0.0", "https://scim.example.com", False),
        ("127.0.0.1", None, False),
    ],
)
def test_binding_beyond_loopback_without_a_public_url_warns_about_the_host_header(
    host: str, public_url: str | None, warned: bool
) -> None:
    settings = Settings.load(env={}, host=host, public_url=public_url)
    text = banner(settings, secret=None, created=False, demo=False)
    assert ("SCIMLITE_PUBLIC_URL is not set" in text) is warned
    assert ("Host header" in text) is warned


# --- 17. token names have one rule; files are the owner's only -----------------------------


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("okta", True),
        ("entra.prod-1@corp", True),
        ("a" * 64, True),
        ("", False),
        ("a" * 65, False),
        ("bell\x07", False),
        ("line\nbreak", False),
        ("zero\u200bwidth", False),
        (" padded", False),
        ("-leading", False),
    ],
)
def test_one_token_name_rule(name: str, valid: bool) -> None:
    error = tokens.valid_token_name(name)
    assert (error is None) is valid
    if error is not None:
        assert error and "\n" not in error


@pytest.mark.parametrize("name", ["", "x" * 65, "evil\x1b[2Jname", "two\nlines"])
def test_cli_refuses_a_bad_token_name_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    db = tmp_path / "names.db"
    assert main(["token", "create", name, "--db", str(db), "--create"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert not db.exists()  # refused before the database is even created


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_and_its_wal_are_the_owners_only(
    tmp_path: Path, loose_umask: None
) -> None:
    path = tmp_path / "private.db"
    db = Database(path, readers=1)
    await db.open()
    try:
        await db.write(lambda conn: conn.execute("SELECT 1"))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        await db.close()


async def test_a_backup_is_the_owners_only(tmp_path: Path, loose_umask: None) -> None:
    source = tmp_path / "live.db"
    db = Database(source, readers=1)
    await db.open()
    await db.close()
    result = backup(source, tmp_path / "copy.db")
    assert mode(result.path) == 0o600
