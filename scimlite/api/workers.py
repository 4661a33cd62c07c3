"""`scimlite serve --workers N`: N processes serving one port, so every core does work.

One Python process runs on one core. The parent binds one listening socket per worker with
SO_REUSEPORT (Linux spreads new connections across them by their address hash), starts each
worker as a fresh `scimlite serve` process that inherits its socket, and then only
supervises: a worker that dies is started again on the same socket — connections the
kernel queued on it meanwhile are served by the new one — and SIGTERM or SIGINT stops every
worker gracefully. Everything a request needs beyond its process is in the database
(console sessions, tokens, the journal), so any worker answers any request; writes from
several workers take turns on the file's write lock (store/sqlite/db.py `WriteLock`).

Why fresh processes rather than fork(): each worker imports prometheus-client with
PROMETHEUS_MULTIPROC_DIR set, which is how its multiprocess mode shares counters between
workers (api/metrics.py); and nothing of the parent's state (its logging locks, its
threads) is inherited half-way.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from types import FrameType

from scimlite.api.metrics import MULTIPROC_DIR

log = logging.getLogger("scimlite.workers")
# A worker that dies sooner than this after its start is started again only after a pause,
# so a worker that cannot start (a broken database) does not spin the parent.
RESTART_PAUSE = 1.0
# Set by the supervisor in each worker's environment: the file descriptors of its sockets.
SOCKETS = "_SCIMLITE_WORKER_SOCKETS"
INDEX = "_SCIMLITE_WORKER_INDEX"  # which worker it is, for its last log line


def cores() -> int:
    """The cores this process may run on (`taskset`, cgroups' cpusets), for `--workers auto`."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def inherited() -> tuple[int, list[socket.socket]] | None:
    """In a worker: its index and the listening sockets its supervisor handed down; None
    in any other process."""
    fds = os.environ.pop(SOCKETS, None)
    if fds is None:
        return None
    sockets = [socket.socket(fileno=int(fd)) for fd in fds.split(",")]
    for sock in sockets:
        sock.setblocking(False)
    return int(os.environ.pop(INDEX, "0")), sockets


def _command() -> list[str]:
    """This very command line, to run again as a worker (a one-file binary is its own
    interpreter; otherwise `python -m scimlite`)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *sys.argv[1:]]
    return [sys.executable, "-m", "scimlite", *sys.argv[1:]]


class Supervisor:
    """Starts one worker per socket set and keeps them running until told to stop."""

    def __init__(self, socket_sets: list[list[socket.socket]]) -> None:
        self._sets = socket_sets
        # pid → (the worker's Popen, its index, when it started). The Popen is kept, and its
        # returncode set once os.wait() has reaped it, so subprocess never waits on a pid
        # of ours itself (it would take a dead worker's status before we saw it).
        self._workers: dict[int, tuple[subprocess.Popen[bytes], int, float]] = {}
        self._stopping = False
        self._metrics = ""

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 once every worker has stopped."""
        self._metrics = tempfile.mkdtemp(prefix="scimlite-metrics-")  # 0700
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        try:
            for index in range(len(self._sets)):
                self._spawn(index)
            self._supervise()
        finally:
            shutil.rmtree(self._metrics, ignore_errors=True)
        return 0

    def _supervise(self) -> None:
        while self._workers:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                return
            if pid not in self._workers:
                continue
            proc, index, started = self._workers.pop(pid)
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            if self._stopping:
                continue
            log.warning("worker %d (pid %d) ended with %s; starting it again", index, pid, code)
            if time.monotonic() - started < RESTART_PAUSE:
                time.sleep(RESTART_PAUSE)
            if not self._stopping:
                self._spawn(index)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Forward the stop to every worker; each finishes its requests and exits."""
        self._stopping = True
        for pid in self._workers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _spawn(self, index: int) -> None:
        fds = [sock.fileno() for sock in self._sets[index]]
        env = {
            **os.environ,
            SOCKETS: ",".join(map(str, fds)),
            MULTIPROC_DIR: self._metrics,
            INDEX: str(index),
        }
        proc = subprocess.Popen(_command(), env=env, pass_fds=fds)  # noqa: S603 - ourselves
        self._workers[proc.pid] = (proc, index, time.monotonic())
