"""schemathesis against the OpenAPI document a live server serves at /openapi.json.

Invariants, for every operation and every generated (valid or invalid) request: never a
5xx; every 4xx/5xx is an RFC 7644 §3.12 Error in application/scim+json; and the server still
answers its health check afterwards. Examples are bounded to keep CI short.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from scimlite.api import SCIM_PREFIX, openapi
from scimlite.app import add_scim_routes
from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support import ANY_SCIM_TYPE, USER_SCHEMA, assert_scim_error, request
from tests.support.threaded import ThreadedApp


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedApp]:
    db: Path = tmp_path_factory.mktemp("schemathesis") / "st.db"
    with ThreadedApp(Settings(db_path=db, auth_failure_limit=10_000)) as app:
        yield app


@pytest.fixture(scope="module")
def token(live: ThreadedApp) -> str:
    return live.token("schemathesis")


@pytest.fixture(scope="module")
def api(live: ThreadedApp) -> Any:
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


def test_openapi_json_is_public_and_documents_every_scim_route(live: ThreadedApp) -> None:
    status, headers, body = request("GET", f"{live.url}/openapi.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    doc = json.loads(body)
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [
        {"url": "/scim/v2", "description": "this server"}
    ]
    user = doc["components"]["schemas"]["User"]
    assert user["required"] == ["schemas", "userName"]
    assert user["properties"]["groups"]["items"]["readOnly"] is True
    assert user["properties"]["password"]["writeOnly"] is True
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert enterprise in user["properties"]
    # api.route() patterns also match extra and trailing slashes; the documented path is plain.
    app = web.Application()
    add_scim_routes(app)
    routes = {
        res.canonical.removeprefix(SCIM_PREFIX).replace("/{_lead}", "/").replace("{_trail}", "")
        or "/"
        for res in app.router.resources()
    }
    undocumented = {r for r in routes if r not in doc["paths"] and not r.startswith("/Me")}
    assert not undocumented


def _scim_errors_only(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """Every error under /scim/v2 is a SCIM Error body (RFC 7644 §3.12)."""
    if response.status_code >= 400:
        headers = {k.lower(): v[0] for k, v in response.headers.items()}
        assert_scim_error(response.content, response.status_code, ANY_SCIM_TYPE, headers=headers)
    return None


def _cases() -> list[Any]:
    """Every operation of the document (built in-process for the ids), positive and negative.

    Negative cases need something to break: a free-form string in the path cannot be made
    invalid, so discovery operations (no body, no other parameter) get positive cases only.
    """
    doc = openapi.document(Settings())
    cases = []
    for path, item in doc["paths"].items():
        if "servers" in item:  # not under /scim/v2: the events feed has its own test below
            continue
        for method, operation in item.items():
            if method == "parameters":
                continue
            label = f"{method.upper()} {path}"
            params = operation.get("parameters", [])
            has_inputs = "requestBody" in operation or any(p.get("in") != "path" for p in params)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.POSITIVE or has_inputs:
                    cases.append(pytest.param(label, mode, id=f"{mode.value}-{label}"))
    return cases


@pytest.mark.parametrize(("label", "mode"), _cases())
def test_api_never_fails_and_errors_are_scim(
    label: str, mode: GenerationMode, api: Any, live: ThreadedApp, token: str
) -> None:
    method, path = label.split(" ", 1)
    operation = next(
        op
        for result in api.get_all_operations()
        for op in [result.ok()]
        if op.method.upper() == method and op.path == path
    )
    auth = {"Authorization": f"Bearer {token}"}

    @given(operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case[Any]) -> None:
        response = case.call(base_url=f"{live.url}/scim/v2", headers=auth)
        case.validate_response(response, checks=[not_a_server_error, _scim_errors_only])

    check()
    assert request("GET", f"{live.url}/healthz")[0] == 200


def _plain_errors_only(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """The events feed's errors are plain JSON with the status and a detail (docs/events.md)."""
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert body["status"] == response.status_code and body["detail"], body
    return None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_events_feed_never_fails_and_answers_as_documented(
    mode: GenerationMode, api: Any, live: ThreadedApp
) -> None:
    """GET /api/v1/events against its own entry (servers: /api/v1): never a 5xx, errors in
    plain JSON, and what it answers fits the documented schema."""
    assert live.runner is not None
    store = live.runner.app[STORE]
    _, secret = live.run(store.create_token(f"fuzz-events-{mode.value}", "events"))
    user = json.dumps({"schemas": [USER_SCHEMA], "userName": f"fuzzed-{mode.value}"}).encode()
    headers = {"Authorization": f"Bearer {live.token(f'idp-{mode.value}')}"}
    assert request("POST", f"{live.url}/scim/v2/Users", user, headers)[0] == 201
    operation = next(
        op for result in api.get_all_operations() for op in [result.ok()] if op.path == "/events"
    )
    auth = {"Authorization": f"Bearer {secret}"}

    @given(operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Case[Any]) -> None:
        if case.query and "wait" in case.query:
            case.query["wait"] = 0  # a long poll would only make the run slow
        response = case.call(base_url=f"{live.url}/api/v1", headers=auth)
        checks = [not_a_server_error, _plain_errors_only, response_schema_conformance]
        case.validate_response(response, checks=checks)

    check()
