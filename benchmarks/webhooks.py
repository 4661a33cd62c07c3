"""Webhook delivery (issue #18): throughput to a local receiver, and latency from commit to
webhook.

    python -m benchmarks.run --scenario webhooks --users 10000 --duration 10

A receiver in this harness (core 1) answers 204 at once. The endpoint is added with
`scimlite webhook add` while the server runs (so its pick-up is exercised too). Then:
- latency: one user created at a time, for `duration` seconds; for each, the time from its
  event's `occurred_at` (taken in the write's transaction) to the webhook's arrival, and
  from sending the POST to the arrival;
- throughput: 2,000 users created through /Bulk at once; deliveries a second from the first
  to the last arrival. One endpoint delivers one event at a time (in order), so its ceiling
  is the same receiver driven by one aiohttp client, one POST at a time, measured here too.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BURST = 2_000


@dataclass
class Measured:
    commit_to_webhook_ms: list[float] = field(default_factory=list)
    post_to_webhook_ms: list[float] = field(default_factory=list)
    deliveries_per_s: float = 0.0
    ceiling_per_s: float = 0.0


class _Receiver:
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, str]] = []  # (time, userName, occurred_at)
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        event = orjson.loads(await request.read())
        user = event.get("data", {}).get("user", {})
        self.arrivals.append((time.time(), user.get("userName", ""), event["occurred_at"]))
        self.arrived.set()
        return web.Response(status=204)

    async def until(self, count: int, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while len(self.arrivals) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), max(deadline - time.monotonic(), 0.01))


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def _ceiling(url: str, seconds: float) -> float:
    """POSTs a second to the receiver, one at a time (as one endpoint's worker sends)."""
    event = {"id": "1", "type": "user.created", "occurred_at": "2026-01-01T00:00:00.000Z"}
    body = orjson.dumps({**event, "data": {"user": {"userName": "y" * 900}}})
    count, deadline = 0, time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        while time.monotonic() < deadline:
            async with http.post(url, data=body) as resp:
                await resp.read()
            count += 1
        return count / (time.perf_counter() - started)


async def _measure(base: str, token: str, db: Path, seconds: float) -> Measured:
    got = _Receiver()
    app = web.Application()
    app.router.add_post("/hook", got.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/hook"
    result = Measured()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    try:
        result.ceiling_per_s = await _ceiling(url, min(seconds, 5))
        got.arrivals.clear()
        add = [sys.executable, "-m", "scimlite", "webhook", "add", url, "--allow-private"]
        add += ["--types", "user.created", "--db", str(db)]
        await asyncio.to_thread(subprocess.run, add, check=True, capture_output=True)
        async with aiohttp.ClientSession(headers=headers) as http:

            async def create(name: str) -> float:
                sent = time.time()
                user = {"schemas": [USER_SCHEMA], "userName": name}
                async with http.post(f"{base}/scim/v2/Users", json=user) as resp:
                    assert resp.status == 201, await resp.text()
                return sent

            await create("hook-probe")  # arrives once the server has picked the endpoint up
            await got.until(1)
            deadline, n = time.monotonic() + seconds, 0
            while time.monotonic() < deadline:
                seen = len(got.arrivals)  # before: the webhook may beat the POST's answer
                sent = await create(f"hook-latency-{n}")
                await got.until(seen + 1)
                arrived, _, occurred = got.arrivals[-1]
                result.commit_to_webhook_ms.append((arrived - _seconds(occurred)) * 1000)
                result.post_to_webhook_ms.append((arrived - sent) * 1000)
                n += 1
            before = len(got.arrivals)
            for first in range(0, BURST, 1000):
                ops = [
                    {
                        "method": "POST",
                        "path": "/Users",
                        "bulkId": f"b{i}",
                        "data": {"schemas": [USER_SCHEMA], "userName": f"hook-burst-{i}"},
                    }
                    for i in range(first, first + 1000)
                ]
                body = {"schemas": [BULK_SCHEMA], "Operations": ops}
                async with http.post(f"{base}/scim/v2/Bulk", json=body) as resp:
                    assert resp.status == 200, await resp.text()
            await got.until(before + BURST, seconds=600)
            span = got.arrivals[before + BURST - 1][0] - got.arrivals[before][0]
            result.deliveries_per_s = (BURST - 1) / span if span > 0 else float("nan")
    finally:
        await runner.cleanup()
    return result


def measure(base: str, token: str, db: Path, seconds: float) -> Measured:
    return asyncio.run(_measure(base, token, db, seconds))


def report(m: Measured) -> list[str]:
    commit, post = m.commit_to_webhook_ms, m.post_to_webhook_ms
    return [
        "| webhooks, 1 endpoint | p50 ms | p99 ms | samples |",
        "| --- | ---: | ---: | ---: |",
        f"| commit → webhook arrived | {statistics.median(commit):.1f} "
        f"| {_percentile(commit, 0.99):.1f} | {len(commit)} |",
        f"| POST sent → webhook arrived | {statistics.median(post):.1f} "
        f"| {_percentile(post, 0.99):.1f} | {len(post)} |",
        "",
        f"- delivery throughput, a backlog of {BURST:,} events: {m.deliveries_per_s:,.0f} "
        f"deliveries/s; ceiling (one aiohttp client, one POST at a time, same receiver): "
        f"{m.ceiling_per_s:,.0f}/s; ratio {m.deliveries_per_s / m.ceiling_per_s:.2f}",
    ]
