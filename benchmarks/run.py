"""Measure scimlite against the ceiling of its own stack; print a Markdown report.

    python -m benchmarks.run --users 10000 --runs 3 --duration 5 [--initial-sync 100000]
    python -m benchmarks.run --scenario contention --users 20000 --duration 20
    python -m benchmarks.run --scenario scale-out --users 10000 [--initial-sync 100000]
    python -m benchmarks.run --scenario events --users 10000 [--feed 20000] [--baseline REV]
    python -m benchmarks.run --scenario webhooks --users 10000 --duration 10

The server under test runs as a real `scimlite serve` process pinned to core 0
(`taskset`); wrk and this harness run on core 1. Each run starts from a fresh copy of
the seeded file. Every scimlite figure is also given as a ratio to the ceiling app
(benchmarks/ceiling.py) measured just before it in the same run (see run_once): ratios
are what we track, because absolute numbers on a shared 2-core machine drift.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks import contention, events, peer, scaleout, webhooks, workers
from benchmarks.seed import seed

HERE = Path(__file__).parent
SERVER_CORE = "0"
CLIENT_CORE = 1
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

# Throughput, 16 clients: scenario → (ceiling it is compared with, target ratio or None).
SCENARIOS: dict[str, tuple[str, float | None]] = {
    "get_user": ("ceiling_get", 0.6),
    "filter_username": ("ceiling_get", 0.5),
    "filter_email": ("ceiling_get", None),
    "get_big_team": ("ceiling_get", None),
    "list_groups_big": ("ceiling_get", None),
    "list_deep": ("ceiling_get", None),
    "list_sorted": ("ceiling_get", None),
    "post_user": ("ceiling_insert", 0.5),
    "put_user": ("ceiling_insert", None),
    "patch_active": ("ceiling_insert", None),
    "patch_member": ("ceiling_insert", 0.5),
}
CEILING = ("ceiling_json", "ceiling_get", "ceiling_insert")
# Latency targets are for one client at a time: with 16 in flight, p99 is mostly queueing.
LATENCY = (
    "list_cursor",
    "list_deep",
    "list_sorted",
    "console_users",
    "console_search",
    "console_team",
    "console_dashboard",
)


@dataclass(frozen=True)
class Served:
    """A server under test: its base URL, an admin token, its process."""

    base: str
    token: str
    proc: subprocess.Popen[bytes]


@dataclass
class Result:
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: int = 0

    def add(self, rps: float, p50: float, p99: float, errors: int) -> None:
        self.rps.append(rps)
        self.p50.append(p50)
        self.p99.append(p99)
        self.errors += errors

    def row(self) -> str:
        return (
            f"{statistics.median(self.rps):,.0f} | {statistics.median(self.p50):.2f} | "
            f"{statistics.median(self.p99):.2f}"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def peak_rss_mb(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


@contextmanager
def process(
    args: list[str], health: str, cores: str = SERVER_CORE, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server pinned to `cores` (the server core), stopped with SIGTERM at the end."""
    proc = subprocess.Popen(
        ["taskset", "-c", cores, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        _wait_http(health, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_LAT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str,
    scenario: str,
    users: int,
    token: str,
    duration: int,
    connections: int,
    cookie: str = "",
    slice_of: tuple[int, int] = (0, 1),
    cores: str = str(CLIENT_CORE),
    extra_env: dict[str, str] | None = None,
) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx count) of one wrk run on the client core;
    `slice_of` = (k, n): the k-th of n wrk instances running at once (own names, own users)."""
    k, n = slice_of
    env = {
        **os.environ,
        "BENCH_SCENARIO": scenario,
        "BENCH_USERS": str(users),
        "BENCH_TOKEN": token,
        "BENCH_COOKIE": cookie,
        "BENCH_RUN": f"{time.time_ns()}-{k}",
        "BENCH_OFFSET": str(k * users // n),
        **(extra_env or {}),
    }
    command = [
        "taskset",
        "-c",
        cores,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(HERE / "wrk.lua"),
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"wrk printed no rate for {scenario}:\n{out}")
    lat = {p: float(v) * _UNIT[u] for p, v, u in _LAT.findall(out)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        float(rps.group(1)),
        lat.get("50", float("nan")),
        lat.get("99", float("nan")),
        int(bad.group(1)) if bad else 0,
    )


def make_token(db: Path) -> str:
    command = [
        sys.executable,
        "-m",
        "scimlite",
        "token",
        "create",
        "bench",
        "--scope",
        "admin",
        "--db",
        str(db),
        "--create",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


async def post_bulk(
    http: aiohttp.ClientSession, base: str, ops: list[dict[str, object]]
) -> list[dict[str, str]]:
    body = {"schemas": [BULK_SCHEMA], "Operations": ops}
    async with http.post(f"{base}/scim/v2/Bulk", json=body) as resp:
        assert resp.status == 200, await resp.text()
        result: list[dict[str, str]] = (await resp.json(content_type=None))["Operations"]
    assert all(op["status"].startswith("2") for op in result), result[:3]
    return result


def _user_op(i: int, tag: str) -> dict[str, object]:
    name = f"{tag}{i}@example.com"
    data = {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "emails": [{"value": name, "type": "work", "primary": True}],
    }
    return {"method": "POST", "path": "/Users", "bulkId": f"{tag}{i}", "data": data}


async def bulk_creates(base: str, token: str, batches: int) -> tuple[float, float]:
    """(operations/s, seconds a request) for POST /Bulk of 1,000 creates."""
    tag = f"bulk{int(time.time())}-"
    async with aiohttp.ClientSession(headers=_headers(token)) as http:
        started = time.perf_counter()
        for b in range(batches):
            await post_bulk(http, base, [_user_op(b * 1000 + i, tag) for i in range(1000)])
        elapsed = time.perf_counter() - started
    return batches * 1000 / elapsed, elapsed / batches


async def console_cookie(base: str, token: str) -> str:
    """Sign in to the console as a browser does; returns the session's Cookie header."""
    # unsafe=True: the default jar refuses cookies from an IP address such as 127.0.0.1.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/signin") as resp:
            page = await resp.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None, "no CSRF field on the sign-in page"
        form = {"csrf": csrf.group(1), "next": "/", "token": token}
        async with http.post(f"{base}/signin", data=form, allow_redirects=False) as resp:
            assert resp.status in (302, 303), resp.status
            session = resp.cookies["scimlite_session"].value
    return f"scimlite_session={session}"


async def initial_sync(base: str, token: str, users: int, teams: int) -> tuple[float, float]:
    """Seconds for an IdP's first sync of `users` users and `teams` teams: (through /Bulk,
    1,000 operations a request, then one POST a team; through one POST a user, 16 at a time)."""
    async with aiohttp.ClientSession(headers=_headers(token)) as http:
        started = time.perf_counter()
        ids: list[str] = []
        for first in range(0, users, 1000):
            ops = [_user_op(i, "sync") for i in range(first, min(users, first + 1000))]
            ids += [op["location"].rsplit("/", 1)[1] for op in await post_bulk(http, base, ops)]
        for t in range(teams):
            group = {
                "schemas": [GROUP_SCHEMA],
                "displayName": f"Sync team {t}",
                "members": [{"value": ids[i]} for i in range(t, len(ids), teams)],
            }
            async with http.post(f"{base}/scim/v2/Groups", json=group) as resp:
                assert resp.status == 201, await resp.text()
        bulk_seconds = time.perf_counter() - started

        started = time.perf_counter()
        todo = iter(range(users))

        async def client() -> None:
            for i in todo:
                user = {"schemas": [USER_SCHEMA], "userName": f"post{i}@example.com"}
                async with http.post(f"{base}/scim/v2/Users", json=user) as resp:
                    assert resp.status == 201, await resp.text()

        await asyncio.gather(*(client() for _ in range(16)))
        post_seconds = time.perf_counter() - started
    return bulk_seconds, post_seconds


def _serve_args(db: Path, port: int, flags: str = "") -> list[str]:
    serve = [sys.executable, "-m", "scimlite", "serve", "--db", str(db), "--port", str(port)]
    return serve + flags.split()


def _chosen(names: Iterable[str], args: argparse.Namespace) -> list[str]:
    """The scenarios of `names` that --only asks for (all without it); a ceiling is run
    when a chosen scenario is compared with it."""
    if not args.only:
        return list(names)
    wanted = set(args.only.split(","))
    wanted |= {SCENARIOS[name][0] for name in wanted if name in SCENARIOS}
    return [name for name in names if name in wanted]


def run_once(
    seeded: Path,
    args: argparse.Namespace,
    results: dict[str, Result],
    extras: dict[str, list[float]],
) -> None:
    """One run: scimlite and the ceiling app serve side by side (both on the server core,
    the idle one costs nothing), and each throughput scenario is measured right after its
    ceiling, so a ratio compares two figures seconds apart. On a shared VM whose speed
    drifts by ±15 % within minutes, a ceiling measured once at the end of the run made the
    first scenarios' ratios swing with the drift."""
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        db = Path(tmp) / "bench.db"
        shutil.copy(seeded, db)
        ceiling_db = Path(tmp) / "ceiling.db"
        shutil.copy(seeded, ceiling_db)
        token = make_token(db)
        port, ceiling_port = _free_port(), _free_port()
        base, ceiling_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ceiling_port}"
        ceiling = [sys.executable, "-m", "benchmarks.ceiling", str(ceiling_db), str(ceiling_port)]
        with (
            process(ceiling, f"{ceiling_base}/json"),
            process(_serve_args(db, port, args.serve_flags), f"{base}/healthz") as proc,
        ):
            paired: set[str] = set()
            for scenario in _chosen(SCENARIOS, args):
                against = SCENARIOS[scenario][0]
                bound = wrk(ceiling_base, against, args.users, "", args.duration, args.connections)
                results.setdefault(against, Result()).add(*bound)
                results.setdefault(f"{scenario}@{against}", Result()).add(*bound)
                paired.add(against)
                measured = wrk(base, scenario, args.users, token, args.duration, args.connections)
                results.setdefault(scenario, Result()).add(*measured)
            cookie = asyncio.run(console_cookie(base, token))
            for scenario in _chosen(LATENCY, args):
                measured = wrk(base, scenario, args.users, token, args.duration, 1, cookie)
                results.setdefault(f"{scenario}/1", Result()).add(*measured)
            ops, per_request = asyncio.run(bulk_creates(base, token, 3))
            extras.setdefault("bulk_ops_per_s", []).append(ops)
            extras.setdefault("bulk_s_per_1000", []).append(per_request)
            extras.setdefault("peak_rss_mb", []).append(peak_rss_mb(proc.pid))
            for scenario in _chosen(CEILING, args):
                if scenario not in paired:  # the bare-aiohttp floor, for reference
                    measured = wrk(
                        ceiling_base, scenario, args.users, "", args.duration, args.connections
                    )
                    results.setdefault(scenario, Result()).add(*measured)
        extras.setdefault("db_mb", []).append(
            sum(f.stat().st_size for f in Path(tmp).glob("bench.db*")) / 2**20
        )


def sync_once(args: argparse.Namespace, extras: dict[str, list[float]]) -> None:
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        db = Path(tmp) / "sync.db"
        token = make_token(db)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with process(_serve_args(db, port), f"{base}/healthz") as proc:
            bulk_s, post_s = asyncio.run(initial_sync(base, token, args.initial_sync, 1000))
            extras.setdefault("sync_rss_mb", []).append(peak_rss_mb(proc.pid))
        extras.setdefault("sync_bulk_s", []).append(bulk_s)
        extras.setdefault("sync_post_s", []).append(post_s)


@contextmanager
def serving_copy(
    seeded: Path, args: argparse.Namespace, flags: str = "", cores: str = SERVER_CORE
) -> Iterator[tuple[Served, Path]]:
    """`scimlite serve` on a fresh copy of the seeded file with an admin token: the server
    as clients reach it, and the copy (gone when the server stops)."""
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        db = Path(tmp) / "bench.db"
        shutil.copy(seeded, db)
        token = make_token(db)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with process(_serve_args(db, port, flags), f"{base}/healthz", cores) as proc:
            yield Served(base, token, proc), db


def contention_once(seeded: Path, args: argparse.Namespace) -> list[str]:
    """The contention scenario (benchmarks/contention.py) against one server."""
    with serving_copy(seeded, args) as (server, _):
        result = contention.measure(server.base, server.token, args.users, args.duration)
        rss = peak_rss_mb(server.proc.pid)
    return [
        f"`python -m benchmarks.run {' '.join(sys.argv[1:])}` — {args.users:,} users, "
        f"{args.teams:,} teams, {args.duration} s a phase",
        "",
        *contention.report(result),
        f"- server peak RSS: {rss:.0f} MB",
    ]


def webhooks_once(seeded: Path, args: argparse.Namespace) -> list[str]:
    """The webhooks scenario (benchmarks/webhooks.py) against one server."""
    os.environ["SCIMLITE_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver is on 127.0.0.1
    with serving_copy(seeded, args) as (server, db):
        result = webhooks.measure(server.base, server.token, db, args.duration)
    return [
        f"`python -m benchmarks.run {' '.join(sys.argv[1:])}` — {args.users:,} users, "
        f"{args.duration} s of latency samples",
        "",
        *webhooks.report(result),
    ]


def report(
    results: dict[str, Result],
    extras: dict[str, list[float]],
    args: argparse.Namespace,
    seed_seconds: float,
) -> str:
    med = {name: statistics.median(values) for name, values in extras.items()}
    lines = [
        f"`python -m benchmarks.run {' '.join(sys.argv[1:])}` — {args.users:,} users, "
        f"{args.teams:,} teams (seeded in {seed_seconds:.1f} s), medians of {args.runs} runs, "
        f"{args.duration} s a scenario",
        "",
        "| 16 clients | req/s | p50 ms | p99 ms | ceiling req/s | ratio | target | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for scenario, (ceiling, target) in SCENARIOS.items():
        if scenario not in results:
            continue
        r, c = results[scenario], results[f"{scenario}@{ceiling}"]
        # Each run's ratio to the ceiling measured just before it; the median of those.
        ratio = statistics.median(x / y for x, y in zip(r.rps, c.rps, strict=True))
        verdict = "–" if target is None else f"≥ {target}: {'met' if ratio >= target else 'missed'}"
        lines.append(
            f"| {scenario} | {r.row()} | {statistics.median(c.rps):,.0f} ({ceiling}) "
            f"| {ratio:.2f} | {verdict} | {r.errors} |"
        )
    lines += [
        "",
        "| 1 client | req/s | p50 ms | p99 ms | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for scenario in _chosen(LATENCY, args):
        r = results[f"{scenario}/1"]
        lines.append(f"| {scenario} | {r.row()} | {r.errors} |")
    lines += [
        "",
        "| ceiling, 16 clients | req/s | p50 ms | p99 ms | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for scenario in _chosen(CEILING, args):
        lines.append(f"| {scenario} | {results[scenario].row()} | {results[scenario].errors} |")
    lines += [
        "",
        f"- POST /Bulk, 1,000 creates a request: {med['bulk_ops_per_s']:,.0f} operations/s "
        f"({med['bulk_s_per_1000']:.2f} s a request)",
        f"- server peak RSS: {med['peak_rss_mb']:.0f} MB",
        f"- database on disk after a run: {med['db_mb']:.0f} MB",
    ]
    if "sync_bulk_s" in med:
        lines += [
            f"- initial sync of {args.initial_sync:,} users and 1,000 teams through /Bulk: "
            f"{med['sync_bulk_s']:.1f} s; the same users by one POST each (16 clients): "
            f"{med['sync_post_s']:.1f} s; server peak RSS {med['sync_rss_mb']:.0f} MB",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="scimlite benchmarks against the ceiling")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--initial-sync",
        type=int,
        default=0,
        metavar="USERS",
        help="also time an IdP's first sync of this many users (once)",
    )
    parser.add_argument(
        "--only", default="", metavar="A,B", help="run only these scenarios (and their ceilings)"
    )
    parser.add_argument(
        "--serve-flags", default="", metavar="FLAGS", help="extra flags for `scimlite serve`"
    )
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--scenario",
        choices=(
            "throughput",
            "contention",
            "scale-out",
            "events",
            "peer",
            "workers",
            "webhooks",
        ),
        default="throughput",
        help="contention: latency of cheap requests while expensive ones run; scale-out: "
        "PostgreSQL with 1, 2 and 4 processes beside SQLite (benchmarks/scaleout.py); "
        "events: the events feed's read throughput and the write path's cost of events "
        "(benchmarks/events.py); peer: scimlite beside scim2-server (benchmarks/peer.py); "
        "workers: serve --workers 1 and 2 on both cores (benchmarks/workers.py); "
        "webhooks: delivery throughput and commit-to-webhook latency (benchmarks/webhooks.py)",
    )
    parser.add_argument(
        "--feed", type=int, default=20_000, help="events: how many events the feed holds"
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="events: also run the writes on this commit (e.g. 0b35407^1, before events)",
    )
    args = parser.parse_args()
    if args.scenario not in ("contention", "webhooks") and shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    os.sched_setaffinity(0, {CLIENT_CORE})
    seeded = args.work_dir / f"scimlite-bench-{args.users}.db"
    started = time.monotonic()
    seed(seeded, args.users, args.teams)
    seed_seconds = time.monotonic() - started
    if args.scenario == "contention":
        print("\n".join(contention_once(seeded, args)))
        return
    if args.scenario == "scale-out":
        print("\n".join(scaleout.scale_out(seeded, args)))
        return
    if args.scenario == "events":
        print("\n".join(events.measure(seeded, args)))
        return
    if args.scenario == "peer":
        print("\n".join(peer.peer(args)))
        return
    if args.scenario == "workers":
        print("\n".join(workers.workers(seeded, args)))
        return
    if args.scenario == "webhooks":
        print("\n".join(webhooks_once(seeded, args)))
        return
    results: dict[str, Result] = {}
    extras: dict[str, list[float]] = {}
    for _ in range(args.runs):
        run_once(seeded, args, results, extras)
    if args.initial_sync:
        sync_once(args, extras)
    print(report(results, extras, args, seed_seconds))


if __name__ == "__main__":
    main()
