"""The reference consumer (issue #18, item 5; examples/webhook_receiver/): scimlite's
webhooks, verified by the example's own HMAC code, keep its SQLite mirror equal to the
directory while an IdP provisions; a redelivery changes nothing; a forgery is refused."""

from __future__ import annotations

import asyncio
import base64
import hmac
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer

from examples.webhook_receiver import receiver
from scimlite import timeutil
from scimlite.api.webhooks import DELIVERER
from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store import Store
from tests.support import free_port, patch_ops
from tests.support.scim import Scim

Client = TestClient[Any, Any]


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(
        db_path=tmp_path / "scimlite.db", database_url=database_url, webhook_allow_private=True
    )


def mirror(path: Path) -> tuple[Any, ...]:
    with sqlite3.connect(path) as db:
        return (
            sorted(db.execute("SELECT user_name, display_name, active FROM users")),
            sorted(db.execute("SELECT name FROM teams")),
            sorted(
                db.execute(
                    "SELECT t.name, u.user_name FROM members m JOIN teams t ON t.id = m.team_id "
                    "JOIN users u ON u.id = m.user_id"
                )
            ),
            db.execute("SELECT count(*) FROM seen").fetchone()[0],
        )


async def caught_up(store: Store, webhook_id: int, seconds: float = 20) -> None:
    """Until the endpoint was delivered every event committed so far."""
    deadline = time.monotonic() + seconds
    while (await store.webhook(webhook_id)).position != await store.events_now():
        assert time.monotonic() < deadline, "the endpoint did not catch up"
        await asyncio.sleep(0.05)


async def test_the_mirror_follows_provisioning(scim: Scim, tmp_path: Path) -> None:
    scim.client.app[DELIVERER].poll = 0.05
    store: Store = scim.client.app[STORE]
    path = tmp_path / "mirror.db"
    port = free_port()  # the endpoint first: the receiver needs its secret
    url = f"http://127.0.0.1:{port}/webhooks/scimlite"
    hook, secret = await store.add_webhook(url, (), await store.events_now(), timeutil.now())
    server = TestServer(receiver.create_app(secret, str(path)), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        ada = await scim.create_user("ada", displayName="Ada")
        bob = await scim.create_user("bob")
        team = await scim.create_group("Engineering", [ada["id"]])
        add_bob = {"op": "add", "path": "members", "value": [{"value": bob["id"]}]}
        await scim.call("PATCH", f"/Groups/{team['id']}", patch_ops(add_bob))
        deactivate = {"op": "replace", "path": "active", "value": False}
        await scim.call("PATCH", f"/Users/{bob['id']}", patch_ops(deactivate))
        await scim.call("DELETE", f"/Users/{ada['id']}", status=204)
        rename = {"op": "replace", "path": "displayName", "value": "Platform"}
        await scim.call("PATCH", f"/Groups/{team['id']}", patch_ops(rename))
        other = await scim.create_group("Gone")
        await scim.call("DELETE", f"/Groups/{other['id']}", status=204)
        await caught_up(store, hook.id)
        want = ([("bob", None, 0)], [("Platform",)], [("Platform", "bob")])
        assert mirror(path)[:3] == want
        applied = mirror(path)[3]
        first = (await store.webhook_deliveries(hook.id))[-1]  # newest first
        await store.resend_webhook(hook.id, first.id)  # every event again, in order
        await caught_up(store, hook.id)
        assert len(await store.webhook_deliveries(hook.id)) == 2 * applied
        assert mirror(path) == (
            [("bob", None, 0)], [("Platform",)], [("Platform", "bob")], applied
        )  # fmt: skip
    finally:
        await server.close()


async def test_a_forged_or_stale_delivery_is_refused(tmp_path: Path) -> None:
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    server = TestServer(receiver.create_app(secret, str(tmp_path / "m.db")), host="127.0.0.1")
    await server.start_server()
    body = b'{"type": "user.deleted", "data": {}}'
    now = int(time.time())
    try:
        async with ClientSession() as session:
            for stamp, key in ((now, b"x" * 32), (now - 3600, b"s" * 32)):
                signed = hmac.new(key, f"1.{stamp}.".encode() + body, "sha256")
                headers = {
                    "webhook-id": "1",
                    "webhook-timestamp": str(stamp),
                    "webhook-signature": "v1," + base64.b64encode(signed.digest()).decode(),
                }
                url = server.make_url("/webhooks/scimlite")
                async with session.post(url, data=body, headers=headers) as resp:
                    assert resp.status == 401
    finally:
        await server.close()
    assert mirror(tmp_path / "m.db") == ([], [], [], 0)
