"""Cheap requests under load (issue #12): do lookups and small PATCHes keep their latency?

    python -m benchmarks.run --scenario contention --users 20000 --duration 20

One client sends, one at a time, the requests an IdP sends on every sync — a `userName eq`
lookup and a one-field PATCH — first alone ("idle"), then while other clients run
expensive filters (`emails[type co "q0"] or …`, 1,986 characters, no index can answer
it) and large PATCHes (a user's emails replaced by 500 values) without pause. The
quality bar: the probe's p99 under load within 2× of its p99 idle. The load runs in
a separate process so its responses do not delay the probe's own event loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from benchmarks.seed import bench_id

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
FILTER_LENGTH = 1_986  # the filter


def expensive_filter() -> str:
    """A legal filter that reads every user's emails once per clause."""
    clauses: list[str] = []
    while len(" or ".join(clauses)) < FILTER_LENGTH - 24:
        clauses.append(f'emails[type co "q{len(clauses)}"]')
    return " or ".join(clauses)


def _patch(op: str, path: str, value: Any) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": [{"op": op, "path": path, "value": value}]}


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


@dataclass
class Probe:
    """Latencies in ms of the probe's two requests, and any status that was not 200."""

    get: list[float] = field(default_factory=list)
    patch: list[float] = field(default_factory=list)
    failures: Counter[int] = field(default_factory=Counter)


async def probe(base: str, token: str, users: int, seconds: float) -> Probe:
    """One request at a time for `seconds`: a userName lookup, then a one-field PATCH."""
    result, rng, n = Probe(), random.Random(1), 0
    async with aiohttp.ClientSession(headers=_headers(token)) as http:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            i, n = rng.randrange(users // 2), n + 1  # the load touches the upper half only
            started = time.perf_counter()
            params = {"filter": f'userName eq "user{i}@example.com"'}
            async with http.get(f"{base}/scim/v2/Users", params=params) as resp:
                await resp.read()
                status = resp.status
            result.get.append((time.perf_counter() - started) * 1000)
            if status != 200:
                result.failures[status] += 1
            started = time.perf_counter()
            body = _patch("replace", "title", f"Title {n}")
            async with http.patch(f"{base}/scim/v2/Users/{bench_id(i)}", json=body) as resp:
                await resp.read()
                status = resp.status
            result.patch.append((time.perf_counter() - started) * 1000)
            if status != 200:
                result.failures[status] += 1
    return result


async def _load(
    base: str, token: str, users: int, filters: int, patches: int, until: float
) -> Counter[str]:
    """Expensive filters and 500-email PATCHes, back to back, until `until` (wall clock)."""
    seen: Counter[str] = Counter()
    query = {"filter": expensive_filter()}

    async def filtering() -> None:
        while time.time() < until:
            async with http.get(f"{base}/scim/v2/Users", params=query) as resp:
                await resp.read()
                seen[f"filter {resp.status}"] += 1

    async def patching(k: int) -> None:
        user, n = bench_id(users - 1 - k), 0
        while time.time() < until:
            n += 1
            emails = [{"value": f"e{n}-{j}@load.example.com", "type": "work"} for j in range(500)]
            body = _patch("replace", "emails", emails)
            async with http.patch(f"{base}/scim/v2/Users/{user}", json=body) as resp:
                await resp.read()
                seen[f"patch {resp.status}"] += 1

    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(headers=_headers(token), timeout=timeout) as http:
        await asyncio.gather(
            *(filtering() for _ in range(filters)), *(patching(k) for k in range(patches))
        )
    return seen


def _load_process(
    base: str, token: str, users: int, filters: int, patches: int, until: float, out: Any
) -> None:
    out.put(dict(asyncio.run(_load(base, token, users, filters, patches, until))))


# (label, clients sending the expensive filter, clients sending 500-email PATCHes)
PHASES = (
    ("idle", 0, 0),
    ("expensive filters", 4, 0),
    ("expensive filters + large PATCHes", 4, 2),
)


@dataclass
class Phase:
    label: str
    filters: int
    patches: int
    probe: Probe
    load: dict[str, int]


def measure(base: str, token: str, users: int, seconds: float) -> list[Phase]:
    """The probe alone, then under each load; the load's own statuses are counted too."""
    asyncio.run(probe(base, token, users, 1.0))  # warm-up: connections, caches
    phases = []
    ctx = multiprocessing.get_context("fork")
    for label, filters, patches in PHASES:
        ramp = 2.0 if filters or patches else 0.0  # every load client has a request out
        out = ctx.Queue()
        until = time.time() + ramp + seconds
        args = (base, token, users, filters, patches, until, out)
        load = ctx.Process(target=_load_process, args=args)
        load.start()
        time.sleep(ramp)
        measured = asyncio.run(probe(base, token, users, seconds))
        counts: dict[str, int] = out.get()
        load.join()
        phases.append(Phase(label, filters, patches, measured, counts))
    return phases


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else float("nan")


def report(phases: list[Phase]) -> list[str]:
    idle = phases[0].probe
    lines = [
        "| probe (1 client) | while | requests | p50 ms | p99 ms | p99 / idle p99 | target ≤ 2 |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, label in (("get", "GET userName eq"), ("patch", "PATCH one field")):
        for phase in phases:
            values = getattr(phase.probe, name)
            ratio = _p(values, 99) / _p(getattr(idle, name), 99)
            verdict = "–" if phase is phases[0] else "met" if ratio <= 2 else "missed"
            lines.append(
                f"| {label} | {phase.label} | {len(values)} | {_p(values, 50):.2f} | "
                f"{_p(values, 99):.2f} | {ratio:.2f} | {verdict} |"
            )
    lines.append("")
    for phase in phases[1:]:
        load = ", ".join(f"{k}: {v}" for k, v in sorted(phase.load.items()))
        lines.append(
            f"- {phase.label}: {phase.filters} clients sending the filter, {phase.patches} "
            f"sending 500-email PATCHes, back to back; their responses: {load}"
        )
    failures = sum((p.probe.failures for p in phases), Counter[int]())
    lines.append(f"- probe responses other than 200: {dict(failures) or 'none'}")
    return lines
