"""A SCIM client over pytest-aiohttp's in-process test client (the `scim` fixture)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.support import GROUP_SCHEMA, SCIM_JSON, USER_SCHEMA


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
