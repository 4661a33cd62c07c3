"""The standard scenarios on PostgreSQL with 1, 2 and 4 scimlite processes, beside SQLite.

    python -m benchmarks.run --scenario scale-out --users 10000 --duration 5

Every server — scimlite's processes and PostgreSQL's — runs on the server core (`taskset`),
wrk on the client core, so the figures compare what each setup costs on one core at equal
durability: PostgreSQL with fsync and synchronous commit on, SQLite with
`synchronous=FULL`. With N processes, N wrk instances share the clients, one per process,
and their rates are summed. This machine has 2 cores; docs/scale-out.md reasons about
more cores and machines from these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.support.postgres import fresh_database, throwaway_server

# Reads and writes; each measured for every setup.
SCENARIOS = ("get_user", "filter_username", "filter_email", "post_user", "patch_member")
PROCESSES = (1, 2, 4)


@contextmanager
def servers(url: str | None, db: Path | None, n: int) -> Iterator[list[str]]:
    """`n` scimlite processes on one database; their base URLs."""
    from benchmarks import run as bench  # run.py imports this module

    bases = []
    with ExitStack() as stack:
        for _ in range(n):
            port = bench._free_port()
            base = f"http://127.0.0.1:{port}"
            argv = [sys.executable, "-m", "scimlite", "serve", "--port", str(port)]
            argv += ["--database-url", url] if url else ["--db", str(db)]
            stack.enter_context(bench.process(argv, f"{base}/healthz"))
            bases.append(base)
        yield bases


def measure(
    bases: list[str], scenario: str, args: argparse.Namespace, token: str
) -> tuple[float, float, float, int]:
    """(req/s summed, p50 ms of the first, worst p99 ms, non-2xx) with the clients spread."""
    from benchmarks import run as bench

    share = max(1, args.connections // len(bases))
    with ThreadPoolExecutor(len(bases)) as pool:
        runs = list(
            pool.map(
                lambda base: bench.wrk(base, scenario, args.users, token, args.duration, share),
                bases,
            )
        )
    return (
        sum(r[0] for r in runs),
        runs[0][1],
        max(r[2] for r in runs),
        sum(r[3] for r in runs),
    )


def scale_out(seeded: Path, args: argparse.Namespace) -> list[str]:
    """Every setup measured in this one run, as a Markdown table."""
    from benchmarks import run as bench

    rows: dict[str, dict[str, tuple[float, float, float, int]]] = {}
    sync: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        db = Path(tmp) / "bench.db"
        shutil.copy(seeded, db)
        token = bench.make_token(db)
        with servers(None, db, 1) as bases:
            rows["SQLite, 1 process"] = {s: measure(bases, s, args, token) for s in SCENARIOS}
        pin = ["taskset", "-c", bench.SERVER_CORE]
        with throwaway_server(durable=True, prefix=pin) as server:
            with fresh_database(server, empty=True) as url:
                copy = [sys.executable, "-m", "scimlite", "copy", "--from", str(seeded)]
                subprocess.run([*copy, "--to", url], check=True, capture_output=True)
                token = _pg_token(url)
                for n in PROCESSES:
                    with servers(url, None, n) as bases:
                        label = f"PostgreSQL, {n} process{'es' if n > 1 else ''}"
                        rows[label] = {s: measure(bases, s, args, token) for s in SCENARIOS}
            if args.initial_sync:
                with fresh_database(server, empty=True) as url:
                    token = _pg_token(url, create_schema=True)
                    with servers(url, None, 1) as bases:
                        sync = asyncio.run(
                            bench.initial_sync(bases[0], token, args.initial_sync, 1000)
                        )
    return _report(rows, sync, args)


def _pg_token(url: str, *, create_schema: bool = False) -> str:
    if create_schema:
        migrate = [sys.executable, "-m", "scimlite", "migrate", "--database-url", url]
        subprocess.run(migrate, check=True, capture_output=True)
    command = [sys.executable, "-m", "scimlite", "token", "create", f"bench{time.time_ns()}"]
    command += ["--scope", "admin", "--database-url", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def _report(
    rows: dict[str, dict[str, tuple[float, float, float, int]]],
    sync: tuple[float, float] | None,
    args: argparse.Namespace,
) -> list[str]:
    lines = [
        f"`python -m benchmarks.run {' '.join(sys.argv[1:])}` — {args.users:,} users, "
        f"{args.teams:,} teams, {args.duration} s a scenario, {args.connections} clients; "
        "servers on one core, wrk on the other",
        "",
        "| req/s (p99 ms) | " + " | ".join(SCENARIOS) + " | non-2xx |",
        "| --- |" + " ---: |" * (len(SCENARIOS) + 1),
    ]
    for label, measured in rows.items():
        cells = [f"{measured[s][0]:,.0f} ({measured[s][2]:.1f})" for s in SCENARIOS]
        errors = sum(m[3] for m in measured.values())
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {errors} |")
    if sync is not None:
        lines += [
            "",
            f"- initial sync on PostgreSQL of {args.initial_sync:,} users and 1,000 teams "
            f"through /Bulk: {sync[0]:.1f} s; the same users by one POST each (16 clients): "
            f"{sync[1]:.1f} s",
        ]
    return lines
