"""Durability under kill -9: every write acknowledged with a 2xx survives a crash.

A real `scimlite serve` process takes creates, PUTs and membership PATCHes from many
concurrent clients and is SIGKILLed at random moments, several times, on the same file.
After each restart every acknowledged write must be there with its acknowledged content; a
write that was in flight when the process died may or may not be (the client never heard),
but nothing else is allowed. Each user is driven by one client at a time, so for every user
and every (team, user) pair "the last acknowledged value, or the one in flight" is exact.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scimlite.store import Store
from scimlite.store.sqlite.db import SQLiteDatabase as Database
from tests.support import GROUP_SCHEMA, PATCH_SCHEMA, USER_SCHEMA, create_token
from tests.support.process import ServerProcess

CLIENTS = 16
TEAMS = 3
CRASHES = 4


@dataclass
class Expect:
    """What a client knows of one value: the last acknowledged one, and one in flight."""

    acked: Any
    pending: list[Any] = field(default_factory=list)

    def allowed(self) -> list[Any]:
        return [self.acked, *self.pending]

    def settle(self, actual: Any) -> None:
        assert actual in self.allowed(), (actual, self.allowed())
        self.acked, self.pending = actual, []


@dataclass
class Ledger:
    users: dict[str, Expect] = field(default_factory=dict)  # id → (displayName, title)
    members: dict[tuple[str, str], Expect] = field(default_factory=dict)  # (team, user) → bool
    pending_creates: set[str] = field(default_factory=set)  # userNames sent, never answered


class Client:
    """One IdP connection: creates its own users, then PUTs them and moves them between teams."""

    def __init__(self, n: int, base: str, token: str, ledger: Ledger, teams: list[str]) -> None:
        self.n, self.base, self.ledger, self.teams = n, base, ledger, teams
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        self.mine: list[str] = [u for u in ledger.users if u.startswith(f"{n}:")]
        self.rng = random.Random(n * 7919 + len(ledger.users))
        self.seq = 0

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Until the server dies under us: the request in flight then stays pending."""
        while True:
            self.seq += 1
            roll = self.rng.random()
            try:
                if roll < 0.3 or not self.mine:
                    await self._create(session)
                elif roll < 0.6:
                    await self._put(session)
                else:
                    await self._membership(session)
            except (TimeoutError, aiohttp.ClientError):
                return

    async def _call(
        self, session: aiohttp.ClientSession, method: str, path: str, body: Any
    ) -> dict[str, Any] | None:
        async with session.request(
            method, f"{self.base}/scim/v2{path}", json=body, headers=self.headers
        ) as resp:
            payload: dict[str, Any] | None = await resp.json(content_type=None)
            assert resp.status in (200, 201), (method, path, resp.status, payload)
            return payload

    async def _create(self, session: aiohttp.ClientSession) -> None:
        name = f"c{self.n}-{time.monotonic_ns()}@crash.example"
        content = (f"User {self.n}", "v0")
        self.ledger.pending_creates.add(name)
        body = {
            "schemas": [USER_SCHEMA],
            "userName": name,
            "displayName": content[0],
            "title": "v0",
        }
        created = await self._call(session, "POST", "/Users", body)
        assert created is not None
        self.ledger.pending_creates.discard(name)
        key = f"{self.n}:{created['id']}"
        self.ledger.users[key] = Expect(content)
        self.mine.append(key)

    async def _put(self, session: aiohttp.ClientSession) -> None:
        key = self.rng.choice(self.mine)
        content = (f"User {self.n} #{self.seq}", f"v{self.seq}")
        expect = self.ledger.users[key]
        expect.pending.append(content)
        user = key.split(":", 1)[1]
        body = {
            "schemas": [USER_SCHEMA],
            "userName": f"renamed-{user}@crash.example",
            "displayName": content[0],
            "title": content[1],
        }
        await self._call(session, "PUT", f"/Users/{user}", body)
        expect.acked, expect.pending = content, []

    async def _membership(self, session: aiohttp.ClientSession) -> None:
        key = self.rng.choice(self.mine)
        user = key.split(":", 1)[1]
        team = self.rng.choice(self.teams)
        expect = self.ledger.members.setdefault((team, user), Expect(False))
        join = not expect.acked
        op: dict[str, Any] = (
            {"op": "add", "path": "members", "value": [{"value": user}]}
            if join
            else {"op": "remove", "path": f'members[value eq "{user}"]'}
        )
        expect.pending.append(join)
        await self._call(
            session, "PATCH", f"/Groups/{team}", {"schemas": [PATCH_SCHEMA], "Operations": [op]}
        )
        expect.acked, expect.pending = join, []


async def _verify(base: str, token: str, ledger: Ledger, teams: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        teams_of: dict[str, set[str]] = {}
        for key, expect in ledger.users.items():
            user = key.split(":", 1)[1]
            async with session.get(f"{base}/scim/v2/Users/{user}") as resp:
                assert resp.status == 200, f"acknowledged user {user} is gone"
                doc = await resp.json(content_type=None)
            expect.settle((doc["displayName"], doc["title"]))
            teams_of[user] = {g["value"] for g in doc.get("groups", [])}
        for team in teams:
            async with session.get(f"{base}/scim/v2/Groups/{team}") as resp:
                assert resp.status == 200
                members = {m["value"] for m in (await resp.json(content_type=None))["members"]}
            for user, in_teams in teams_of.items():
                assert (user in members) == (team in in_teams), "the two sides disagree"
                ledger.members.setdefault((team, user), Expect(False)).settle(user in members)
        async with session.get(f"{base}/scim/v2/Users?count=0") as resp:
            total = (await resp.json(content_type=None))["totalResults"]
        # A create in flight at the crash may have landed; nothing else may appear.
        assert len(ledger.users) <= total <= len(ledger.users) + len(ledger.pending_creates)


def _check_file(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


async def _grouped_commits(session: aiohttp.ClientSession, base: str, token: str) -> bool:
    """Whether some COMMIT of this server process held several writes (group commit)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{base}/metrics", headers=headers) as resp:
        text = await resp.text()
    values = dict(
        line.split(" ") for line in text.splitlines() if line.startswith("scimlite_writes_per_")
    )
    return float(values["scimlite_writes_per_commit_sum"]) > float(
        values["scimlite_writes_per_commit_count"]
    )


async def _metrics_token(db: Path) -> str:
    database = Database(db, readers=1)
    await database.open()
    try:
        return (await Store(database).create_token("scraper", "metrics"))[1]
    finally:
        await database.close()


@pytest.mark.slow
async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    """With 16 clients the writes share commits (group commit, SCIMLITE_WRITE_BATCH), so
    each kill also lands between a batch's savepoints or during its COMMIT."""
    db = tmp_path / "crash.db"
    token = await create_token(db, "crash")
    scraper = await _metrics_token(db)
    server = ServerProcess.serve(db, "--log-format", "json")
    server.start()
    headers = {"Authorization": f"Bearer {token}"}
    teams: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for i in range(TEAMS):
            body = {"schemas": [GROUP_SCHEMA], "displayName": f"team {i}"}
            async with session.post(f"{server.base}/scim/v2/Groups", json=body) as resp:
                assert resp.status == 201
                teams.append((await resp.json(content_type=None))["id"])
    ledger = Ledger()
    rng = random.Random(20240607)
    acknowledged_before = 0
    grouped = []
    try:
        for _ in range(CRASHES):
            clients = [Client(n, server.base, token, ledger, teams) for n in range(CLIENTS)]
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                tasks = [asyncio.create_task(c.run(session)) for c in clients]
                await asyncio.sleep(rng.uniform(0.4, 1.2))
                grouped.append(await _grouped_commits(session, server.base, scraper))
                server.kill()
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)
            _check_file(db)
            server.start()
            await _verify(server.base, token, ledger, teams)
            assert len(ledger.users) > acknowledged_before, "no write was acknowledged"
            acknowledged_before = len(ledger.users)
        assert server.stop() == 0
        assert any(grouped), "no commit held more than one write: group commit was not tested"
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
    _check_file(db)
    output = server.output()
    assert token not in output, "the token reached the server log"
    access = [json.loads(line) for line in output.splitlines() if '"scimlite.access"' in line]
    assert access and all(
        a["token"] == "crash" for a in access if a["path"] not in ("/healthz", "/metrics")
    )
