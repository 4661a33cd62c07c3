"""Many clients on the same teams and users at once: no 5xx, no lost update, exact final state.

The single writer (db.py: a lock plus BEGIN IMMEDIATE) is what these tests lean on; they
would fail with "database is locked" surfacing as 500s, or with lost read-modify-writes, if
a write ever ran outside it.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from tests.support import GROUP_SCHEMA, PATCH_SCHEMA, USER_SCHEMA
from tests.support.scim import Scim

CLIENTS = 32


def _op(op: str, path: str, value: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"op": op, "path": path}
    if value is not None:
        body["value"] = value
    return {"schemas": [PATCH_SCHEMA], "Operations": [body]}


async def _ok(scim: Scim, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    """A request that must succeed; any 5xx (or 'database is locked') fails the test."""
    resp = await scim.request(method, path, body, **kw)
    text = await resp.text()
    assert resp.status < 500 and "locked" not in text, (resp.status, text)
    return resp.status, text


async def test_32_clients_moving_members_of_the_same_teams(scim: Scim) -> None:
    teams = [(await scim.create_group(f"team {i}"))["id"] for i in range(3)]
    users = [(await scim.create_user(f"member{i}@example.com"))["id"] for i in range(CLIENTS * 2)]
    expected: dict[tuple[str, str], bool] = {}

    async def client(n: int) -> None:
        rng = random.Random(n)
        mine = users[n * 2 : n * 2 + 2]  # each (team, user) pair has one writer
        for _ in range(6):
            team, user = rng.choice(teams), rng.choice(mine)
            join = not expected.get((team, user), False)
            body = (
                _op("add", "members", [{"value": user}])
                if join
                else _op("remove", f'members[value eq "{user}"]')
            )
            status, _ = await _ok(scim, "PATCH", f"/Groups/{team}", body)
            assert status == 200
            expected[(team, user)] = join

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    for team in teams:
        group = await scim.call("GET", f"/Groups/{team}")
        members = {m["value"] for m in group.get("members", [])}
        assert members == {u for (t, u), on in expected.items() if t == team and on}
    for user in users:
        doc = await scim.call("GET", f"/Users/{user}")
        assert {g["value"] for g in doc.get("groups", [])} == {
            t for (t, u), on in expected.items() if u == user and on
        }


async def test_concurrent_patch_adds_without_if_match_are_all_kept(scim: Scim) -> None:
    """PATCH reads and writes inside one transaction: 32 adds to one user all land."""
    user = (await scim.create_user("busy@example.com"))["id"]
    team = (await scim.create_group("busy team"))["id"]
    adders = [(await scim.create_user(f"adder{i}@example.com"))["id"] for i in range(CLIENTS)]

    async def client(n: int) -> None:
        body = _op("add", "emails", [{"value": f"alias{n}@example.com", "type": "other"}])
        assert (await _ok(scim, "PATCH", f"/Users/{user}", body))[0] == 200
        member = _op("add", "members", [{"value": adders[n]}])
        assert (await _ok(scim, "PATCH", f"/Groups/{team}", member))[0] == 200

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    doc = await scim.call("GET", f"/Users/{user}")
    assert {e["value"] for e in doc["emails"]} == {f"alias{n}@example.com" for n in range(CLIENTS)}
    assert doc["meta"]["version"] == f'W/"{1 + CLIENTS}"'
    group = await scim.call("GET", f"/Groups/{team}")
    assert {m["value"] for m in group["members"]} == set(adders)


async def test_if_match_counter_loses_no_increment(scim: Scim) -> None:
    """Optimistic concurrency (RFC 7644 §3.14): read, PUT with If-Match, retry on 412.

    Every 200 is one increment; if two writers with the same ETag could both win, the
    counter would end below the number of 200s.
    """
    user = (await scim.create_user("counter@example.com", title="0"))["id"]
    rounds = 2
    wins: list[int] = []

    async def client(n: int) -> None:
        done = 0
        while done < rounds:
            resp = await scim.request("GET", f"/Users/{user}")
            doc, etag = await resp.json(content_type=None), resp.headers["ETag"]
            body = {"schemas": [USER_SCHEMA], "userName": doc["userName"]}
            body["title"] = str(int(doc["title"]) + 1)
            status, text = await _ok(
                scim, "PUT", f"/Users/{user}", body, headers={"If-Match": etag}
            )
            assert status in (200, 412), text
            if status == 200:
                done += 1
                wins.append(n)

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    doc = await scim.call("GET", f"/Users/{user}")
    assert len(wins) == CLIENTS * rounds
    assert doc["title"] == str(CLIENTS * rounds)


async def test_concurrent_puts_without_if_match_never_mix_documents(scim: Scim) -> None:
    """Last writer wins, but whole: the result is exactly one of the documents sent."""
    user = (await scim.create_user("contested@example.com"))["id"]
    team = (await scim.create_group("contested"))["id"]

    def body(n: int) -> dict[str, Any]:
        return {
            "schemas": [USER_SCHEMA],
            "userName": "contested@example.com",
            "displayName": f"writer {n}",
            "title": f"title {n}",
            "name": {"givenName": f"given {n}", "familyName": f"family {n}"},
        }

    async def client(n: int) -> None:
        assert (await _ok(scim, "PUT", f"/Users/{user}", body(n)))[0] == 200
        group: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": f"contested {n}"}
        group["members"] = [{"value": user}] if n % 2 else []
        assert (await _ok(scim, "PUT", f"/Groups/{team}", group))[0] == 200

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    doc = await scim.call("GET", f"/Users/{user}")
    n = int(doc["displayName"].split()[1])
    assert doc["title"] == f"title {n}" and doc["name"]["familyName"] == f"family {n}"
    # Every PUT changed the document; membership flips bump the user's version as well.
    assert int(doc["meta"]["version"][3:-1]) >= 1 + CLIENTS
    group = await scim.call("GET", f"/Groups/{team}")
    winner = int(group["displayName"].split()[1])
    assert bool(group.get("members")) == bool(winner % 2)
    assert (team in {g["value"] for g in doc.get("groups", [])}) == bool(winner % 2)
