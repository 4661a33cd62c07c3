"""GET /metrics (issue #16 item 16): who may read it, and that each series counts what it says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support import USER_SCHEMA
from tests.support.scim import Scim

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def reader(client: TestClient[Any, Any]) -> str:
    """A `metrics`-scope token, as a Prometheus scraper holds one."""
    created: tuple[Any, str] = await client.app[STORE].create_token("prometheus", "metrics")
    return created[1]


async def scrape(client: TestClient[Any, Any], token: str) -> Samples:
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    text = await resp.text()
    assert resp.status == 200, text
    assert resp.content_type == "text/plain"
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, keep: Callable[[dict[str, str]], bool]) -> float:
    return sum(v for (n, labels), v in samples.items() if n == name and keep(dict(labels)))


@pytest.mark.parametrize(
    ("header", "status"),
    [
        pytest.param(None, 401, id="no-token"),
        pytest.param("Bearer sl_00000000_nope", 401, id="unknown-token"),
    ],
)
async def test_metrics_need_a_token(
    client: TestClient[Any, Any], header: str | None, status: int
) -> None:
    headers = {"Authorization": header} if header else {}
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == status
    assert "scimlite_" not in await resp.text()


async def test_a_scim_token_cannot_read_metrics(client: TestClient[Any, Any], token: str) -> None:
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 403
    assert "scope 'scim'" in await resp.text()


async def test_metrics_and_admin_tokens_can(
    client: TestClient[Any, Any], reader: str, admin: str
) -> None:
    for secret in (reader, admin):
        assert await scrape(client, secret)  # not empty


async def test_a_metrics_token_cannot_use_the_scim_api(
    client: TestClient[Any, Any], reader: str
) -> None:
    resp = await client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {reader}"})
    assert resp.status == 403
    assert "scope 'metrics'" in (await resp.json())["detail"]


async def test_requests_by_route_method_and_status_with_latency(
    client: TestClient[Any, Any], scim: Scim, reader: str
) -> None:
    user = await scim.create_user("ada@example.com")
    await scim.call("GET", f"/Users/{user['id']}")
    await scim.call("GET", "/Users/nope", status=404)
    samples = await scrape(client, reader)
    name = "scimlite_http_requests_total"
    assert value(samples, name, route="/scim/v2/Users", method="POST", status="201") == 1
    by_id = {"route": "/scim/v2/Users/{id}", "method": "GET"}
    assert value(samples, name, **by_id, status="200") == 1
    assert value(samples, name, **by_id, status="404") == 1
    assert value(samples, "scimlite_http_request_duration_seconds_count", **by_id) == 2
    assert value(samples, "scimlite_http_request_duration_seconds_sum", **by_id) > 0


async def test_unrouted_paths_share_one_label(
    client: TestClient[Any, Any], scim: Scim, reader: str
) -> None:
    for i in range(3):
        await client.get(f"/no/such/path/{i}")
    samples = await scrape(client, reader)
    routes = {dict(labels).get("route") for (n, labels) in samples if "http_requests" in n}
    assert "unmatched" in routes and not any(r and r.startswith("/no/") for r in routes)


async def test_scim_writes_by_token_and_outcome(
    client: TestClient[Any, Any], scim: Scim, reader: str
) -> None:
    await scim.create_user("ada@example.com")
    await scim.call(
        "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "ada@example.com"}, 409
    )
    await scim.call("GET", "/Users")  # a read: not a write
    await client.post("/scim/v2/Users", json={})  # no token
    samples = await scrape(client, reader)
    name = "scimlite_scim_writes_total"
    assert value(samples, name, token="test-idp", outcome="success") == 1
    assert value(samples, name, token="test-idp", outcome="client_error") == 1
    assert value(samples, name, token="-", outcome="client_error") == 1
    assert total(samples, name, lambda labels: True) == 3


async def test_normalised_quirks_by_kind(
    client: TestClient[Any, Any], scim: Scim, reader: str
) -> None:
    user = await scim.create_user("ada@example.com", active="False")  # Entra's boolean
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "True"}],
    }
    await scim.call("PATCH", f"/Users/{user['id']}", patch)
    bulk = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "PATCH", "path": f"/Users/{user['id']}", "data": patch}],
    }
    await scim.call("POST", "/Bulk", bulk)
    samples = await scrape(client, reader)
    name = "scimlite_idp_quirks_normalised_total"
    assert value(samples, name, kind="boolean_string") == 3
    assert value(samples, name, kind="op_case") == 2


async def test_rate_limited_requests(tmp_path: Any, aiohttp_client: Any) -> None:
    settings = Settings(db_path=tmp_path / "limited.db", auth_failure_limit=2)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    _, secret = await client.app[STORE].create_token("prometheus", "metrics")
    bad = {"Authorization": "Bearer sl_00000000_wrong"}
    statuses = [(await client.get("/scim/v2/Users", headers=bad)).status for _ in range(4)]
    assert statuses == [401, 401, 429, 429]
    samples = await scrape(client, secret)
    assert value(samples, "scimlite_rate_limited_requests_total") == 2


async def test_writer_wait_database_size_journal_rows_and_token_use(
    client: TestClient[Any, Any], scim: Scim, reader: str
) -> None:
    before = await scrape(client, reader)
    for i in range(3):
        await scim.create_user(f"u{i}@example.com")
    await client.app[STORE].create_token("entra", "scim")
    await client.app[STORE].revoke_token("entra")
    samples = await scrape(client, reader)
    waits = "scimlite_writer_wait_seconds_count"
    assert value(samples, waits) - value(before, waits) >= 3  # one per write, at least
    assert value(samples, "scimlite_database_bytes", file="main") > 0
    assert value(samples, "scimlite_journal_rows") == 3
    used = "scimlite_token_last_used_timestamp_seconds"
    live = {dict(labels)["token"] for (n, labels) in samples if n == used}
    assert live == {"test-idp", "prometheus"}  # the revoked one is gone
    assert value(samples, used, token="test-idp", scope="scim") > 1_700_000_000
