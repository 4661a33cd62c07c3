"""What a release ships, built by `make dist` and run the way a user runs it.

- the wheel, installed into a fresh venv with nothing from this checkout: `--version`,
  `python -m scimlite`, and a first `scimlite serve` that answers SCIM and renders the console;
- the one-file binary, copied alone into an empty folder: serve (health, one SCIM create, the
  console page, a clean stop) and `demo`.

`make dist` runs once for the module (about a minute on two cores); every step has a timeout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scimlite import __version__
from tests.support import free_port
from tests.support.process import ServerProcess, serving

REPO = Path(__file__).resolve().parents[2]
WHEEL = f"scimlite-{__version__}-py3-none-any.whl"
USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "first@example.com",
    "emails": [{"value": "first@example.com", "primary": True}],
}

pytestmark = pytest.mark.slow


def _run(command: list[str | Path], cwd: Path, timeout: float) -> str:
    """Run to completion; on failure the assertion shows everything the command printed."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make dist` exactly as documented, into a temporary folder instead of ./dist."""
    out = tmp_path_factory.mktemp("release")
    make = shutil.which("make")
    assert make is not None, "`make dist` needs make"
    _run([make, "-C", REPO, "dist", f"DIST={out}/dist", f"BUILD={out}/build"], REPO, 900)
    return out / "dist"


def _console_and_scim_work(srv: ServerProcess) -> None:
    status, content_type, body = srv.request("GET", "/signin", token=None)
    assert (status, content_type) == (200, "text/html"), body  # templates were found
    assert srv.request("GET", "/static/console.css", token=None)[:2] == (200, "text/css")
    status, content_type, body = srv.request("POST", "/scim/v2/Users", USER)
    assert (status, content_type) == (201, "application/scim+json"), body
    assert json.loads(body)["userName"] == USER["userName"]


def test_wheel_ships_templates_static_and_the_demo_directory(dist: Path) -> None:
    with zipfile.ZipFile(dist / WHEEL) as wheel:
        names = set(wheel.namelist())
    shipped = {
        f"scimlite/_data/{path.relative_to(REPO).as_posix()}"
        for folder in ("templates", "static")
        for path in (REPO / folder).rglob("*")
        if path.is_file()
    }
    shipped |= {"scimlite/_data/scimlite.db.example", "scimlite/__main__.py", "scimlite/py.typed"}
    assert shipped <= names


def test_wheel_in_a_fresh_venv_serves_on_first_run(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path, 120)
    pip: list[str | Path]
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--find-links", dist]
    _run([*pip, f"scimlite=={__version__}"], tmp_path, 600)
    home = tmp_path / "home"  # no checkout anywhere near: cwd is an empty folder
    home.mkdir()
    assert _run([venv / "bin" / "scimlite", "--version"], home, 60) == f"scimlite {__version__}\n"
    module: list[str | Path] = [venv / "bin" / "python", "-m", "scimlite", "--version"]
    assert _run(module, home, 60) == f"scimlite {__version__}\n"
    port = free_port()
    command: list[str | Path] = [venv / "bin" / "scimlite", "serve"]
    with serving(command, port=port, cwd=home, env={"SCIMLITE_PORT": str(port)}) as srv:
        assert "created scimlite.db" in srv.lines[0]
        _console_and_scim_work(srv)
    assert (home / "scimlite.db").is_file()


def test_single_file_binary_serves_and_stops_cleanly(dist: Path, tmp_path: Path) -> None:
    binary = tmp_path / "scimlite"
    shutil.copy2(dist / "scimlite", binary)  # alone, as a download would be
    assert _run([binary, "--version"], tmp_path, 60) == f"scimlite {__version__}\n"
    port = free_port()
    command: list[str | Path] = [binary, "serve", "--port", str(port), "--db", tmp_path / "one.db"]
    with serving(command, port=port, cwd=tmp_path) as srv:
        assert srv.request("GET", "/healthz", token=None)[:2] == (200, "application/json")
        _console_and_scim_work(srv)


def test_single_file_binary_runs_the_demo(dist: Path, tmp_path: Path) -> None:
    port = free_port()
    with serving([dist / "scimlite", "demo", "--port", str(port)], port=port, cwd=tmp_path) as srv:
        status, _, body = srv.request("GET", "/scim/v2/Groups?count=0")
        assert status == 200 and json.loads(body)["totalResults"] == 5
    assert list(tmp_path.iterdir()) == []
