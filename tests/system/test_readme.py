"""The README's curl walk-through, run as written against a real `scimlite serve`.

The block is taken from README.md itself, so the README cannot drift from the product: only
the two lines a reader edits by hand (the token printed on first start, and the port) are
replaced before bash runs it with `set -euo pipefail`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import ServerProcess

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"


def curl_walkthrough() -> str:
    """The first ```sh block under the README's "Try it with curl" heading."""
    text = README.read_text()
    section = text.split("## Try it with curl", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README.md has no sh block under 'Try it with curl'"
    return match.group(1)


def json_documents(output: str) -> list[Any]:
    """The JSON documents curl printed one after another (curl adds no newline)."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while (at := len(output) - len(output[at:].lstrip())) < len(output):
        document, at = decoder.raw_decode(output, at)
        documents.append(document)
    return documents


def test_the_readme_curl_walkthrough_runs_as_written(tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is needed to run the README's walk-through"
    script = curl_walkthrough()
    assert re.search(r"^TOKEN=sl_\.\.\.", script, re.M)
    assert "BASE=http://127.0.0.1:8000/scim/v2" in script
    server = ServerProcess.serve(tmp_path / "readme.db")
    server.start(banner_token=True)
    try:
        script = re.sub(r"^TOKEN=sl_\.\.\.", f"TOKEN={server.token}", script, count=1, flags=re.M)
        script = script.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
        run = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        # The last command lists the user by its userName: it must be in the team by now.
        found = json_documents(run.stdout)[-1]
        assert found["totalResults"] == 1, found
        user = found["Resources"][0]
        assert user["userName"] == "user@example.com"
        assert [g["display"] for g in user.get("groups", [])] == ["Engineering Team"], user
    finally:
        assert server.stop() == 0, server.output()
