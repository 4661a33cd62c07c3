"""`scimlite serve --workers N`: N processes serving one port, so every core does work.

One Python process runs on one core. The parent binds one listening socket per worker with
SO_REUSEPORT (Linux spreads new connections across them by their address hash), forks the
workers, and then only supervises: a worker that dies is started again on its own socket —
connections the kernel queued on that socket meanwhile are served by the new one — and
SIGTERM or SIGINT stops every worker gracefully. Everything a request needs beyond its
process is in the database (console sessions, tokens, the journal), so any worker answers
any request; writes from several workers serialise on SQLite's write lock (each worker's
group commit still shares its fsyncs; docs/benchmarks.md) or PostgreSQL's row locks.

Fork happens before any event loop or thread exists in the parent, which is what makes it
safe; the parent never opens the database after forking.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from types import FrameType

log = logging.getLogger("scimlite.workers")
# A worker that dies sooner than this after its start is started again only after a pause,
# so a worker that cannot start (a broken database) does not spin the parent.
RESTART_PAUSE = 1.0

Serve = Callable[[list[socket.socket]], int]


def cores() -> int:
    """The cores this process may run on (`taskset`, cgroups' cpusets), for `--workers auto`."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Supervisor:
    """Forks one worker per socket set and keeps them running until told to stop."""

    def __init__(self, socket_sets: list[list[socket.socket]], serve: Serve) -> None:
        self._sets = socket_sets
        self._serve = serve
        self._workers: dict[int, tuple[int, float]] = {}  # pid → (index, started)
        self._stopping = False

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 once every worker has stopped."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(len(self._sets)):
            self._spawn(index)
        while self._workers:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index, started = self._workers.pop(pid, (-1, 0.0))
            if index < 0 or self._stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            log.warning("worker %d (pid %d) ended with %s; starting it again", index, pid, code)
            if time.monotonic() - started < RESTART_PAUSE:
                time.sleep(RESTART_PAUSE)
            if not self._stopping:
                self._spawn(index)
        return 0

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Forward the stop to every worker; each finishes its requests and exits."""
        self._stopping = True
        for pid in self._workers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: it never returns into the parent's code
            os._exit(self._work(index))
        self._workers[pid] = (index, time.monotonic())

    def _work(self, index: int) -> int:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for other, sockets in enumerate(self._sets):
            if other != index:
                for sock in sockets:
                    sock.close()
        try:
            served = self._serve(self._sets[index])
        except BaseException:  # the worker's last word; the parent starts another
            traceback.print_exc()
            return 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        print(f"worker {index} stopped: {served} requests served", file=sys.stderr, flush=True)
        return 0
