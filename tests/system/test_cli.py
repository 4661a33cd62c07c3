"""The `scimlite` command: tokens, the demo database, and a real `serve` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scimlite import __version__
from scimlite.cli import main
from tests.support.process import ServerProcess


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"scimlite {__version__}"


def test_token_create_prints_the_token_alone_on_the_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    code, out, _ = run(capsys, "token", "create", "okta", "--db", db)
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("sl_") and " " not in last


def test_token_list_shows_tokens_but_never_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    _, out, _ = run(capsys, "token", "create", "okta", "--db", db, "--scope", "admin")
    secret = out.strip().splitlines()[-1]
    code, listing, _ = run(capsys, "token", "list", "--db", db)
    assert code == 0
    header, row = listing.strip().splitlines()
    assert header.split() == ["NAME", "PREFIX", "SCOPE", "CREATED", "LAST", "USED", "REVOKED"]
    assert row.split()[:3] == ["okta", secret.split("_")[1], "admin"]
    assert secret not in listing


def test_token_revoke_marks_it_revoked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "t.db")
    run(capsys, "token", "create", "okta", "--db", db)
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
    run(capsys, "token", "create", "okta", "--db", db)
    code, _, err = run(capsys, "token", "create", "okta", "--db", db)
    assert code == 1 and "already exists" in err


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
