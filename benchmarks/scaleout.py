"""The standard scenarios on PostgreSQL with 1, 2 and 4 scimlite processes, beside SQLite.

    python -m benchmarks.run --scenario scale-out --users 10000 --duration 5

Two layouts, at equal durability (PostgreSQL with fsync and synchronous commit on, SQLite
with `synchronous=FULL`):
- one server core: scimlite's processes and PostgreSQL's on core 0 (`taskset`), wrk on
  core 1 — what each setup costs per core;
- every core: servers and wrk on both cores — whether a second process uses a second core.
With N processes, N wrk instances share the clients, one per process, and their rates are
summed. This machine has 2 cores; docs/scale-out.md reasons about more from these figures.
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

import psycopg

from tests.support.postgres import fresh_database, throwaway_server

# Reads and writes; each measured for every setup.
SCENARIOS = ("get_user", "filter_username", "filter_email", "post_user", "patch_member")
Measured = tuple[float, float, float, int]  # req/s, p50 ms, p99 ms, non-2xx
PROCESSES = (1, 2, 4)


@contextmanager
def servers(url: str | None, db: Path | None, n: int, cores: str) -> Iterator[list[str]]:
    """`n` scimlite processes on one database, on `cores`; their base URLs."""
    from benchmarks import run as bench  # run.py imports this module

    bases = []
    with ExitStack() as stack:
        for _ in range(n):
            port = bench._free_port()
            base = f"http://127.0.0.1:{port}"
            argv = [sys.executable, "-m", "scimlite", "serve", "--port", str(port)]
            argv += ["--database-url", url] if url else ["--db", str(db)]
            stack.enter_context(bench.process(argv, f"{base}/healthz", cores))
            bases.append(base)
        yield bases


def measure(
    bases: list[str], scenario: str, args: argparse.Namespace, token: str, cores: str
) -> tuple[float, float, float, int]:
    """(req/s summed, p50 ms of the first, worst p99 ms, non-2xx) with the clients spread."""
    from benchmarks import run as bench

    n = len(bases)
    share = max(1, args.connections // n)

    def one(k: int) -> tuple[float, float, float, int]:
        return bench.wrk(
            bases[k],
            scenario,
            args.users,
            token,
            args.duration,
            share,
            slice_of=(k, n),
            cores=cores,
        )

    with ThreadPoolExecutor(n) as pool:
        runs = list(pool.map(one, range(n)))
    return (
        sum(r[0] for r in runs),
        runs[0][1],
        max(r[2] for r in runs),
        sum(r[3] for r in runs),
    )


def scale_out(seeded: Path, args: argparse.Namespace) -> list[str]:
    """Every setup measured in this one run, as Markdown tables."""
    from benchmarks import run as bench

    layouts = {  # name → (server cores, wrk cores)
        "servers on one core, wrk on the other": (bench.SERVER_CORE, str(bench.CLIENT_CORE)),
        "servers and wrk on both cores": ("0,1", "0,1"),
    }
    tables: dict[str, dict[str, dict[str, Measured]]] = {}
    sync: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        db = Path(tmp) / "bench.db"
        shutil.copy(seeded, db)
        sqlite_token = bench.make_token(db)
        with throwaway_server(durable=True) as server:
            with fresh_database(server, empty=True) as url:
                copy = [sys.executable, "-m", "scimlite", "copy", "--from", str(seeded)]
                subprocess.run([*copy, "--to", url], check=True, capture_output=True)
                token = _pg_token(url)
                for layout, (cores, client) in layouts.items():
                    _pin_postgres(url, cores)
                    rows = tables[layout] = {}
                    with servers(None, db, 1, cores) as bases:
                        rows["SQLite, 1 process"] = {
                            s: measure(bases, s, args, sqlite_token, client) for s in SCENARIOS
                        }
                    for n in PROCESSES:
                        with servers(url, None, n, cores) as bases:
                            label = f"PostgreSQL, {n} process{'es' if n > 1 else ''}"
                            rows[label] = {
                                s: measure(bases, s, args, token, client) for s in SCENARIOS
                            }
            if args.initial_sync:
                with fresh_database(server, empty=True) as url:
                    token = _pg_token(url, create_schema=True)
                    with servers(url, None, 1, "0,1") as bases:
                        sync = asyncio.run(
                            bench.initial_sync(bases[0], token, args.initial_sync, 1000)
                        )
    return _report(tables, sync, args)


def _pin_postgres(url: str, cores: str) -> None:
    """Run PostgreSQL's server on `cores`: the postmaster and every backend it starts
    from now on (the scimlite processes of a layout connect after this)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    pid = (Path(row[0]) / "postmaster.pid").read_text().split()[0]
    subprocess.run(["taskset", "-a", "-p", "-c", cores, pid], check=True, capture_output=True)


def _pg_token(url: str, *, create_schema: bool = False) -> str:
    if create_schema:
        migrate = [sys.executable, "-m", "scimlite", "migrate", "--database-url", url]
        subprocess.run(migrate, check=True, capture_output=True)
    command = [sys.executable, "-m", "scimlite", "token", "create", f"bench{time.time_ns()}"]
    command += ["--scope", "admin", "--database-url", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def _report(
    tables: dict[str, dict[str, dict[str, Measured]]],
    sync: tuple[float, float] | None,
    args: argparse.Namespace,
) -> list[str]:
    lines = [
        f"`python -m benchmarks.run {' '.join(sys.argv[1:])}` — {args.users:,} users, "
        f"{args.teams:,} teams, {args.duration} s a scenario, {args.connections} clients",
    ]
    for layout, rows in tables.items():
        lines += [
            "",
            f"| {layout}: req/s (p99 ms) | " + " | ".join(SCENARIOS) + " | non-2xx |",
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
