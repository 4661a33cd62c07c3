"""Journal retention: old rows go, recent rows stay (SCIMLITE_JOURNAL_RETENTION_DAYS)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite import timeutil
from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store import Store, WriteContext
from tests.support import journal_entries
from tests.support.events import feed, settled
from tests.support.scim import Scim


async def _journal_at(store: Store, *stamps: str) -> None:
    await store.db.write(
        lambda conn: conn.executemany(
            "INSERT INTO journal (at, method, path, status) VALUES (?, 'POST', '/Users', 201)",
            [(stamp,) for stamp in stamps],
        )
    )


async def test_events_go_with_the_journal(scim: Scim, admin: str) -> None:
    """One retention for both: an event outlives no journal row (docs/events.md)."""
    store = scim.client.app[STORE]
    await scim.create_user("old")
    await store.db.write(lambda conn: conn.execute("UPDATE events SET at = ?", (_days_ago(200),)))
    await scim.create_user("new")
    await store.prune_journal(_days_ago(90))
    events, _ = await settled(scim, admin, None)
    assert [e["data"]["user"]["userName"] for e in events] == ["new"]


async def test_a_consumer_behind_retention_is_told_to_resync(scim: Scim, admin: str) -> None:
    store = scim.client.app[STORE]
    start = (await feed(scim.client, admin))["next"]
    await scim.create_user("old")
    await scim.create_user("kept")
    (old, kept), _ = await settled(scim, admin, start)
    aged = "UPDATE events SET at = ? WHERE type = 'user.created' AND user_id = ?"
    await store.db.write(
        lambda conn: conn.execute(aged, (_days_ago(200), old["data"]["user"]["id"]))
    )
    await store.prune_journal(_days_ago(90))
    behind = await feed(scim.client, admin, 410, after=start)
    assert behind["detail"].startswith(f"events after {start} up to {old['id']} were deleted")
    assert "resync" in behind["detail"]
    # From the newest pruned event on, or from the oldest retained, the feed goes on.
    assert (await feed(scim.client, admin, after=old["id"], limit=1))["events"] == [kept]
    assert (await feed(scim.client, admin, limit=1))["events"] == [kept]


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """No background pruning for the `client` of these tests: a test that prunes must not
    race the server's own start-up pruning for the same rows."""
    return Settings(
        db_path=tmp_path / "scimlite.db", database_url=database_url, journal_retention_days=0
    )


def _days_ago(days: int) -> str:
    return timeutil.format_time(datetime.now(UTC) - timedelta(days=days))


async def test_prune_removes_rows_before_the_cutoff_only(client: TestClient[Any, Any]) -> None:
    store = client.app[STORE]
    await _journal_at(store, _days_ago(200), _days_ago(100), _days_ago(1))
    removed = await store.prune_journal(_days_ago(90), chunk=1)
    assert removed == 2
    assert [e.at[:10] for e in await journal_entries(store)] == [_days_ago(1)[:10]]


async def test_the_server_prunes_on_start(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "r.db", journal_retention_days=30)
    client = await aiohttp_client(create_app(settings))
    store = client.app[STORE]
    await _journal_at(store, _days_ago(31))
    await store.users.create(
        {"userName": "kept@example.com"}, None, WriteContext("t", "POST", "/Users")
    )
    await client.close()
    client = await aiohttp_client(create_app(settings))
    for _ in range(50):  # the pruning task runs in the background after start-up
        entries = await journal_entries(client.app[STORE])
        if len(entries) == 1:
            break
        await asyncio.sleep(0.02)
    assert [e.method for e in entries] == ["POST"]
    assert entries[0].at > _days_ago(1)


async def test_retention_zero_keeps_everything(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "k.db", journal_retention_days=0)
    client = await aiohttp_client(create_app(settings))
    await _journal_at(client.app[STORE], _days_ago(3650))
    await client.close()
    client = await aiohttp_client(create_app(settings))
    await asyncio.sleep(0.05)
    assert len(await journal_entries(client.app[STORE])) == 1
