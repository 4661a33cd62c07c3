"""The fixture ladder: settings(tmp_path) → app → client → an authenticated SCIM client, and
the console signed in as an admin. Helpers and constants are in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import settings as hypothesis_settings

from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support.console import sign_in
from tests.support.postgres import (
    PostgresMissing,
    empty_database,
    fresh_database,
    migrated_template,
    throwaway_server,
)
from tests.support.scim import Scim

# Property and fuzz tests explore new examples on every local run; in CI they replay a fixed
# set, so a submission lands or fails on its own merits, not on the draw.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


BACKENDS = ("sqlite", "postgres")
_sqlite_only: list[str] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a database runs on both backends, but those marked sqlite_only."""
    if "backend" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        if only_sqlite:
            _sqlite_only.append(metafunc.definition.nodeid)
        metafunc.parametrize("backend", ["sqlite"] if only_sqlite else BACKENDS)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _sqlite_only:
        terminalreporter.write_line(
            f"{len(_sqlite_only)} tests are about SQLite itself (marked sqlite_only) "
            "and ran on SQLite only"
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server (tests/support/postgres.py); with CI set, a machine
    without PostgreSQL fails the run instead of skipping the PostgreSQL half."""
    try:
        with throwaway_server() as url, migrated_template(url):
            yield url
    except PostgresMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """One database with scimlite's schema for the run, emptied after each test."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """An empty PostgreSQL database for this test, or None on SQLite."""
    if backend == "sqlite":
        yield None
        return
    url: str = request.getfixturevalue("postgres_database")
    try:
        yield url
    finally:
        empty_database(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(db_path=tmp_path / "scimlite.db", database_url=database_url)


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
