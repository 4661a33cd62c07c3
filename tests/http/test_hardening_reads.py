"""Reads under a hostile client (issue #12, findings 5 and 11).

Every read has a time budget; a client that hangs up stops its query; cheap lookups have a
lane of their own; a list page holds a bounded number of team members.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from benchmarks.seed import bench_id, seed, team_id
from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store.sqlfilter import fold_sql
from scimlite.store.sqlite.db import SQLiteDatabase as Database
from scimlite.store.sqlite.db import _sql_fold
from scimlite.text import fold
from tests.support import assert_scim_error
from tests.support.scim import Scim

Factory = Callable[..., Awaitable[Scim]]
USERS = 3_000
# Legal, matches nothing, and no index can answer it: every user's emails are read 60 times.
EXPENSIVE = " or ".join(f'emails[type co "q{i}"]' for i in range(60))
HANG_GUARD = 30  # seconds; only stops a broken build from hanging the suite


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reads") / "seeded.db"
    seed(path, USERS, 20)
    return path


@pytest.fixture
def db_path(seeded: Path, tmp_path: Path) -> Path:
    path = tmp_path / "scimlite.db"
    shutil.copyfile(seeded, path)
    return path


@pytest.fixture
async def server(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], db_path: Path
) -> Factory:
    """A server over a copy of the seeded file, with these settings."""

    async def start(**overrides: Any) -> Scim:
        client = await aiohttp_client(create_app(Settings(db_path=db_path, **overrides)))
        _, secret = await client.app[STORE].create_token("test-idp", "scim")
        return Scim(client, secret)

    return start


def database(scim: Scim) -> Database:
    db: Database = scim.client.app[STORE].db
    return db


@contextlib.asynccontextmanager
async def hold_scan_readers(scim: Scim) -> AsyncIterator[None]:
    """Keep every pooled reader busy (as long-running scans would) for the block."""
    db = database(scim)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(db.reader_count):
            await stack.enter_async_context(db.read())
        yield


# Finding 5: a time budget for every read


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/Users", None, id="list"),
        pytest.param("POST", "/Users/.search", {"filter": EXPENSIVE}, id="search"),
        pytest.param("POST", "/.search", {"filter": EXPENSIVE}, id="root-search"),
    ],
)
async def test_a_filter_past_the_read_budget_is_400_too_many(
    server: Factory, method: str, path: str, body: Any
) -> None:
    scim = await server(read_timeout_ms=1)
    params = {"filter": EXPENSIVE} if body is None else None
    error = await scim.call(method, path, body, status=400, params=params)
    assert_scim_error(error, 400, "tooMany")
    assert "1 ms" in error["detail"]
    assert database(scim).interrupted >= 1


async def test_user_name_eq_answers_while_scans_exceed_the_budget(server: Factory) -> None:
    scim = await server(read_timeout_ms=1)
    await scim.call("GET", "/Users", params={"filter": EXPENSIVE}, status=400)
    page = await scim.call("GET", "/Users", params={"filter": 'userName eq "user42@example.com"'})
    assert [r["id"] for r in page["Resources"]] == [bench_id(42)]


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        pytest.param("/Groups", {"filter": 'displayName eq "Team 7"'}, team_id(7), id="team-name"),
        pytest.param("/Groups", {"filter": 'externalId eq "team-7"'}, team_id(7), id="team-ext"),
        pytest.param("/Users", {"filter": 'externalId eq "ext-9"'}, bench_id(9), id="user-ext"),
        pytest.param(
            "/Users", {"filter": 'displayName eq "Given9 Family9"'}, bench_id(9), id="name"
        ),
        pytest.param(f"/Groups/{team_id(7)}", {}, team_id(7), id="team-by-id"),
    ],
)
async def test_indexed_lookups_do_not_queue_behind_scans(
    server: Factory, path: str, params: dict[str, str], expected: str
) -> None:
    scim = await server(readers=1)
    async with asyncio.timeout(HANG_GUARD), hold_scan_readers(scim):
        body = await scim.call("GET", path, params=params)
    found = body.get("Resources", [body])
    assert [r["id"] for r in found] == [expected]
    assert all("members" in r for r in found if r["id"] == team_id(7))


async def test_a_read_that_cannot_get_a_reader_in_time_is_503_with_retry_after(
    server: Factory,
) -> None:
    scim = await server(readers=1, read_timeout_ms=50)
    async with asyncio.timeout(HANG_GUARD), hold_scan_readers(scim):
        resp = await scim.request("GET", "/Users", params={"filter": EXPENSIVE})
        body = await resp.json(content_type=None)
    assert resp.status == 503
    assert resp.headers["Retry-After"].isdigit()
    assert_scim_error(body, 503)


async def test_a_client_that_hangs_up_stops_its_query(server: Factory) -> None:
    scim = await server(readers=1, read_timeout_ms=60_000)
    db = database(scim)
    running, release = threading.Event(), threading.Event()
    steps_after_release = 0

    def progress() -> int:
        """Stall the first statement until the client has gone, then count its steps."""
        nonlocal steps_after_release
        if not running.is_set():
            running.set()
            release.wait(HANG_GUARD)
        elif release.is_set():
            steps_after_release += 1
        return 0

    async with db.read() as conn:
        await conn.set_progress_handler(progress, 100)
    request = asyncio.create_task(scim.request("GET", "/Users", params={"filter": EXPENSIVE}))
    async with asyncio.timeout(HANG_GUARD):
        await asyncio.to_thread(running.wait, HANG_GUARD)
        request.cancel()  # the client hangs up mid-query
        with contextlib.suppress(asyncio.CancelledError):
            await request
        # The server notices the lost connection in its own time; nothing to await.
        while db.interrupted == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        release.set()
        async with db.read():  # the reader comes back to the pool
            pass
    assert steps_after_release <= 2


# Finding 11: a list page holds a bounded number of team members


async def small_teams(scim: Scim, *sizes: int) -> list[str]:
    """Teams of these sizes (drawn from the seeded users), in creation order."""
    await scim.call("DELETE", f"/Groups/{team_id(0)}", status=204)
    for t in range(1, 20):
        await scim.call("DELETE", f"/Groups/{team_id(t)}", status=204)
    ids = []
    for n, size in enumerate(sizes):
        team = await scim.create_group(f"Small {n}", [bench_id(i) for i in range(size)])
        ids.append(team["id"])
    return ids


async def walk(scim: Scim, query: dict[str, str]) -> list[list[dict[str, Any]]]:
    """Every page of GET /Groups, following startIndex + itemsPerPage (RFC 7644 §3.4.2.4)."""
    pages: list[list[dict[str, Any]]] = []
    start = 1
    while True:
        page = await scim.call("GET", "/Groups", params={**query, "startIndex": str(start)})
        if not page["Resources"]:
            return pages
        pages.append(page["Resources"])
        start += page["itemsPerPage"]


async def test_a_page_stops_before_its_teams_exceed_the_member_budget(server: Factory) -> None:
    scim = await server(max_page_members=5)
    ids = await small_teams(scim, 3, 3, 1)
    pages = await walk(scim, {"count": "10"})
    assert [[t["id"] for t in page] for page in pages] == [[ids[0]], [ids[1], ids[2]]]
    assert [len(t["members"]) for page in pages for t in page] == [3, 3, 1]


async def test_a_team_larger_than_the_budget_comes_whole_on_a_page_of_its_own(
    server: Factory,
) -> None:
    scim = await server(max_page_members=5)
    ids = await small_teams(scim, 8, 1)
    pages = await walk(scim, {"count": "10"})
    assert [[(t["id"], len(t["members"])) for t in page] for page in pages] == [
        [(ids[0], 8)],
        [(ids[1], 1)],
    ]
    team = await scim.call("GET", f"/Groups/{ids[0]}")
    assert len(team["members"]) == 8


async def test_the_member_budget_does_not_shorten_pages_without_members(server: Factory) -> None:
    scim = await server(max_page_members=5)
    ids = await small_teams(scim, 3, 3, 1)
    page = await scim.call("GET", "/Groups", params={"excludedAttributes": "members"})
    assert [t["id"] for t in page["Resources"]] == ids
    assert page["totalResults"] == 3


async def test_cursor_pages_also_respect_the_member_budget(server: Factory) -> None:
    scim = await server(max_page_members=5)
    ids = await small_teams(scim, 3, 3, 1)
    seen, cursor = [], ""
    while cursor is not None:
        page = await scim.call("GET", "/Groups", params={"count": "10", "cursor": cursor})
        assert sum(len(t["members"]) for t in page["Resources"]) <= 5
        seen += [t["id"] for t in page["Resources"]]
        cursor = page.get("nextCursor")
    assert seen == ids


# Filters fold in SQL without calling Python for ASCII (a Python function takes the GIL for
# every row a scan reads, which starved the event loop): the answers must not change.


@pytest.mark.parametrize(
    "value",
    [
        "Plain ASCII",
        "MiXeD-123 @x.org",
        "Straße",
        "ÉCOLE",
        "e\u0301cole",
        "\u212aelvin",
        "a\tb",
        "",
    ],
)
def test_folding_in_sql_agrees_with_fold(value: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.create_function("scim_fold", 1, _sql_fold, deterministic=True)
    row = conn.execute(f"SELECT {fold_sql('x')} FROM (SELECT ? AS x)", (value,)).fetchone()
    conn.close()
    assert row[0] == fold(value)
