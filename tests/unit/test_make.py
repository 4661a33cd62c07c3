"""The Makefile's two commands, read with `make -n` (nothing runs, nothing is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def planned(tmp_path: Path, *args: str) -> list[str]:
    """The commands `make ARGS` would run for a venv that does not exist yet."""
    assert shutil.which("make"), "make is needed to read the Makefile"
    run = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(REPO), f"VENV={tmp_path / 'venv'}", *args],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},  # no PORT or DB from the caller's environment
    )
    return run.stdout.splitlines()


def test_serve_installs_the_runtime_dependencies_only(tmp_path: Path) -> None:
    commands = planned(tmp_path, "serve")
    installs = [c for c in commands if "pip install" in c and "--upgrade pip" not in c]
    assert installs == [f"{tmp_path / 'venv'}/bin/python -m pip install -q -e ."]
    assert commands[-1].split() == [f"{tmp_path / 'venv'}/bin/scimlite", "serve"]


def test_test_adds_the_test_extras(tmp_path: Path) -> None:
    commands = planned(tmp_path, "test")
    assert any(c.endswith("pip install -q -e '.[test]'") for c in commands)
    assert commands[-1] == f"{tmp_path / 'venv'}/bin/pytest"


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        pytest.param(("PORT=8001",), ["--port", "8001"], id="port"),
        pytest.param(("DB=other.db",), ["--db", "other.db"], id="db"),
        pytest.param(("PORT=8001", "DB=x.db"), ["--db", "x.db", "--port", "8001"], id="both"),
    ],
)
def test_serve_passes_port_and_db(tmp_path: Path, args: tuple[str, ...], flags: list[str]) -> None:
    assert planned(tmp_path, "serve", *args)[-1].split()[2:] == flags
