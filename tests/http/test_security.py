"""Token handling, failed-auth rate limiting, request logs, binding (docs/security.md)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite import tokens
from scimlite.api.accesslog import JsonFormatter, TextFormatter
from scimlite.api.ratelimit import FailureLimiter, retry_after
from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support import assert_scim_error
from tests.support.scim import Scim


async def test_secrets_never_reach_the_log_but_token_names_do(
    scim: Scim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = scim.token[:-4] + "AAAA"  # right prefix, wrong secret
    await scim.call("GET", "/Users")
    await scim.create_user("logged@example.com")
    await scim.client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {wrong}"})
    await scim.client.get("/scim/v2/Users?filter=bad(", headers=scim.headers)
    await scim.client.post("/signin", data={"token": scim.token, "csrf": "x"})
    assert caplog.records
    for record in caplog.records:
        for formatter in (TextFormatter(), JsonFormatter()):
            line = formatter.format(record)
            assert scim.token not in line and wrong not in line
            assert scim.token.split("_", 2)[2][:12] not in line
    access = [r.__dict__["access"] for r in caplog.records if r.name == "scimlite.access"]
    assert {a["token"] for a in access} >= {"test-idp", None}


async def test_one_access_line_per_request_with_its_request_id(
    scim: Scim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scimlite.access")
    resp = await scim.request("GET", "/Users", headers={"X-Request-Id": "idp-trace.42"})
    assert resp.headers["X-Request-Id"] == "idp-trace.42"
    hostile = await scim.request("GET", "/Users/nope", headers={"X-Request-Id": "a\tb" * 40})
    # A malformed inbound id is replaced by our own: a per-process prefix and a counter.
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]+", hostile.headers["X-Request-Id"])
    third = await scim.request("GET", "/Users/nope")
    assert third.headers["X-Request-Id"] != hostile.headers["X-Request-Id"]
    lines = [r.__dict__["access"] for r in caplog.records if r.name == "scimlite.access"]
    assert len(lines) == 3
    first, second, _ = lines
    assert first["request_id"] == "idp-trace.42" and first["token"] == "test-idp"
    assert (first["method"], first["path"], first["status"]) == ("GET", "/scim/v2/Users", 200)
    assert second["status"] == 404 and second["request_id"] == hostile.headers["X-Request-Id"]
    assert isinstance(first["latency_ms"], float) and first["latency_ms"] >= 0


def test_json_log_lines_are_one_object_each() -> None:
    fields = {
        "request_id": "r1",
        "remote": "10.0.0.7",
        "token": "okta",
        "method": "PATCH",
        "path": "/scim/v2/Groups/x",
        "status": 200,
        "latency_ms": 1.5,
    }
    record = logging.LogRecord(
        "scimlite.access", logging.INFO, __file__, 1, "PATCH %s", ("x",), None
    )
    record.access = fields
    entry = json.loads(JsonFormatter().format(record))
    assert entry["time"].endswith("Z") and entry["level"] == "INFO"
    assert entry["message"] == "PATCH x"
    assert {k: entry[k] for k in fields} == fields
    text = TextFormatter().format(record)
    assert text.endswith("status=200 latency_ms=1.5") and "token=okta" in text


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "limited.db", auth_failure_limit=3, auth_failure_window=60)


async def test_failed_auth_is_throttled_but_a_valid_token_always_works(scim: Scim) -> None:
    bad = {"Authorization": "Bearer sl_00000000_guess"}
    for _ in range(3):
        resp = await scim.client.get("/scim/v2/Users", headers=bad)
        assert resp.status == 401
    resp = await scim.client.get("/scim/v2/Users", headers=bad)
    assert resp.status == 429
    assert resp.content_type == "application/scim+json"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert_scim_error(await resp.json(), 429)
    missing = await scim.client.get("/scim/v2/Users")  # no header at all counts too
    assert missing.status == 429
    # The real IdP shares the address (a proxy, a NAT): it is never locked out.
    await scim.call("GET", "/Users")
    await scim.create_user("still-provisioning@example.com")
    # Discovery and the health check need no token and are not throttled.
    assert (await scim.client.get("/scim/v2/ServiceProviderConfig")).status == 200
    assert (await scim.client.get("/healthz")).status == 200


def test_limiter_window_retry_after_and_memory_bound() -> None:
    now = [1000.0]
    limiter = FailureLimiter(limit=2, window=10, max_addresses=3, clock=lambda: now[0])
    assert limiter.failed("a") is None
    now[0] += 4
    assert limiter.failed("a") is None
    now[0] += 4
    wait = limiter.failed("a")
    # Throttled failures count too: the last two (at +4 s and +8 s) must age out to one.
    assert wait == pytest.approx(6)
    assert wait is not None
    assert retry_after(wait) == "6" and retry_after(0.2) == "1"
    assert limiter.failed("b") is None, "addresses are counted apart"
    now[0] += 6
    assert limiter.failed("a") is None, "Retry-After told the truth"
    for address in ("c", "d", "e"):
        limiter.failed(address)
    assert len(limiter._failures) == 3 and "a" not in limiter._failures


async def test_secrets_are_stored_only_as_hashes(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], tmp_path: Path
) -> None:
    settings = Settings(db_path=tmp_path / "tokens.db")
    client = await aiohttp_client(create_app(settings))
    info, secret = await client.app[STORE].create_token("okta", "admin")
    await client.close()  # closes the database: everything is in the main file now
    raw = settings.db_path.read_bytes()
    assert secret.encode() not in raw and secret.split("_", 2)[2].encode() not in raw
    assert tokens.digest(secret).encode() in raw
    assert info.prefix.encode() in raw


def test_tokens_carry_256_bits_and_compare_in_constant_time() -> None:
    seen = {tokens.generate()[1] for _ in range(200)}
    assert len(seen) == 200
    for token in seen:
        secret = token.split("_", 2)[2]
        assert len(secret) >= 43  # 32 random bytes, base64url
    token = next(iter(seen))
    assert tokens.matches(token, tokens.digest(token))
    assert not tokens.matches(token + "x", tokens.digest(token))


def test_binds_to_loopback_unless_told_otherwise() -> None:
    assert Settings.load(env={}).host == "127.0.0.1"
