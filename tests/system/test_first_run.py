"""First run: `scimlite serve` with no arguments, the start-up banner, and `scimlite demo`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scimlite import __version__, cli
from scimlite.banner import banner, is_loopback
from scimlite.settings import Settings
from tests.support import free_port
from tests.support.process import serving

REPO = Path(__file__).resolve().parents[2]
SECRET = "sl_0123abcd_secret"


def test_first_run_banner_is_the_whole_story() -> None:
    text = banner(Settings.load(env={}), secret=SECRET, created=True, demo=False)
    assert text.splitlines() == [
        f"scimlite {__version__} · created scimlite.db",
        "",
        "  SCIM base URL  http://127.0.0.1:8000/scim/v2",
        "  Console        http://127.0.0.1:8000/",
        "",
        "  Admin token, shown this once (only its hash is stored):",
        f"    {SECRET}",
        "",
        "  Okta      Provisioning > Integration: SCIM connector base URL = the base URL,",
        "            Authentication Mode = HTTP Header, Authorization = the token",
        "  Entra ID  Provisioning > Admin Credentials: Tenant URL = the base URL,",
        "            Secret Token = the token",
        "  The token also signs in to the console.",
        "",
        "  Ctrl-C stops the server.",
    ]


def test_later_runs_say_how_to_get_a_token_and_never_print_one() -> None:
    text = banner(Settings.load(env={}), secret=None, created=False, demo=False)
    assert text.splitlines()[0] == f"scimlite {__version__} · serving scimlite.db"
    assert "scimlite token create NAME [--scope admin]" in text
    assert "sl_" not in text and "Okta" not in text


def test_public_url_is_what_the_banner_shows() -> None:
    settings = Settings.load(env={}, public_url="https://scim.example.com/")
    text = banner(settings, secret=None, created=False, demo=False)
    assert "  SCIM base URL  https://scim.example.com/scim/v2" in text.splitlines()
    assert "  Console        https://scim.example.com/" in text.splitlines()


def test_ipv6_hosts_are_bracketed() -> None:
    text = banner(Settings.load(env={}, host="::1"), secret=None, created=False, demo=False)
    assert "http://[::1]:8000/scim/v2" in text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        pytest.param("127.0.0.1", True, id="ipv4-loopback"),
        pytest.param("127.1.2.3", True, id="all-of-127/8"),
        pytest.param("::1", True, id="ipv6-loopback"),
        pytest.param("localhost", True, id="localhost"),
        pytest.param("0.0.0.0", False, id="all-ipv4-interfaces"),
        pytest.param("::", False, id="all-ipv6-interfaces"),
        pytest.param("192.0.2.10", False, id="an-interface-address"),
        pytest.param("scim.example.com", False, id="a-host-name"),
    ],
)
def test_binding_beyond_loopback_warns(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    text = banner(Settings.load(env={}, host=host), secret=SECRET, created=True, demo=False)
    assert (f"  WARNING: listening on {host}, reachable from other machines." in text) is (
        not loopback
    )


@pytest.mark.slow
def test_serve_with_no_arguments_creates_scimlite_db_here(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "scimlite", "serve"]
    with serving(command, port=port, cwd=tmp_path, env={"SCIMLITE_PORT": str(port)}) as srv:
        assert srv.lines[0].strip() == f"scimlite {__version__} · created scimlite.db"
        assert f"  SCIM base URL  http://127.0.0.1:{port}/scim/v2\n" in srv.lines
        assert f"  Console        http://127.0.0.1:{port}/\n" in srv.lines
        status, _, body = srv.request("GET", "/scim/v2/Users")
        assert status == 200 and json.loads(body)["totalResults"] == 0
    assert (tmp_path / "scimlite.db").is_file()


@pytest.mark.slow
def test_demo_serves_a_populated_copy_and_leaves_nothing_behind(tmp_path: Path) -> None:
    example = REPO / "scimlite.db.example"
    before = example.read_bytes()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    port = free_port()
    command = [sys.executable, "-m", "scimlite", "demo", "--port", str(port)]
    with serving(command, port=port, cwd=tmp_path, env={"TMPDIR": str(scratch)}) as srv:
        assert "demo on a temporary copy of scimlite.db.example" in srv.lines[0]
        status, _, body = srv.request("GET", "/scim/v2/Users?count=0")
        assert status == 200 and json.loads(body)["totalResults"] == 25
        first = json.loads(srv.request("GET", "/scim/v2/Users?count=1")[2])["Resources"][0]
        assert srv.request("DELETE", f"/scim/v2/Users/{first['id']}")[0] == 204
        assert len(list(scratch.iterdir())) == 1  # the temporary copy lives here
    assert list(scratch.iterdir()) == []
    assert example.read_bytes() == before  # the example itself is never written
    assert not (tmp_path / "scimlite.db").exists()


def test_demo_without_the_example_says_how_to_make_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "shipped", lambda name: tmp_path / name)
    assert cli.main(["demo"]) == 1
    assert "run `make demo-db`" in capsys.readouterr().err
