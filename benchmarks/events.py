"""The cost of events for applications (issue #18): reading the feed, and writing them.

    python -m benchmarks.run --scenario events --users 10000 [--feed 20000] [--baseline REV]

- Feed read throughput: GET /api/v1/events pages of 100 and of 1,000 events from random
  positions of a feed of `--feed` events (written by POST /Bulk creates first), 16 clients.
- The write path with events: POST /Users and PATCH-member (one member added or removed on
  the big team), each write also inserting its events with snapshots, beside the ceiling app
  measured in the same run. There is no switch to turn events off in production, so
  "without" is another commit: `--baseline REV` (e.g. `0b35407^1`, main just before the
  events merge) runs the same two scenarios on that commit's code (git archive into a
  temporary directory, seeded by that commit's own seed.py) and reports the ratio.

SQLite only: on PostgreSQL a position is `txid.id`, which wrk cannot pick at random.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

WRITES = ("post_user", "patch_member")
PAGES = (100, 1000)
Measured = tuple[float, float, float, int]  # req/s, p50 ms, p99 ms, non-2xx


def _serve(db: Path, port: int, *python: str) -> list[str]:
    serve = ["serve", "--db", str(db), "--port", str(port)]
    return [sys.executable, *python, "-m", "scimlite", *serve]


def _with_events(seeded: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Measured]:
    """This checkout: the feed read at both page sizes, then the two writes."""
    from benchmarks import run as bench  # run.py imports this module

    db = tmp / "events.db"
    shutil.copy(seeded, db)
    token = bench.make_token(db)
    port = bench._free_port()
    base = f"http://127.0.0.1:{port}"
    measured: dict[str, Measured] = {}
    with bench.process(_serve(db, port), f"{base}/healthz"):
        asyncio.run(bench.bulk_creates(base, token, max(1, args.feed // 1000)))
        os.environ["BENCH_EVENTS"] = str(max(1, args.feed // 1000) * 1000)  # for wrk.lua
        for limit in PAGES:
            name = f"events_{limit}"
            measured[name] = bench.wrk(
                base, name, args.users, token, args.duration, args.connections
            )
        for scenario in WRITES:
            measured[scenario] = bench.wrk(
                base, scenario, args.users, token, args.duration, args.connections
            )
    ceiling_db = tmp / "ceiling.db"
    shutil.copy(seeded, ceiling_db)
    port = bench._free_port()
    base = f"http://127.0.0.1:{port}"
    ceiling = [sys.executable, "-m", "benchmarks.ceiling", str(ceiling_db), str(port)]
    with bench.process(ceiling, f"{base}/json"):
        for scenario in ("ceiling_get", "ceiling_insert"):
            measured[scenario] = bench.wrk(
                base, scenario, args.users, "", args.duration, args.connections
            )
    return measured


def _baseline(rev: str, args: argparse.Namespace, tmp: Path) -> dict[str, Measured]:
    """The two writes on commit `rev`'s code and its own seeded file (an older schema)."""
    from benchmarks import run as bench

    code = tmp / "baseline"
    code.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "scimlite", "benchmarks", "templates", "static"],
        capture_output=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(code, filter="data")
    env = {**os.environ, "PYTHONPATH": str(code)}
    db = tmp / "baseline.db"
    seed = [sys.executable, "-m", "benchmarks.seed", str(db), "--users", str(args.users)]
    subprocess.run([*seed, "--teams", str(args.teams)], env=env, check=True, cwd=code)
    create = ["token", "create", "bench", "--scope", "admin", "--db", str(db)]
    token = (
        subprocess.run(
            [sys.executable, "-m", "scimlite", *create],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=code,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = bench._free_port()
    base = f"http://127.0.0.1:{port}"
    # -P: `python -m` would put the working directory (this checkout) first on sys.path.
    with bench.process(_serve(db, port, "-P"), f"{base}/healthz", env=env):
        return {
            s: bench.wrk(base, s, args.users, token, args.duration, args.connections)
            for s in WRITES
        }


def measure(seeded: Path, args: argparse.Namespace) -> list[str]:
    """Run the scenario once; the report's lines (Markdown)."""
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        tmp = Path(work)
        now = _with_events(seeded, args, tmp)
        before = _baseline(args.baseline, args, tmp) if args.baseline else {}
    lines = [
        f"`python -m benchmarks.run {' '.join(sys.argv[1:])}` — {args.users:,} users, "
        f"{args.teams:,} teams, a feed of {max(1, args.feed // 1000) * 1000:,} events, "
        f"{args.duration} s a scenario, {args.connections} clients",
        "",
        "| feed read | req/s | events/s | p50 ms | p99 ms | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for limit in PAGES:
        rps, p50, p99, bad = now[f"events_{limit}"]
        lines.append(
            f"| GET /api/v1/events?limit={limit} | {rps:,.0f} | {rps * limit:,.0f} "
            f"| {p50:.2f} | {p99:.2f} | {bad} |"
        )
    ceiling = now["ceiling_insert"][0]
    lines += [
        "",
        f"ceiling_get (a point read, same run): {now['ceiling_get'][0]:,.0f} req/s",
        "",
        "| write, with events | req/s | p50 ms | p99 ms | ceiling_insert req/s | ratio "
        "| without (baseline) req/s | with / without | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in WRITES:
        rps, p50, p99, bad = now[scenario]
        old = before.get(scenario)
        versus = f"{old[0]:,.0f} | {rps / old[0]:.2f}" if old else "– | –"
        lines.append(
            f"| {scenario} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {ceiling:,.0f} "
            f"| {rps / ceiling:.2f} | {versus} | {bad} |"
        )
    if args.baseline:
        lines += ["", f"- baseline: `{args.baseline}` (its own code and seeded file)"]
    return lines
