"""The public python-scim compliance suite, scim2-tester, against a live scimlite on loopback.

scim2-tester reads our /ServiceProviderConfig, /ResourceTypes and /Schemas and generates its
checks from them (CRUD, queries, PATCH add/replace/remove per attribute), so a larger honest
schema means more checks. It must pass with zero failures; the counts are written to the
terminal and recorded as a junit property.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests import oracle
from tests.support.process import ServerProcess

pytestmark = pytest.mark.slow
FAILING = frozenset({Status.ERROR, Status.CRITICAL})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`scimlite serve` in a subprocess on a fresh database; yields (base URL, token)."""
    folder = tmp_path_factory.mktemp("live")
    db = folder / "scimlite.db"
    created = subprocess.run(  # the token the way an operator makes one
        [
            sys.executable,
            "-m",
            "scimlite",
            "token",
            "create",
            "scim2-tester",
            "--db",
            str(db),
            "--create",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    token = created.stdout.strip().splitlines()[-1]
    server = ServerProcess.serve(db)
    server.start()
    try:
        yield f"{server.base}/scim/v2", token
    finally:
        server.stop()


def _http(live: tuple[str, str]) -> httpx2.Client:
    base, token = live
    return httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _report(results: list[Any]) -> str:
    counts = Counter(r.status.name for r in results)
    totals = ", ".join(f"{n} {name.lower()}" for name, n in sorted(counts.items()))
    return f"scim2-tester: {len(results)} checks against a live scimlite: {totals}"


def test_scim2_tester_passes_with_zero_failures(
    live: tuple[str, str],
    record_property: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _http(live) as http:
        results = check_server(SyncSCIMClient(http))
    summary = _report(results)
    record_property("scim2_tester", summary)
    with capsys.disabled():
        sys.stderr.write(f"\n{summary}\n")
    failing = [
        f"[{r.status.name}] {r.resource_type or '-'} {r.title}: {r.reason}"
        for r in results
        if r.status in FAILING
    ]
    assert not failing, summary + "\n" + "\n".join(failing)
    # Discovery + random URL + per resource type CRUD/PATCH checks; a floor guards against a
    # silently shrunken run (e.g. discovery failing and the CRUD checks never generated).
    assert len(results) >= 100, summary


def test_live_responses_validate_with_scim2_models(live: tuple[str, str]) -> None:
    """The same server over real HTTP, each body checked by scim2-models in its context."""
    user_schema = "urn:ietf:params:scim:schemas:core:2.0:User"
    group_schema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    with _http(live) as http:
        oracle.service_provider_config(http.get("ServiceProviderConfig").json())
        oracle.schemas(http.get("Schemas").json())
        oracle.resource_types(http.get("ResourceTypes").json())
        created = http.post(
            "Users",
            json={"schemas": [user_schema], "userName": "oracle@example.com", "active": True},
        )
        assert created.status_code == 201
        user = oracle.user(created.json(), oracle.CREATED)
        got = http.get(f"Users/{user.id}")
        oracle.user(got.json())
        team = http.post(
            "Groups",
            json={
                "schemas": [group_schema],
                "displayName": "Oracle team",
                "members": [{"value": user.id}],
            },
        )
        oracle.group(team.json(), oracle.CREATED)
        oracle.users(
            http.get("Users", params={"filter": 'userName eq "oracle@example.com"'}).json()
        )
        oracle.groups(http.get("Groups").json())
        missing = http.get("Users/does-not-exist")
        assert missing.status_code == 404
        oracle.error(missing.json())
