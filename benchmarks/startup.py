"""Cold start and memory of a way of running scimlite: the numbers in docs/distribution.md.

    python -m benchmarks.startup NAME COMMAND... [--runs 5] [--fresh-shiv-root]

Each run starts `COMMAND serve` on a new database in a new folder, times it from exec to the
first 200 from /healthz, then sums VmRSS over the process and its children (a PyInstaller
one-file binary is two processes: the bootloader and Python). It also times `COMMAND
--version`. `--fresh-shiv-root` gives every run an empty SHIV_ROOT, so a shiv .pyz pays its
first-run extraction each time. Only 127.0.0.1 is contacted; every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

READY_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int) -> int:
    """VmRSS of `pid` and its direct children, in KiB."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry.name))
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - our own loopback URL
            return bool(resp.status == 200)
    except OSError:
        return False


def _serve_once(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        start = time.monotonic()
        proc = subprocess.Popen(
            [*command, "serve", "--db", f"{folder}/m.db", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            while not _ready(f"http://127.0.0.1:{port}/healthz"):
                if time.monotonic() - start > READY_TIMEOUT or proc.poll() is not None:
                    raise SystemExit(f"{command} did not become ready")
                time.sleep(0.01)
            ready = time.monotonic() - start
            time.sleep(0.3)  # let start-up garbage settle before reading memory
            return ready, _rss_kib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("name", help="the row's label")
    parser.add_argument("command", nargs="+", help="how to run scimlite")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fresh-shiv-root", action="store_true")
    args = parser.parse_args()
    ready, rss, version = [], [], []
    for _ in range(args.runs):
        env = dict(os.environ)
        with tempfile.TemporaryDirectory() as shiv_root:
            if args.fresh_shiv_root:
                env["SHIV_ROOT"] = shiv_root
            seconds, kib = _serve_once(args.command, env)
        ready.append(seconds)
        rss.append(kib)
        with tempfile.TemporaryDirectory() as shiv_root:
            if args.fresh_shiv_root:
                env["SHIV_ROOT"] = shiv_root
            start = time.monotonic()
            subprocess.run([*args.command, "--version"], env=env, check=True, capture_output=True)
            version.append(time.monotonic() - start)
    print(
        f"| {args.name} | {statistics.median(ready):.2f} s ({min(ready):.2f}–{max(ready):.2f}) "
        f"| {statistics.median(version):.2f} s | {statistics.median(rss) / 1024:.1f} MiB |"
    )


if __name__ == "__main__":
    main()
