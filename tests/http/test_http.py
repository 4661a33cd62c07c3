"""Authentication, routing and the error funnel (RFC 7644 §2, §3.12)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support import USER_SCHEMA, assert_scim_error, journal_entries
from tests.support.scim import Scim


async def test_healthz_needs_no_token(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer", id="empty-bearer"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
        pytest.param("Bearer not-a-token", id="malformed"),
        pytest.param("Bearer sl_00000000_wrongwrongwrong", id="unknown"),
    ],
)
async def test_bad_credentials_are_401_with_www_authenticate(
    client: TestClient[Any, Any], token: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    resp = await client.get("/scim/v2/Users", headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.content_type == "application/scim+json"
    assert_scim_error(await resp.json(content_type=None), 401)


async def test_right_prefix_wrong_secret_is_401(scim: Scim) -> None:
    forged = scim.token[:-4] + "AAAA"
    resp = await scim.client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status == 401


async def test_revoked_token_is_refused_at_once(scim: Scim) -> None:
    await scim.call("GET", "/Users")
    assert await scim.client.app[STORE].revoke_token("test-idp")
    resp = await scim.request("GET", "/Users")
    assert resp.status == 401


async def test_token_use_is_recorded(scim: Scim) -> None:
    await scim.call("GET", "/Users")
    (info,) = await scim.client.app[STORE].list_tokens()
    assert info.last_used is not None


async def test_unknown_scim_route_is_scim_404(scim: Scim) -> None:
    body = await scim.call("GET", "/Widgets", status=404)
    assert_scim_error(body, 404)


async def test_wrong_method_is_scim_405(scim: Scim) -> None:
    resp = await scim.request("DELETE", "/Users")
    assert resp.status == 405
    assert resp.content_type == "application/scim+json"
    assert_scim_error(await resp.json(content_type=None), 405)
    assert "POST" in resp.headers["Allow"]


async def test_body_over_the_limit_is_413_and_the_server_lives(
    aiohttp_client: Any, tmp_path: Any
) -> None:
    settings = Settings(db_path=tmp_path / "s.db", max_body_bytes=4096)
    from scimlite.app import create_app

    client = await aiohttp_client(create_app(settings))
    _, secret = await client.app[STORE].create_token("t", "scim")
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/scim+json"}
    big = json.dumps({"schemas": [USER_SCHEMA], "userName": "x" * 10_000})
    resp = await client.post("/scim/v2/Users", data=big, headers=headers)
    assert resp.status == 413
    assert_scim_error(await resp.json(content_type=None), 413)
    ok = await client.get("/scim/v2/Users", headers=headers)
    assert ok.status == 200
    assert (await ok.json(content_type=None))["totalResults"] == 0


async def test_unexpected_failure_is_500_without_internals(
    scim: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(scim.client.app[STORE].users, "get", explode)
    resp = await scim.request("GET", "/Users/abc")
    assert resp.status == 500
    body = await resp.json(content_type=None)
    assert_scim_error(body, 500)
    assert "secret internal detail" not in await resp.text()


async def test_rejected_write_is_journaled_and_changes_nothing(scim: Scim) -> None:
    await scim.call("POST", "/Users", {"schemas": [USER_SCHEMA]}, status=400)
    entries = await journal_entries(scim.client.app[STORE])
    assert [(e.method, e.status, e.token_name) for e in entries] == [("POST", 400, "test-idp")]
    assert "userName" in (entries[0].detail or "")


async def test_successful_write_is_journaled_with_its_changes(scim: Scim) -> None:
    user = await scim.create_user("journal@example.com", active="False")
    (entry,) = await journal_entries(scim.client.app[STORE], resource_id=user["id"])
    assert (entry.method, entry.status, entry.resource_type) == ("POST", 201, "User")
    assert {"path": "userName", "op": "add", "new": "journal@example.com"} in entry.changes
    assert entry.latency_ms is not None
