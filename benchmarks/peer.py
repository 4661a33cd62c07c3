"""scimlite beside scim2-server, the reference Python SCIM server (in memory), on the same
requests (issue #14): `python -m benchmarks.run --scenario peer --users 10000`.

Both servers get the same directory over HTTP — N users (userName, displayName, a work
e-mail) and one team of TEAM_MEMBERS of them — since scim2-server keeps its resources in
memory and cannot be handed a file; ids are whatever each server chose (wrk.lua reads them
from BENCH_IDS). Each server runs alone on the server core, as scimlite does in every
other scenario, with its own command line: `scimlite serve` (SQLite, synchronous=FULL,
access log on) and `scim2-server` (its threaded WSGI server). The ratio is scimlite's rate
over the peer's: above 1, scimlite serves more.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from benchmarks import run

SCENARIOS = (
    "get_user",
    "filter_username",
    "filter_email",
    "post_user",
    "put_user",
    "patch_active",
    "patch_member",
)
TEAM_MEMBERS = 1_000
PEER_TOKEN = "peer-benchmark-token"  # noqa: S105 - a throwaway server's static token


def _answers(url: str) -> bool:
    """Whether anything answers HTTP at `url` (a 401 counts: the server is up)."""
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@contextmanager
def _server(args: list[str], url: str) -> Iterator[None]:
    proc = subprocess.Popen(
        ["taskset", "-c", run.SERVER_CORE, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} did not start")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def _populate(api: str, token: str, users: int) -> tuple[list[str], str]:
    """The users (in order) and the team, created over HTTP; their ids."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    ids = [""] * users
    todo = iter(range(users))
    async with aiohttp.ClientSession(headers=headers) as http:

        async def client() -> None:
            for i in todo:
                user = {
                    "schemas": [run.USER_SCHEMA],
                    "userName": f"user{i}@example.com",
                    "displayName": f"User {i}",
                    "active": True,
                    "emails": [{"value": f"user{i}@example.com", "type": "work", "primary": True}],
                }
                async with http.post(f"{api}/Users", json=user) as resp:
                    assert resp.status == 201, await resp.text()
                    ids[i] = (await resp.json(content_type=None))["id"]

        await asyncio.gather(*(client() for _ in range(16)))
        members = [{"value": ids[i]} for i in range(min(users, TEAM_MEMBERS))]
        team = {"schemas": [run.GROUP_SCHEMA], "displayName": "big", "members": members}
        async with http.post(f"{api}/Groups", json=team) as resp:
            assert resp.status == 201, await resp.text()
            team_id = (await resp.json(content_type=None))["id"]
    return ids, str(team_id)


def _measure(
    name: str,
    base: str,
    prefix: str,
    token: str,
    args: argparse.Namespace,
    tmp: Path,
    results: dict[tuple[str, str], run.Result],
) -> None:
    ids, team = asyncio.run(_populate(base + prefix, token, args.users))
    ids_file = tmp / f"{name}-ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    env = {"BENCH_IDS": str(ids_file), "BENCH_TEAM": team, "BENCH_PREFIX": prefix}
    for scenario in SCENARIOS:
        measured = run.wrk(
            base, scenario, args.users, token, args.duration, args.connections, extra_env=env
        )
        results.setdefault((name, scenario), run.Result()).add(*measured)


def peer(args: argparse.Namespace) -> list[str]:
    peer_command = shutil.which("scim2-server", path=str(Path(sys.executable).parent))
    if peer_command is None:
        sys.exit("scim2-server is missing: pip install 'scimlite[bench]'")
    results: dict[tuple[str, str], run.Result] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
            tmp = Path(work)
            db = tmp / "peer.db"
            token = run.make_token(db)
            port = run._free_port()
            base = f"http://127.0.0.1:{port}"
            with _server(run._serve_args(db, port, args.serve_flags), f"{base}/healthz"):
                _measure("scimlite", base, "/scim/v2", token, args, tmp, results)
            port = run._free_port()
            base = f"http://127.0.0.1:{port}"
            command = [peer_command, "--port", str(port), "--bearer-token", PEER_TOKEN]
            with _server(command, f"{base}/v2/ServiceProviderConfig"):
                _measure("scim2-server", base, "/v2", PEER_TOKEN, args, tmp, results)
    lines = [
        f"`python -m benchmarks.run {' '.join(sys.argv[1:])}` — {args.users:,} users and a "
        f"team of {min(args.users, TEAM_MEMBERS):,} created over HTTP in each server, medians "
        f"of {args.runs} runs, {args.duration} s a scenario, {args.connections} clients",
        "",
        "| scenario | scimlite req/s | p50 ms | p99 ms | scim2-server req/s | p50 ms | p99 ms "
        "| ratio | non-2xx (scimlite / peer) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for scenario in SCENARIOS:
        ours, theirs = results[("scimlite", scenario)], results[("scim2-server", scenario)]
        ratio = statistics.median(ours.rps) / statistics.median(theirs.rps)
        lines.append(
            f"| {scenario} | {ours.row()} | {theirs.row()} | {ratio:.1f}× "
            f"| {ours.errors} / {theirs.errors} |"
        )
    return lines
