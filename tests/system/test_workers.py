"""`scimlite serve --workers N` (issue #14, item 3): N processes on one port and one SQLite
file; any worker answers any request, writes from all of them lose nothing, a worker that
dies is replaced, and SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.support import USER_SCHEMA
from tests.support.process import ServerProcess
from tests.system.test_scale_out import GROUP_SCHEMA, add_member, console, sign_in, together

pytestmark = pytest.mark.slow
WORKERS = 2


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess.serve(tmp_path / "workers.db", "--workers", str(WORKERS))
    server.start(banner_token=True)
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


def workers_of(server: ServerProcess) -> list[int]:
    assert server.proc is not None
    out = subprocess.run(
        ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in out.stdout.split()]


def served_by_worker(output: str) -> dict[int, int]:
    found = re.findall(r"worker (\d+) stopped: (\d+) requests served", output)
    return {int(worker): int(count) for worker, count in found}


def test_the_banner_names_the_workers_and_every_worker_serves(server: ServerProcess) -> None:
    assert f"Workers        {WORKERS} processes on this port" in server.output()
    assert len(workers_of(server)) == WORKERS
    for _ in range(40):  # each request on a connection of its own
        assert server.request("GET", "/scim/v2/Users?count=0")[0] == 200
    assert server.stop() == 0
    served = served_by_worker(server.output())
    assert sorted(served) == list(range(WORKERS)), server.output()
    assert all(count > 0 for count in served.values()), served
    assert f"stopped: all {WORKERS} workers" in server.output()


def requests_counted(server: ServerProcess) -> float:
    """GET /Users requests answered 200, as one scrape of /metrics counts them."""
    status, _, text = server.request("GET", "/metrics")
    assert status == 200
    pattern = (
        r'scimlite_http_requests_total\{[^}]*route="/scim/v2/Users"[^}]*status="200"[^}]*\} (\S+)'
    )
    return sum(float(v) for v in re.findall(pattern, text.decode()))


def test_metrics_count_the_requests_of_every_worker(server: ServerProcess) -> None:
    for _ in range(30):  # spread over the workers by the kernel
        assert server.request("GET", "/scim/v2/Users?count=0")[0] == 200
    # Whichever worker answers the scrape, it counts all 30.
    assert [requests_counted(server) for _ in range(8)] == [30.0] * 8
    _, _, text = server.request("GET", "/metrics")
    assert b"scimlite_database_bytes" in text and b"scimlite_journal_rows" in text


def test_writes_through_every_worker_are_all_kept(server: ServerProcess) -> None:
    status, _, team = server.request(
        "POST", "/scim/v2/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "all"}
    )
    assert status == 201
    team_id = _json(team)["id"]

    def write(i: int) -> list[int]:
        statuses = []
        for n in range(10):
            body = {"schemas": [USER_SCHEMA], "userName": f"w{i}-{n}@example.com"}
            status, _, user = server.request("POST", "/scim/v2/Users", body)
            statuses.append(status)
            if status == 201:
                patch = add_member(_json(user)["id"])
                statuses.append(server.request("PATCH", f"/scim/v2/Groups/{team_id}", patch)[0])
        return statuses

    outcomes = [status for statuses in together(16, write) for status in statuses]
    assert set(outcomes) <= {200, 201, 204}, outcomes
    _, _, listed = server.request("GET", "/scim/v2/Users?count=0")
    assert _json(listed)["totalResults"] == 160
    _, _, got = server.request("GET", f"/scim/v2/Groups/{team_id}")
    assert len(_json(got)["members"]) == 160


def test_a_console_session_works_on_every_worker(server: ServerProcess) -> None:
    cookie = sign_in(server, server.token)
    for _ in range(12):  # new connections, spread over the workers by the kernel
        status, _, page, _ = console(server, "GET", "/users", cookie)
        assert status == 200 and b"Users" in page


def test_a_worker_that_dies_is_replaced(server: ServerProcess) -> None:
    first = workers_of(server)
    os.kill(first[0], signal.SIGKILL)
    deadline = time.monotonic() + 15
    while len(now := workers_of(server)) < WORKERS or first[0] in now:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    for _ in range(20):
        assert server.request("GET", "/scim/v2/Users?count=0")[0] == 200
    assert "worker 0 (pid" in server.output() or "worker 1 (pid" in server.output()
    assert server.stop() == 0
    assert workers_of(server) == []


def serving(pid: int, db: Path) -> bool:
    """Whether the worker has opened the database: its app is started, so its own
    handlers for SIGINT and SIGTERM are in place (a signal before that, while the
    interpreter starts, ends the worker as the signal's default does)."""
    with suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                if Path(os.readlink(fd)).resolve() == db:
                    return True
    return False


def test_sigint_twice_still_stops_every_worker_cleanly(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Ctrl-C reaches every worker from the terminal and again from the parent."""
    assert server.proc is not None
    workers = workers_of(server)
    assert len(workers) == WORKERS
    deadline = time.monotonic() + 15
    db = (tmp_path / "workers.db").resolve()
    while not all(serving(pid, db) for pid in workers):
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    for pid in workers:
        os.kill(pid, signal.SIGINT)
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(timeout=15) == 0
    server.stop()  # already ended: only collects its output
    assert "Traceback" not in server.output(), server.output()
    assert sorted(served_by_worker(server.output())) == list(range(WORKERS)), server.output()


def test_workers_auto_is_one_per_core(tmp_path: Path) -> None:
    server = ServerProcess.serve(tmp_path / "auto.db", "--workers", "auto")
    server.start()
    try:
        cores = len(os.sched_getaffinity(0))
        if cores > 1:
            assert f"Workers        {cores} processes on this port" in server.output()
        assert len(workers_of(server)) == (cores if cores > 1 else 0)
    finally:
        assert server.stop() == 0


def _json(payload: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload)
    return data


@pytest.mark.parametrize("value", ["0", "many", "257"])
def test_a_bad_workers_value_is_one_line_and_creates_nothing(tmp_path: Path, value: str) -> None:
    db = tmp_path / "never.db"
    argv = [sys.executable, "-m", "scimlite", "serve", "--db", str(db), "--port", "0"]
    done = subprocess.run(
        [*argv, "--workers", value], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: invalid setting workers (SCIMLITE_WORKERS)")
    assert done.stderr.count("\n") == 1
    assert not db.exists()
