"""A throwaway PostgreSQL server for the test suite, and a fresh database per test.

`make test` needs nothing installed beyond Debian's `postgresql` package (or any
PostgreSQL 15+ whose `initdb` and `pg_ctl` are on PATH or in /usr/lib/postgresql/*/bin):
the suite starts its own cluster in a temporary directory, on a free loopback port, and
removes it at the end. `SCIMLITE_TEST_DATABASE_URL` points the suite at a server of your
own instead (each test creates and drops its own database there).

The cluster's default collation is ICU's `en` (what most servers run with): scimlite
must not depend on the server's collation, and a C-collated test server would hide it.
PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg

from scimlite.store.postgres.migrations import migrate
from tests.support import free_port

URL_VARIABLE = "SCIMLITE_TEST_DATABASE_URL"


class PostgresMissing(Exception):
    """No PostgreSQL server binaries on this machine."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    raise PostgresMissing(
        f"{name} not found: install PostgreSQL 15+ (Debian: apt-get install postgresql) "
        f"or set {URL_VARIABLE}"
    )


def _as_owner(args: list[str]) -> list[str]:
    """Run as `postgres` when we are root (initdb and postgres refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextlib.contextmanager
def throwaway_server(*, durable: bool = False, prefix: Sequence[str] = ()) -> Iterator[str]:
    """A PostgreSQL server for the duration; yields the URL of its `postgres` database.

    `durable`: fsync and synchronous commit on, as in production (the benchmarks); the
    tests turn them off. `prefix` runs the server under a wrapper (`taskset -c 0`)."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        yield given
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="scimlite-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_owner(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--locale-provider=icu",
                "--icu-locale=en",
            ]
        ),
        check=True,
        capture_output=True,
    )
    # The tests do not put durability under test (the crash tests run on SQLite): fsync
    # off makes them cheap. The benchmarks ask for a durable server.
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=300"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]
    subprocess.run(
        [*prefix, *_as_owner(start)],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


_names = itertools.count()


def with_database(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`."""
    return server_url.rsplit("/", 1)[0] + "/" + name


TEMPLATE = "scimlite_template"
# Every table a test may fill; emptied after each test (TRUNCATE takes milliseconds, a new
# database hundreds of them on a busy machine).
# Events before the journal: TRUNCATE locks in this order, and retention (a server's
# background job, maybe still finishing) deletes events before journal rows; the other
# order deadlocks. Webhooks before their deliveries, for the same reason: a delivery still
# finishing updates its endpoint, then logs.
_TABLES = (
    "events, events_pruned, users, user_emails, groups, memberships, tokens, journal, "
    "journal_refs, console_sessions, webhooks, webhook_deliveries"
)


def empty_database(url: str) -> None:
    """Empty every scimlite table, as a new database would be (numbering restarts too)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
        conn.execute("TRUNCATE row_count_deltas")
        conn.execute("UPDATE row_count_base SET n = 0")


@contextlib.contextmanager
def migrated_template(server_url: str) -> Iterator[None]:
    """A database holding scimlite's schema, copied for each test (a copy takes ~50 ms,
    migrating takes longer); tests of migrating itself use `fresh_database(empty=True)`."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        admin.execute(f'CREATE DATABASE "{TEMPLATE}" STRATEGY FILE_COPY')
    with psycopg.connect(with_database(server_url, TEMPLATE), autocommit=True) as conn:
        migrate(conn)
    yield


@contextlib.contextmanager
def fresh_database(server_url: str, *, empty: bool = False) -> Iterator[str]:
    """A new database, with scimlite's schema or `empty`; dropped afterwards."""
    name = f"scimlite_test_{os.getpid()}_{next(_names)}"
    template = "template1" if empty else TEMPLATE
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
