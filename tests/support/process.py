"""A real server process for tests (`scimlite serve`, `demo`, an installed wheel or the
one-file binary): start it, read what it prints, talk to it, stop or kill it.

Every wait is bounded, so a server that hangs fails its test instead of the whole run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support import SCIM_JSON, free_port, request


class ServerProcess:
    """One server command on one port; it may be started again after a stop or a kill,
    and its output (stdout and stderr) is kept across restarts."""

    def __init__(
        self,
        command: Sequence[str | Path],
        *,
        port: int,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.command = [str(part) for part in command]
        self.port, self.cwd = port, cwd
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.token = ""  # the admin token a first run prints, when start() waited for it
        self._reader: threading.Thread | None = None

    @classmethod
    def serve(cls, db: Path, *extra: str) -> ServerProcess:
        """`python -m scimlite serve` on a file, from this checkout, on a free port."""
        port = free_port()
        argv = [sys.executable, "-m", "scimlite", "serve", "--db", str(db), "--port", str(port)]
        return cls([*argv, *extra], port=port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "".join(self.lines)

    def start(self, timeout: float = 60, *, banner_token: bool = False) -> None:
        """Start, and return once /healthz answers (and the banner's token is out)."""
        self.proc = proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=self.env,
        )
        self._reader = threading.Thread(target=self._read, args=(proc,))
        self._reader.start()
        first = len(self.lines)
        deadline = time.monotonic() + timeout
        try:
            while banner_token and not self.token:
                self._check(deadline)
                printed = [line.strip() for line in self.lines[first:]]
                self.token = next((line for line in printed if line.startswith("sl_")), "")
            while not self._healthy():
                self._check(deadline)
        except BaseException:
            self.kill()  # a server that did not come up is not left running
            raise

    def _read(self, proc: subprocess.Popen[str]) -> None:
        for line in proc.stdout or ():
            self.lines.append(line)

    def _check(self, deadline: float) -> None:
        assert self.proc is not None
        assert self.proc.poll() is None, f"exited early:\n{self.output()}"
        assert time.monotonic() < deadline, f"no answer in time:\n{self.output()}"
        time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            return self.request("GET", "/healthz", token=None)[0] == 200
        except OSError:  # not listening yet
            return False

    def stop(self) -> int:
        """SIGTERM, and the exit code (within 15 s)."""
        return self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no checkpoint, no goodbye — a crash."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self._reader is not None:
                self._reader.join(timeout=5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = "admin"
    ) -> tuple[int, str, bytes]:
        """(status, content type, body) of one request; `token="admin"` sends the banner's."""
        data = None if body is None else json.dumps(body).encode()
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {self.token if token == 'admin' else token}"
        if data is not None:
            headers["Content-Type"] = SCIM_JSON
        status, got, payload = request(method, f"{self.base}{path}", data, headers, timeout=10)
        # The media type alone, as email.message's get_content_type() reads it.
        content_type = got.get("content-type", "text/plain").split(";")[0].strip().lower()
        return status, content_type, payload


@contextmanager
def serving(
    command: Sequence[str | Path],
    *,
    port: int,
    cwd: Path,
    env: dict[str, str] | None = None,
    start_timeout: float = 60,
) -> Iterator[ServerProcess]:
    """A first run: start, wait for the banner's token and /healthz, yield, then SIGTERM.

    On leaving, the process must exit 0: a clean stop is part of every check.
    """
    server = ServerProcess(command, port=port, cwd=cwd, env=env)
    server.start(start_timeout, banner_token=True)
    try:
        yield server
    finally:
        code = server.stop()
    assert code == 0, server.output()
