"""`scimlite backup`: a consistent copy of a live database, and a restore from it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.app import create_app
from scimlite.cli import main
from scimlite.settings import Settings
from scimlite.store.database import DatabaseError
from scimlite.store.sqlite.backup import backup
from scimlite.store.sqlite.migrations import SCHEMA_VERSION
from tests.support import PATCH_SCHEMA
from tests.support.scim import Scim


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(sql).fetchall()
    conn.close()
    return rows


def _check_copy(copy: Path) -> None:
    assert not Path(f"{copy}-wal").exists(), "the copy is one self-contained file"
    assert _rows(copy, "PRAGMA journal_mode") == [("delete",)]
    assert _rows(copy, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(copy, "PRAGMA foreign_key_check") == []


@pytest.mark.sqlite_only
async def test_backup_while_serving_is_consistent_and_restores(
    scim: Scim,
    settings: Settings,
    tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    team = (await scim.create_group("backed up"))["id"]
    before = [(await scim.create_user(f"before{i}@example.com"))["id"] for i in range(20)]
    stop = asyncio.Event()
    written: list[str] = []

    async def keep_writing() -> None:
        """The server keeps serving writes (users joining a team) while the copy is made."""
        i = 0
        while not stop.is_set():
            user = (await scim.create_user(f"during{i}@example.com"))["id"]
            add = {"op": "add", "path": "members", "value": [{"value": user}]}
            await scim.call(
                "PATCH", f"/Groups/{team}", {"schemas": [PATCH_SCHEMA], "Operations": [add]}
            )
            written.append(user)
            i += 1

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    copy = tmp_path / "copy.db"
    result = await asyncio.to_thread(backup, settings.db_path, copy)
    await asyncio.sleep(0.05)
    stop.set()
    await writer
    assert result.path == copy and result.bytes == copy.stat().st_size
    assert result.schema_version == SCHEMA_VERSION
    assert written, "the server stopped serving during the backup"
    _check_copy(copy)

    # Restore: a server started on the copy serves the state at one instant.
    restored = Scim(await aiohttp_client(create_app(Settings(db_path=copy))), scim.token)
    listing = await restored.call("GET", "/Users?count=1000")
    ids = {u["id"] for u in listing["Resources"]}
    assert set(before) <= ids
    during = [u for u in written if u in ids]
    assert during == written[: len(during)], "the copy is a prefix of the writes, no holes"
    group = await restored.call("GET", f"/Groups/{team}")
    # Each user joined the team in the write after its create: at most the last one is out.
    members = {m["value"] for m in group.get("members", [])}
    assert set(during[:-1]) <= members <= set(during)
    await restored.create_user("after-restore@example.com")  # the copy is writable


def test_cli_backup_prints_a_summary_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, copy = tmp_path / "live.db", tmp_path / "nightly.db"
    assert main(["token", "create", "okta", "--db", str(db), "--create"]) == 0
    capsys.readouterr()
    assert main(["backup", str(copy), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"Backed up {db} to {copy}" in out and f"schema version {SCHEMA_VERSION}" in out
    assert _rows(copy, "SELECT name FROM tokens") == [("okta",)]
    assert main(["backup", str(copy), "--db", str(db)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["backup", str(tmp_path / "x.db"), "--db", str(tmp_path / "missing.db")]) == 2
    assert not (tmp_path / "missing.db").exists(), "backup must not create its source"


def test_backup_refuses_a_file_from_a_newer_scimlite(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(DatabaseError, match="newer"):
        backup(db, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()
    assert not list(tmp_path.glob(".*partial")), "no partial file left behind"
