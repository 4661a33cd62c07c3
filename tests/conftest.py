"""The fixture ladder: settings(tmp_path) → app → client → an authenticated SCIM client, and
the console signed in as an admin. Helpers and constants are in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import settings as hypothesis_settings

from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support.console import sign_in
from tests.support.scim import Scim

# Property and fuzz tests explore new examples on every local run; in CI they replay a fixed
# set, so a submission lands or fails on its own merits, not on the draw.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


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
    created: tuple[Any, str] = await client.app[STORE].create_token("test-idp", "scim")
    return created[1]


@pytest.fixture
async def scim(client: TestClient[Any, Any], token: str) -> Scim:
    return Scim(client, token)


@pytest.fixture
async def admin(client: TestClient[Any, Any]) -> str:
    """An admin-scope token's secret."""
    created: tuple[Any, str] = await client.app[STORE].create_token("admin", "admin")
    return created[1]


@pytest.fixture
async def console(client: TestClient[Any, Any], admin: str) -> TestClient[Any, Any]:
    """The test client, signed in with an admin token."""
    await sign_in(client, admin)
    return client
