"""Seed a scimlite database with N users and M teams, fast, for the benchmarks.

Rows are written with plain sqlite3 in one transaction (an API-driven load of a million
users would take the better part of an hour), but every derived column comes from the
store's own functions, so the file is exactly what scimlite would have written.
`check()` reads a few users back through the store to prove it.

Shapes: user i has id `bench_id(i)`, userName `user{i}@example.com`, one work email and
every third user a home email too, the enterprise extension, and 1–5 teams. Team 0 is
the big team: min(50,000, N) members.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from scimlite import timeutil
from scimlite.scim.schema import ENTERPRISE_USER_SCHEMA
from scimlite.store import Store
from scimlite.store.kinds import GROUPS, USERS
from scimlite.store.sqlite.db import SQLiteDatabase
from scimlite.store.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION
from scimlite.store.textindex import index_pending_text
from scimlite.text import fold

BIG_TEAM_SIZE = 50_000
DEPARTMENTS = ("R&D", "Sales", "Support", "Finance", "Legal", "Platform", "Security")


def bench_id(i: int) -> str:
    """A deterministic UUID-shaped id, so load scripts can address user i directly."""
    return f"00000000-0000-4000-8000-{i:012d}"


def team_id(t: int) -> str:
    return f"00000000-0000-4000-9000-{t:012d}"


def user_doc(i: int) -> dict[str, Any]:
    emails: list[dict[str, Any]] = [
        {"value": f"user{i}@example.com", "type": "work", "primary": True}
    ]
    if i % 3 == 0:
        emails.append({"value": f"u{i}@home.example.net", "type": "home"})
    return {
        "userName": f"user{i}@example.com",
        "externalId": f"ext-{i}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i % 997}"},
        "displayName": f"Given{i} Family{i % 997}",
        "title": "Engineer",
        "active": i % 10 != 0,
        "emails": emails,
        ENTERPRISE_USER_SCHEMA: {
            "employeeNumber": str(i),
            "department": DEPARTMENTS[i % len(DEPARTMENTS)],
            "manager": {"value": bench_id(max(0, i - 1))},
        },
    }


def _insert(
    conn: sqlite3.Connection,
    table: str,
    columns: dict[str, Any],
    extra: list[Any],
    names: list[str],
) -> None:
    cols = [*columns, *names]
    conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",  # noqa: S608
        [*columns.values(), *extra],
    )


def seed(path: Path, users: int, teams: int, seed_value: int = 7) -> None:
    """Write a fresh database at `path` with `users` users and `teams` teams."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    rng = random.Random(seed_value)
    stamp = timeutil.now()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # a benchmark fixture, rebuilt on any failure
    for version in range(SCHEMA_VERSION):
        script = MIGRATIONS[version]
        conn.executescript(f"BEGIN;{script};PRAGMA user_version = {version + 1};COMMIT;")
    conn.execute("BEGIN")
    names = ["id", "version", "created", "last_modified", "doc"]
    for t in range(teams):
        team = {"displayName": f"Team {t}", "externalId": f"team-{t}"}
        _insert(
            conn,
            "groups",
            GROUPS.columns(team),
            [team_id(t), 1, stamp, stamp, orjson.dumps(team).decode()],
            names,
        )
    big = min(BIG_TEAM_SIZE, users)
    memberships: list[tuple[str, str]] = []
    emails: list[tuple[Any, ...]] = []
    for i in range(users):
        doc = user_doc(i)
        uid = bench_id(i)
        _insert(
            conn,
            "users",
            USERS.columns(doc),
            [uid, 1, stamp, stamp, orjson.dumps(doc).decode()],
            names,
        )
        for pos, email in enumerate(doc["emails"]):
            emails.append(
                (
                    uid,
                    pos,
                    fold(email["value"]),
                    fold(email["type"]),
                    1 if email.get("primary") else 0,
                )
            )
        chosen = {0} if i < big else set()
        while len(chosen) < rng.randint(1, 5) and teams > 1:
            chosen.add(rng.randrange(1, teams))
        memberships += [(team_id(t), uid) for t in chosen]
        if len(emails) > 50_000:
            _flush(conn, emails, memberships)
    _flush(conn, emails, memberships)
    index_pending_text(conn, users)  # a file the server has already indexed for search
    conn.execute("COMMIT")
    conn.execute("PRAGMA optimize")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _flush(
    conn: sqlite3.Connection, emails: list[tuple[Any, ...]], memberships: list[tuple[str, str]]
) -> None:
    conn.executemany("INSERT INTO user_emails VALUES (?, ?, ?, ?, ?)", emails)
    conn.executemany("INSERT INTO memberships (group_id, user_id) VALUES (?, ?)", memberships)
    emails.clear()
    memberships.clear()


async def check(path: Path, users: int) -> None:
    """Read users back through the store: the seeded rows must be scimlite's rows."""
    db = SQLiteDatabase(path, readers=1)
    await db.open()
    try:
        store = Store(db)
        for i in (0, users // 2, users - 1):
            record = await store.users.get(bench_id(i))
            assert record.doc == user_doc(i), f"user {i} differs"
            assert record.refs, f"user {i} has no teams"
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=1_000)
    args = parser.parse_args()
    started = time.monotonic()
    seed(args.path, args.users, args.teams)
    asyncio.run(check(args.path, args.users))
    print(f"seeded {args.users} users, {args.teams} teams in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
