"""POST /Bulk (RFC 7644 §3.7): parsing, bulkId ordering, per-operation outcomes, limits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.keys import STORE
from scimlite.scim import bulk
from scimlite.scim.errors import InvalidSyntax, PayloadTooLarge, ScimError
from tests import oracle
from tests.support import (
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    journal_entries,
)
from tests.support.scim import Scim

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"


def _request(*operations: Any, **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK_REQUEST], "Operations": list(operations), **extra}


def _post_user(bulk_id: str, user_name: str, **attrs: Any) -> dict[str, Any]:
    data = {"schemas": [USER_SCHEMA], "userName": user_name, **attrs}
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data}


def _post_group(bulk_id: str, name: str, members: list[str]) -> dict[str, Any]:
    data = {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": m} for m in members],
    }
    return {"method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": data}


def _patch(path: str, *ops: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "method": "PATCH",
        "path": path,
        "data": {"schemas": [PATCH_SCHEMA], "Operations": list(ops)},
    }
    if version is not None:
        op["version"] = version
    return op


async def _bulk(scim: Scim, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = await scim.call("POST", "/Bulk", body)
    oracle.bulk_response(response)
    assert response["schemas"] == [BULK_RESPONSE]
    operations: list[dict[str, Any]] = response["Operations"]
    return operations


# --- pure parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param([], "JSON object", id="not-an-object"),
        pytest.param({"Operations": [{}]}, "schemas", id="no-schema"),
        pytest.param({"schemas": [BULK_REQUEST]}, "Operations", id="no-operations"),
        pytest.param(_request(), "Operations", id="empty-operations"),
        pytest.param(_request("x"), "Operations[0] must be an object", id="op-not-object"),
        pytest.param(_request({"method": "GET", "path": "/Users"}), "method", id="unknown-method"),
        pytest.param(_request({"method": "DELETE"}), "path", id="no-path"),
        pytest.param(
            _request({"method": "POST", "path": "/Users", "data": {}}),
            "needs a bulkId",
            id="post-without-bulkid",
        ),
        pytest.param(
            _request({"method": "PUT", "path": "/Users/1"}), "data object", id="put-without-data"
        ),
        pytest.param(
            _request({"method": "DELETE", "path": "/Users/1", "version": 3}),
            "version",
            id="version-not-a-string",
        ),
        pytest.param(
            _request(_post_user("a", "x"), _post_user("a", "y")),
            'bulkId "a" is used by more than one',
            id="duplicate-bulkid",
        ),
        pytest.param(
            _request(_post_user("a", "x"), failOnErrors=0), "failOnErrors", id="fail-on-errors-0"
        ),
        pytest.param(
            _request(_post_user("a", "x"), failOnErrors=True),
            "failOnErrors",
            id="fail-on-errors-bool",
        ),
    ],
)
def test_parse_rejects(body: Any, message: str) -> None:
    with pytest.raises(InvalidSyntax, match=message.replace("[", r"\[").replace("]", r"\]")):
        bulk.parse_bulk(body)


def test_parse_limits_operations_with_413() -> None:
    body = _request(*[_post_user(f"u{i}", f"u{i}") for i in range(3)])
    with pytest.raises(PayloadTooLarge, match="maxOperations"):
        bulk.parse_bulk(body, max_operations=2)


def test_parse_reads_members_case_insensitively_and_finds_references() -> None:
    raw = {
        "SCHEMAS": [BULK_REQUEST.upper()],
        "operations": [
            {
                "Method": "patch",
                "Path": "/Groups/bulkId:g",
                "Version": 'W/"2"',
                "Data": {
                    "schemas": [PATCH_SCHEMA],
                    "Operations": [
                        {"op": "remove", "path": 'members[value eq "bulkId:u1"]'},
                        {"op": "add", "path": "members", "value": [{"value": "bulkId:u2"}]},
                        {"op": "add", "path": "title", "value": "not bulkId:u3 at all"},
                    ],
                },
            }
        ],
    }
    [op] = bulk.parse_bulk(raw).operations
    assert op.method == "PATCH"
    assert op.version == 'W/"2"'
    assert op.refs == {"g", "u1", "u2"}


def test_substitute_replaces_only_references() -> None:
    ids = {"u1": "id-1", "g": "id-g"}
    data = {
        "members": [{"value": "bulkId:u1"}, {"value": "bulkId:unknown"}],
        "path": 'members[value eq "bulkId:u1"]',
        "title": "bulkId:u1 is mentioned here",
    }
    assert bulk.substitute(data, ids) == {
        "members": [{"value": "id-1"}, {"value": "bulkId:unknown"}],
        "path": 'members[value eq "id-1"]',
        "title": "bulkId:u1 is mentioned here",
    }
    assert bulk.substitute("/Groups/bulkId:g", ids, in_path=True) == "/Groups/id-g"


def test_plan_orders_forward_references_and_keeps_request_order_otherwise() -> None:
    ops = bulk.parse_bulk(
        _request(
            _post_group("g", "team", ["bulkId:u2", "bulkId:u1"]),
            _post_user("u1", "one"),
            {"method": "DELETE", "path": "/Users/x"},
            _post_user("u2", "two"),
        )
    ).operations
    plan = bulk.plan(ops)
    assert [op.index for op in plan.ordered] == [1, 2, 3, 0]
    assert plan.circular == []


def test_plan_finds_circular_references() -> None:
    ops = bulk.parse_bulk(
        _request(
            _post_user("u", "one", groups=[{"value": "bulkId:g"}]),
            _post_group("g", "team", ["bulkId:u"]),
            _post_user("free", "free"),
            _patch("/Groups/bulkId:g", {"op": "add", "path": "displayName", "value": "x"}),
        )
    ).operations
    plan = bulk.plan(ops)
    assert [op.index for op in plan.ordered] == [2]
    assert [op.index for op in plan.circular] == [0, 1, 3]


def test_operation_result_wire_form() -> None:
    [op] = bulk.parse_bulk(_request(_post_user("a", "x"))).operations
    ok = bulk.OperationResult(op, 201, location="https://h/scim/v2/Users/1", version='W/"1"')
    assert ok.wire() == {
        "method": "POST",
        "bulkId": "a",
        "version": 'W/"1"',
        "location": "https://h/scim/v2/Users/1",
        "status": "201",
    }
    failed = bulk.OperationResult(op, 409, error=ScimError("taken", status=409))
    assert failed.wire()["status"] == "409"
    assert_scim_error(failed.wire()["response"], 409)


# --- over HTTP -----------------------------------------------------------------------------


async def test_bulk_needs_a_token(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/scim/v2/Bulk", json=_request(_post_user("a", "x")))
    assert resp.status == 401


async def test_group_before_its_members_resolves_bulk_ids(scim: Scim) -> None:
    # RFC 7644 §3.7.2: references may point at operations later in the request.
    results = await _bulk(
        scim,
        _request(
            _post_group("team", "Engineering", ["bulkId:alice", "bulkId:bob"]),
            _post_user("alice", "alice@example.com"),
            _post_user("bob", "bob@example.com"),
        ),
    )
    assert [(r["bulkId"], r["status"]) for r in results] == [
        ("team", "201"),
        ("alice", "201"),
        ("bob", "201"),
    ]
    for r in results:
        assert r["method"] == "POST"
        assert r["version"] == 'W/"1"' or r["bulkId"] == "team"
    group = await scim.call("GET", results[0]["location"].split("/scim/v2")[1])
    oracle.group(group)
    user_ids = {r["location"].rsplit("/", 1)[1] for r in results[1:]}
    assert {m["value"] for m in group["members"]} == user_ids
    assert group["meta"]["version"] == results[0]["version"]


async def test_put_patch_delete_in_bulk(scim: Scim) -> None:
    alice = await scim.create_user("alice@example.com")
    bob = await scim.create_user("bob@example.com")
    team = await scim.create_group("Team", [alice["id"]])
    alice = await scim.call("GET", f"/Users/{alice['id']}")  # joining the team bumped it
    results = await _bulk(
        scim,
        _request(
            {
                "method": "PUT",
                "path": f"/Users/{alice['id']}",
                "version": alice["meta"]["version"],
                "data": {"schemas": [USER_SCHEMA], "userName": "alice@example.com", "title": "CTO"},
            },
            _patch(
                f"/Groups/{team['id']}",
                {"op": "add", "path": "members", "value": [{"value": "bulkId:carol"}]},
                {"op": "remove", "path": f'members[value eq "{alice["id"]}"]'},
                {"op": "replace", "path": "displayName", "value": "Renamed"},
            ),
            _post_user("carol", "carol@example.com"),
            {"method": "DELETE", "path": f"/Users/{bob['id']}"},
        ),
    )
    assert [r["status"] for r in results] == ["200", "200", "201", "204"]
    assert results[3]["location"].endswith(f"/Users/{bob['id']}")
    assert (await scim.call("GET", f"/Users/{alice['id']}"))["title"] == "CTO"
    group = await scim.call("GET", f"/Groups/{team['id']}")
    assert group["displayName"] == "Renamed"
    carol_id = results[2]["location"].rsplit("/", 1)[1]
    assert [m["value"] for m in group["members"]] == [carol_id]
    assert group["meta"]["version"] == results[1]["version"]
    await scim.call("GET", f"/Users/{bob['id']}", status=404)


async def test_failing_operations_roll_back_alone(scim: Scim, client: TestClient[Any, Any]) -> None:
    taken = await scim.create_user("taken@example.com")
    results = await _bulk(
        scim,
        _request(
            _post_user("dup", "TAKEN@example.com"),
            _post_user("ok", "ok@example.com"),
            {
                "method": "DELETE",
                "path": f"/Users/{taken['id']}",
                "version": 'W/"41"',
            },
            {"method": "DELETE", "path": "/Users/no-such-user"},
            {"method": "DELETE", "path": "/Devices/1"},
            {"method": "POST", "path": "/Users/abc", "bulkId": "p", "data": {}},
            _post_group("g", "team", ["bulkId:dup"]),
            _post_group("h", "team2", ["bulkId:nobody"]),
        ),
    )
    statuses = [r["status"] for r in results]
    assert statuses == ["409", "201", "412", "404", "404", "400", "409", "400"]
    for r in results:
        if r["status"] != "201":
            assert_scim_error(r["response"], int(r["status"]), r["response"].get("scimType"))
            oracle.error(r["response"])
    assert results[0]["response"]["scimType"] == "uniqueness"
    assert 'bulkId "dup"' in results[6]["response"]["detail"]
    assert "nobody" in results[7]["response"]["detail"]
    page = await scim.call("GET", "/Users")
    assert sorted(u["userName"] for u in page["Resources"]) == [
        "ok@example.com",
        "taken@example.com",
    ]
    assert (await scim.call("GET", "/Groups"))["totalResults"] == 0
    journal = await journal_entries(client.app[STORE], limit=20)
    failed = [(e.method, e.path, e.status) for e in journal if e.status >= 400]
    assert ("POST", "/scim/v2/Users", 409) in failed
    assert ("DELETE", f"/scim/v2/Users/{taken['id']}", 412) in failed


async def test_circular_references_are_409(scim: Scim) -> None:
    results = await _bulk(
        scim,
        _request(
            _post_user("u", "u@example.com", groups=[{"value": "bulkId:g"}]),
            _post_group("g", "team", ["bulkId:u"]),
            _post_user("free", "free@example.com"),
        ),
    )
    assert [r["status"] for r in results] == ["409", "409", "201"]
    assert "circular" in results[0]["response"]["detail"]
    assert (await scim.call("GET", "/Users"))["totalResults"] == 1


async def test_fail_on_errors_stops_processing(scim: Scim) -> None:
    # RFC 7644 §3.7.3: after failOnErrors errors the rest is not performed.
    results = await _bulk(
        scim,
        _request(
            _post_user("a", "a@example.com"),
            {"method": "DELETE", "path": "/Users/missing-1"},
            _post_user("b", "b@example.com"),
            {"method": "DELETE", "path": "/Users/missing-2"},
            _post_user("c", "c@example.com"),
            failOnErrors=2,
        ),
    )
    assert [r["status"] for r in results] == ["201", "404", "201", "404"]
    page = await scim.call("GET", "/Users")
    assert sorted(u["userName"] for u in page["Resources"]) == ["a@example.com", "b@example.com"]


async def test_invalid_bulk_request_is_400(scim: Scim) -> None:
    body = await scim.call("POST", "/Bulk", {"Operations": []}, status=400)
    assert_scim_error(body, 400, "invalidSyntax")
    oracle.error(body)


async def test_max_operations_in_bounded_transactions(scim: Scim) -> None:
    """An initial sync: 999 users and one team of all of them, in one request."""
    users = [
        _post_user(f"u{i}", f"user{i:04d}@example.com") for i in range(bulk.MAX_OPERATIONS - 1)
    ]
    team = _post_group("all", "Everyone", [f"bulkId:u{i}" for i in range(len(users))])
    started = time.monotonic()
    results = await _bulk(scim, _request(team, *users))
    elapsed = time.monotonic() - started
    assert len(results) == bulk.MAX_OPERATIONS
    assert {r["status"] for r in results} == {"201"}
    group = await scim.call("GET", results[0]["location"].split("/scim/v2")[1])
    assert len(group["members"]) == bulk.MAX_OPERATIONS - 1
    assert elapsed < 60, f"1000 operations took {elapsed:.1f}s"
