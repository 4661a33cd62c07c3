"""Requests answered in one turn of the loop are logged and counted together (issue #14):
on the direct path every request still gets its line, and a scrape counts every request
answered before it."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.api import accesslog
from tests.support.scim import Scim


async def test_concurrent_requests_each_get_their_direct_line(
    client: TestClient[Any, Any],
    scim: Scim,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="scimlite.access")
    stream = io.StringIO()
    direct = accesslog.DirectAccessLog(logging.StreamHandler(stream), "text")
    monkeypatch.setattr(accesslog, "_direct", direct)
    paths = [f"/scim/v2/Users/missing-{n}" for n in range(20)]
    answers = await asyncio.gather(*(client.get(path, headers=scim.headers) for path in paths))
    assert {resp.status for resp in answers} == {404}
    await asyncio.sleep(0)
    logged = [line.split()[5] for line in stream.getvalue().splitlines()]
    assert sorted(logged) == sorted(paths)


async def test_metrics_count_the_requests_answered_just_before(
    client: TestClient[Any, Any], scim: Scim, admin: str
) -> None:
    await asyncio.gather(*(client.get("/scim/v2/Users", headers=scim.headers) for _ in range(7)))
    scrape = await client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
    text = await scrape.text()
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("scimlite_http_requests_total{")
        and 'route="/scim/v2/Users"' in line
        and 'method="GET"' in line
        and 'status="200"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == 7
