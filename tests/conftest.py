"""The fixture ladder: settings(tmp_path) → app → client → an authenticated SCIM client."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from hypothesis import settings as hypothesis_settings

from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings

# Property and fuzz tests explore new examples on every local run; in CI they replay a fixed
# set, so a submission lands or fails on its own merits, not on the draw.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

SAMPLES = Path(__file__).parent / "samples"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


class Scim:
    """A SCIM client over the test server: paths are relative to /scim/v2."""

    def __init__(self, client: TestClient[Any, Any], token: str) -> None:
        self.client = client
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> ClientResponse:
        hdrs = {**self.headers, **(headers or {})}
        if body is not None:
            hdrs.setdefault("Content-Type", SCIM_JSON)
            kw["data"] = json.dumps(body)
        return await self.client.request(method, f"/scim/v2{path}", headers=hdrs, **kw)

    async def call(
        self, method: str, path: str, body: Any = None, status: int = 200, **kw: Any
    ) -> Any:
        """Request, assert the status and SCIM content type, return the JSON body."""
        resp = await self.request(method, path, body, **kw)
        text = await resp.text()
        assert resp.status == status, text
        if status == 204:
            return None
        assert resp.content_type == SCIM_JSON
        return json.loads(text)

    async def create_user(self, user_name: str, **attrs: Any) -> dict[str, Any]:
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **attrs}
        result: dict[str, Any] = await self.call("POST", "/Users", body, status=201)
        return result

    async def create_group(
        self, name: str, members: list[str] | None = None, **attrs: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": name, **attrs}
        if members is not None:
            body["members"] = [{"value": m} for m in members]
        result: dict[str, Any] = await self.call("POST", "/Groups", body, status=201)
        return result


def patch_ops(*operations: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp request body (RFC 7644 §3.5.2) with these operations."""
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def assert_error(body: dict[str, Any], status: int, scim_type: str | None = None) -> None:
    """RFC 7644 §3.12: Error schema, status as a string, scimType when one applies."""
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert isinstance(body["detail"], str) and body["detail"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "scimlite.db")


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], settings: Settings
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def token(client: TestClient[Any, Any]) -> str:
    _, secret = await client.app[STORE].create_token("test-idp", "scim")
    return secret


@pytest.fixture
async def scim(client: TestClient[Any, Any], token: str) -> Scim:
    return Scim(client, token)
