"""A reference consumer of scimlite's webhooks: verifies each delivery's signature and
mirrors users, teams and memberships into its own SQLite file (docs/webhooks.md).

    python examples/webhook_receiver/receiver.py --db mirror.db --port 9000
    # with WEBHOOK_SECRET=whsec_… (the secret `scimlite webhook add` printed)

What an application beside scimlite does with the same events is in `apply`: create the
user, add it to its team, block a deactivated user's keys (here: `active = 0`), remove
what was deleted. Deliveries are at least once, so each is applied once by its
`webhook-id` (the event's id), in the same transaction as its changes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import time
from typing import Any

from aiohttp import web

TOLERANCE_SECONDS = 300  # older or newer timestamps are refused: a replayed request
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, user_name TEXT NOT NULL, display_name TEXT, active INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    team_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (team_id, user_id)
);
CREATE TABLE IF NOT EXISTS seen (webhook_id TEXT PRIMARY KEY);
"""
MIRROR = web.AppKey("mirror", sqlite3.Connection)
SECRET = web.AppKey("secret", bytes)


def verified(secret: bytes, headers: Any, body: bytes, now: float) -> bool:
    """Standard Webhooks: HMAC-SHA256 over `{id}.{timestamp}.{body}`, base64, as `v1,…`
    among the space-separated signatures; the timestamp within the tolerance."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    offered = [s.removeprefix("v1,") for s in headers.get("webhook-signature", "").split()]
    return any(hmac.compare_digest(expected, s) for s in offered)


def apply(db: sqlite3.Connection, event: dict[str, Any]) -> None:
    """One event onto the mirror (the mapping a LiteLLM-style application makes)."""
    kind, data = event["type"], event["data"]
    user, team = data.get("user"), data.get("team")
    if user is not None and kind != "user.deleted":
        db.execute(
            "INSERT INTO users (id, user_name, display_name, active) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET user_name = excluded.user_name, "
            "display_name = excluded.display_name, active = excluded.active",
            (user["id"], user["userName"], user.get("displayName"), user.get("active", True)),
        )
    if team is not None and kind != "team.deleted":
        db.execute(
            "INSERT INTO teams (id, name) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            (team["id"], team["displayName"]),
        )
    if kind == "team.member_added":
        db.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (team["id"], user["id"]))
    elif kind == "team.member_removed":
        db.execute(
            "DELETE FROM members WHERE team_id = ? AND user_id = ?", (team["id"], user["id"])
        )
    elif kind == "user.deleted":
        db.execute("DELETE FROM members WHERE user_id = ?", (user["id"],))
        db.execute("DELETE FROM users WHERE id = ?", (user["id"],))
    elif kind == "team.deleted":
        db.execute("DELETE FROM members WHERE team_id = ?", (team["id"],))
        db.execute("DELETE FROM teams WHERE id = ?", (team["id"],))


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    if not verified(request.app[SECRET], request.headers, body, time.time()):
        return web.json_response({"error": "bad signature or timestamp"}, status=401)
    db = request.app[MIRROR]
    with db:  # one transaction: the event's changes and its id, or neither
        fresh = db.execute(
            "INSERT OR IGNORE INTO seen VALUES (?)", (request.headers["webhook-id"],)
        ).rowcount
        if fresh:
            apply(db, json.loads(body))
    return web.Response(status=204)


def create_app(secret: str, path: str) -> web.Application:
    app = web.Application()
    app[SECRET] = base64.b64decode(secret.removeprefix("whsec_"))
    app[MIRROR] = db = sqlite3.connect(path, check_same_thread=False)
    db.executescript(SCHEMA)

    async def close(app: web.Application) -> None:
        app[MIRROR].close()

    app.on_cleanup.append(close)
    app.router.add_post("/webhooks/scimlite", receive)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="mirror.db")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    web.run_app(create_app(os.environ["WEBHOOK_SECRET"], args.db), port=args.port)
