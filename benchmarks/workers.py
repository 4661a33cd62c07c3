"""`scimlite serve --workers N` on one SQLite file: does a second worker use a second core?

    python -m benchmarks.run --scenario workers --users 10000 --duration 5 --runs 3

Workers and wrk share both cores of this machine (`taskset -c 0,1`), so a second worker
competes with the load generator: the 2-worker figure is a floor for what a machine with a
spare core gets. Writes are group-committed in each worker and serialise on SQLite's write
lock between them. Each run starts from a fresh copy of the seeded file; medians of --runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from benchmarks import run as bench

SCENARIOS = ("get_user", "filter_username", "filter_email", "post_user", "patch_member")
WORKERS = (1, 2)
CORES = "0,1"


def workers(seeded: Path, args: argparse.Namespace) -> list[str]:
    results: dict[tuple[int, str], bench.Result] = {}
    for _ in range(args.runs):
        for n in WORKERS:
            flags = f"--workers {n} {args.serve_flags}"
            with bench.serving_copy(seeded, args, flags, CORES) as (server, _):
                for scenario in SCENARIOS:
                    measured = bench.wrk(
                        server.base,
                        scenario,
                        args.users,
                        server.token,
                        args.duration,
                        args.connections,
                        cores=CORES,
                    )
                    results.setdefault((n, scenario), bench.Result()).add(*measured)
    lines = [
        f"`python -m benchmarks.run {' '.join(sys.argv[1:])}` — {args.users:,} users, "
        f"medians of {args.runs} runs, {args.duration} s a scenario, {args.connections} "
        "clients; workers and wrk on both cores",
        "",
        "| scenario | 1 worker req/s | p50 ms | p99 ms | 2 workers req/s | p50 ms | p99 ms "
        "| 2 / 1 | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in SCENARIOS:
        one, two = results[(1, scenario)], results[(2, scenario)]
        ratio = statistics.median(two.rps) / statistics.median(one.rps)
        lines.append(
            f"| {scenario} | {one.row()} | {two.row()} | {ratio:.2f} | {one.errors + two.errors} |"
        )
    return lines
