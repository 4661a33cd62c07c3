"""A real `scimlite serve` (or `demo`) process for tests: start, read its banner, talk, stop.

Every wait is bounded, so a server that hangs fails its test instead of the whole run.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Served:
    """A running server: its base URL, the admin token its banner printed, and the banner."""

    base: str
    token: str
    banner: list[str] = field(default_factory=list)

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = "admin"
    ) -> tuple[int, str, bytes]:
        """(status, content type, body) of one request; `token="admin"` sends the banner's."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"Bearer {self.token if token == 'admin' else token}")
        if data is not None:
            req.add_header("Content-Type", "application/scim+json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers.get_content_type(), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get_content_type(), exc.read()


@contextmanager
def serving(
    command: Sequence[str | Path],
    *,
    port: int,
    cwd: Path,
    env: dict[str, str] | None = None,
    start_timeout: float = 60,
) -> Iterator[Served]:
    """Start `command`, wait for its banner's token and for /healthz, yield, then SIGTERM.

    On leaving, the process must exit 0 within 15 s: a clean stop is part of every check.
    """
    proc = subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()])
    reader.start()
    banner: list[str] = []
    try:
        deadline = time.monotonic() + start_timeout
        while not (banner and banner[-1].strip().startswith("sl_")):
            assert proc.poll() is None, "".join(banner)
            try:
                banner.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError("no token printed:\n" + "".join(banner)) from None
        served = Served(f"http://127.0.0.1:{port}", banner[-1].strip(), banner)
        while not _healthy(served):
            assert time.monotonic() < deadline, "".join(banner)
            time.sleep(0.05)
        served.banner += _drain(lines)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            reader.join(timeout=5)
            proc.stdout.close()
    assert code == 0, "".join(banner + _drain(lines))


def _healthy(served: Served) -> bool:
    try:
        return served.request("GET", "/healthz", token=None)[0] == 200
    except OSError:  # not listening yet
        return False


def _drain(lines: queue.Queue[str]) -> list[str]:
    out: list[str] = []
    while not lines.empty():
        out.append(lines.get_nowait())
    return out
