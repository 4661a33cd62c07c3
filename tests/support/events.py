"""Reading GET /api/v1/events in tests.

On PostgreSQL an event shows in the feed once every transaction older than its own has
ended (docs/events.md), usually within milliseconds; autovacuum's ANALYZE is such a
transaction. So a test that must see "everything written so far" writes a marker user
after it and reads until the marker's event arrives (`settled`).
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.scim import Scim

_markers = itertools.count()


async def feed(client: TestClient[Any, Any], token: str, status: int = 200, **params: Any) -> Any:
    """GET /api/v1/events with these query parameters; asserts the status."""
    resp = await client.get(
        "/api/v1/events",
        params={k: str(v) for k, v in params.items()},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = await resp.json()
    assert resp.status == status, body
    return body


async def settled(scim: Scim, token: str, after: str | None) -> tuple[list[Any], str]:
    """Every event after `after` committed before this call, and the position after them
    (the marker's own event is read and left out)."""
    marker = f"zz-marker-{next(_markers)}"
    await scim.create_user(marker)
    events: list[Any] = []
    params: dict[str, Any] = {} if after is None else {"after": after}
    while True:
        page = await feed(scim.client, token, wait=30, limit=1000, **params)
        assert page["events"], "the marker's event never arrived"
        for event in page["events"]:
            if event["type"] == "user.created" and event["data"]["user"]["userName"] == marker:
                return events, event["id"]
            events.append(event)
        params = {"after": page["next"]}
