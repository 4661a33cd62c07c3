"""The `scimlite` command: tokens, the demo database, and a real `serve` process."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from scimlite import __version__
from scimlite.banner import redacted
from scimlite.cli import main
from scimlite.store import Store, WriteContext, open_database
from tests.support.postgres import fresh_database
from tests.support.process import ServerProcess


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str) -> str:
    """The single `error: …` line a failing command prints, and nothing else on stderr."""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err.rstrip("\n")


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another process is listening on (as `make serve` holds 8000)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"scimlite {__version__}"


def test_token_create_prints_the_token_alone_on_the_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    code, out, _ = run(capsys, "token", "create", "okta", "--db", db, "--create")
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("sl_") and " " not in last


def test_token_list_shows_tokens_but_never_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    _, out, _ = run(capsys, "token", "create", "okta", "--db", db, "--scope", "admin", "--create")
    secret = out.strip().splitlines()[-1]
    code, listing, _ = run(capsys, "token", "list", "--db", db)
    assert code == 0
    header, row = listing.strip().splitlines()
    assert header.split() == ["NAME", "PREFIX", "SCOPE", "CREATED", "LAST", "USED", "REVOKED"]
    assert row.split()[:3] == ["okta", secret.split("_")[1], "admin"]
    assert secret not in listing


def test_token_revoke_marks_it_revoked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "t.db")
    run(capsys, "token", "create", "okta", "--db", db, "--create")
    code, _, _ = run(capsys, "token", "revoke", "okta", "--db", db)
    assert code == 0
    _, listing, _ = run(capsys, "token", "list", "--db", db)
    assert listing.strip().splitlines()[1].split()[-1] != "-"
    code, _, err = run(capsys, "token", "revoke", "okta", "--db", db)
    assert code == 1 and "no live token" in err


def test_duplicate_token_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    run(capsys, "token", "create", "okta", "--db", db, "--create")
    code, _, err = run(capsys, "token", "create", "okta", "--db", db)
    assert code == 1
    assert one_error(err) == (
        "error: a token named 'okta' already exists; "
        "`scimlite token rotate okta` gives it a new secret"
    )


@pytest.mark.slow
def test_serve_bootstraps_a_token_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server = ServerProcess.serve(tmp_path / "served.db")
    try:
        server.start(banner_token=True)
        assert server.token.startswith("sl_")
        assert any(f"{server.base}/scim/v2" in line for line in server.lines)
        status, _, body = server.request("GET", "/scim/v2/Users")
        assert status == 200 and json.loads(body)["totalResults"] == 0
        assert server.stop() == 0
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
    assert server.output().count(server.token) == 1  # shown once, never logged
    # A second start on the same file prints no new token: one exists already.
    second = subprocess.run(
        [sys.executable, "-m", "scimlite", "token", "list", "--db", str(tmp_path / "served.db")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert second.stdout.count("\n") == 2


# Issue #16 item 5: the address is bound before anything is created or printed.


def test_serve_on_a_port_in_use_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], held_port: int
) -> None:
    db = tmp_path / "new.db"
    code, out, err = run(capsys, "serve", "--db", str(db), "--port", str(held_port))
    assert code == 1
    assert one_error(err) == f"error: port {held_port} is in use — pass --port"
    assert out == ""  # no banner, no token printed into a failed run
    assert files(tmp_path) == []


def test_demo_on_a_port_in_use_says_so_and_copies_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    held_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, out, err = run(capsys, "demo", "--port", str(held_port))
    assert code == 1
    assert one_error(err) == f"error: port {held_port} is in use — pass --port"
    assert out == "" and files(tmp_path) == []


def test_serve_on_an_address_the_machine_lacks_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new.db"
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    code, out, err = run(capsys, "serve", "--db", str(db), "--host", "192.0.2.10")
    assert code == 1
    assert one_error(err) == "error: 192.0.2.10 is not an address of this machine — pass --host"
    assert out == "" and files(tmp_path) == []


# Issue #16 item 6: a --db that cannot be a database is one line, for every subcommand.

DB_COMMANDS = [
    pytest.param(["serve", "--port", "0"], id="serve"),
    pytest.param(["token", "create", "okta", "--create"], id="token-create"),
    pytest.param(["token", "list"], id="token-list"),
    pytest.param(["token", "revoke", "okta"], id="token-revoke"),
    pytest.param(["token", "rotate", "okta"], id="token-rotate"),
    pytest.param(["backup", "copy.db"], id="backup"),
]


@pytest.mark.parametrize("command", DB_COMMANDS)
def test_a_directory_as_db_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    code, out, err = run(capsys, *command, "--db", "folder")
    assert code == 2
    assert one_error(err) in (
        "error: folder is a directory, not a database file",
        "error: folder is not a database file",  # backup's wording
    )
    assert out == "" and files(tmp_path) == ["folder"]


@pytest.mark.parametrize("command", DB_COMMANDS)
def test_a_file_that_is_not_sqlite_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a database\n")
    code, out, err = run(capsys, *command, "--db", "notes.txt")
    assert code == 2
    assert one_error(err) in (
        "error: notes.txt is not a SQLite database",
        "error: backup of notes.txt failed: file is not a database",
    )
    assert out == "" and files(tmp_path) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "not a database\n"


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["serve", "--port", "0"], id="serve"),
        pytest.param(["token", "create", "okta", "--create"], id="token-create"),
    ],
)
def test_a_place_that_cannot_hold_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # /proc takes no new files, whoever runs the test (root included).
    code, out, err = run(capsys, *command, "--db", "/proc/scimlite-test/x.db")
    assert code == 2
    assert one_error(err).startswith("error: cannot create /proc/scimlite-test/x.db: ")
    assert out == ""


# Issue #16 item 7: a mistyped --db never makes a new, empty database.


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        pytest.param(
            ["token", "create", "okta"], "pass --create to start a new database there", id="create"
        ),
        pytest.param(["token", "list"], "check --db (or SCIMLITE_DB_PATH)", id="list"),
        pytest.param(["token", "revoke", "okta"], "check --db (or SCIMLITE_DB_PATH)", id="revoke"),
        pytest.param(["token", "rotate", "okta"], "check --db (or SCIMLITE_DB_PATH)", id="rotate"),
    ],
)
def test_token_commands_refuse_a_missing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], hint: str
) -> None:
    typo = tmp_path / "scimltie.db"
    code, out, err = run(capsys, *command, "--db", str(typo))
    assert code == 2
    assert one_error(err) == f"error: no database at {typo}; {hint}"
    assert out == "" and files(tmp_path) == []


def test_backup_refuses_a_missing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "backup", str(tmp_path / "copy.db"), "--db", str(tmp_path / "x"))
    assert code == 2
    assert one_error(err) == f"error: {tmp_path / 'x'} does not exist"
    assert out == "" and files(tmp_path) == []


def test_backup_help_says_the_database_must_exist(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["backup", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the database to copy; must exist" in help_text
    assert "created" not in help_text


# Issue #16 item 8: token names.


def test_an_empty_token_name_is_refused_before_anything_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "token", "create", "", "--db", str(tmp_path / "t.db"), "--create")
    assert code == 2
    assert one_error(err).startswith("error: a token name is 1 to 64 characters")
    assert out == "" and files(tmp_path) == []


def test_a_revoked_tokens_name_can_be_used_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    run(capsys, "token", "create", "okta", "--db", db, "--create")
    run(capsys, "token", "revoke", "okta", "--db", db)
    code, out, _ = run(capsys, "token", "create", "okta", "--db", db)
    assert code == 0 and out.splitlines()[0].startswith("Created token 'okta'")
    _, listing, _ = run(capsys, "token", "list", "--db", db)
    rows = [line.split() for line in listing.splitlines()[1:]]
    assert [(r[0], r[-1] == "-") for r in rows] == [("okta", False), ("okta", True)]


def test_token_rotate_prints_a_new_secret_and_revokes_the_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    _, out, _ = run(capsys, "token", "create", "okta", "--db", db, "--scope", "admin", "--create")
    old = out.splitlines()[-1]
    code, out, _ = run(capsys, "token", "rotate", "okta", "--db", db)
    assert code == 0
    new = out.splitlines()[-1]
    assert new.startswith("sl_") and new != old
    assert out.splitlines()[0] == f"Rotated token 'okta' (scope admin, prefix {new.split('_')[1]})."
    _, listing, _ = run(capsys, "token", "list", "--db", db)
    rows = [line.split() for line in listing.splitlines()[1:]]
    assert [(r[1], r[2], r[-1] == "-") for r in rows] == [
        (old.split("_")[1], "admin", False),
        (new.split("_")[1], "admin", True),
    ]


def test_token_rotate_of_an_unknown_name_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    run(capsys, "token", "create", "okta", "--db", db, "--create")
    code, out, err = run(capsys, "token", "rotate", "entra", "--db", db)
    assert code == 1
    assert one_error(err) == "error: no live token named 'entra'"
    assert out == ""


# Issue #16 item 9: the server says when it stops.


@pytest.mark.slow
def test_serve_says_how_many_requests_it_served_when_it_stops(tmp_path: Path) -> None:
    server = ServerProcess.serve(tmp_path / "served.db")
    try:
        server.start(banner_token=True)
        for _ in range(3):
            assert server.request("GET", "/scim/v2/Users")[0] == 200
        assert server.stop() == 0
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
    last = server.lines[-1].rstrip("\n")
    match = re.fullmatch(r"stopped: (\d+) requests served", last)
    assert match, server.output()
    assert int(match.group(1)) >= 3  # and the /healthz polls that waited for the start


def test_postgres_migrate_token_and_copy_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, postgres_server: str
) -> None:
    """`--database-url` on migrate and token commands, and `copy` both ways (issue #17)."""
    with fresh_database(postgres_server, empty=True) as url:
        for _ in range(2):  # the second run finds the schema in place
            code, out, _ = run(capsys, "migrate", "--database-url", url)
            assert code == 0 and out.startswith("PostgreSQL ") and "schema version" in out
        assert "postgres@" in out and url.split("@")[0] + "@" in out  # no password to hide
        code, out, _ = run(capsys, "token", "create", "okta", "--database-url", url)
        assert code == 0
        code, out, _ = run(capsys, "token", "list", "--database-url", url)
        assert "okta" in out
        back = tmp_path / "back.db"
        code, out, _ = run(capsys, "copy", "--from", url, "--to", str(back))
        assert code == 0 and "0 users" in out and "1 tokens" in out
        code, out, _ = run(capsys, "token", "list", "--db", str(back))
        assert "okta" in out
        code, _, err = run(capsys, "copy", "--from", str(back), "--to", url)
        assert code == 2 and "tokens is not empty" in one_error(err)


def test_postgres_schema_newer_than_the_code(
    capsys: pytest.CaptureFixture[str], postgres_server: str
) -> None:
    """A newer schema that only added (a rolling upgrade under way) is used as it is; one
    whose migrations broke what this code relies on is refused with one line."""
    with fresh_database(postgres_server) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE scimlite_schema SET version = 999")
        code, out, _ = run(capsys, "migrate", "--database-url", url)
        assert code == 0 and "schema version 999" in out
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE scimlite_schema SET oldest_code = 999")
        code, _, err = run(capsys, "migrate", "--database-url", url)
        assert code == 2
        assert "schema version 999 is newer than this scimlite supports" in one_error(err)


def test_copy_refuses_a_missing_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "copy", "--from", str(tmp_path / "nope.db"), "--to", "x.db")
    assert code == 2 and "no database at" in one_error(err)
    assert files(tmp_path) == []


def test_a_database_password_is_never_printed() -> None:
    assert redacted("postgresql://app:s3cret@db.internal:5432/scim") == (
        "postgresql://app:***@db.internal:5432/scim"
    )
    assert redacted("postgresql://app@db/scim") == "postgresql://app@db/scim"


def _write_users(db: Path, *names: str) -> None:
    async def write() -> None:
        store_db = open_database(path=db)
        await store_db.open()
        try:
            store = Store(store_db)
            for name in names:
                await store.users.create(
                    {"userName": name}, None, WriteContext("okta", "POST", "/")
                )
        finally:
            await store_db.close()

    asyncio.run(write())


@pytest.mark.slow
def test_events_tail_prints_events_as_they_commit_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "tail.db"
    _write_users(db, "before")
    command = [sys.executable, "-m", "scimlite", "events", "tail", "--db", str(db)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as tail:
        assert tail.stdout is not None
        time.sleep(1.5)  # it starts at "now": "before" is not shown
        _write_users(db, "after")
        line = tail.stdout.readline()
        assert "user.created" in line and "user=after" in line and "okta" in line
        tail.send_signal(signal.SIGINT)
        assert tail.wait(10) == 0
    replay = [*command, "--after", "0", "--json", "--types", "user.created"]
    with subprocess.Popen(replay, stdout=subprocess.PIPE, text=True) as tail:
        assert tail.stdout is not None
        shown = [json.loads(tail.stdout.readline()) for _ in range(2)]
        tail.send_signal(signal.SIGINT)
        assert tail.wait(10) == 0
    assert [e["data"]["user"]["userName"] for e in shown] == ["before", "after"]
    assert shown[0]["data"]["user"]["meta"]["location"].startswith("http://127.0.0.1:8000/scim/v2/")


def test_events_tail_refuses_an_unknown_type_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "tail.db"
    _write_users(db, "ada")
    code, _, err = run(capsys, "events", "tail", "--db", str(db), "--types", "user.exploded")
    assert code == 2 and one_error(err) == "error: unknown event type 'user.exploded'"
    code, _, err = run(capsys, "events", "tail", "--db", str(db), "--after", "x")
    assert code == 2 and one_error(err).startswith("error: --after: not an event position")
