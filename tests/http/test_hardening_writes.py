"""Issue #12, the write paths: bounded values, linear PATCH, clipped echoes, Bulk journaling,
visible userNames, one Okta rule, If-Match lists, 415 for other media types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.api.handlers import bulk as bulk_handler
from scimlite.keys import STORE
from scimlite.scim import patch as scim_patch
from scimlite.scim.errors import NoTarget
from scimlite.scim.schema import MAX_VALUES, USER_RESOURCE
from scimlite.store import Store, WriteContext
from scimlite.store.database import Batch
from tests.support import USER_SCHEMA, assert_scim_error, journal_entries, patch_ops
from tests.support.scim import Scim

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def _emails(n: int, prefix: str = "e") -> list[dict[str, Any]]:
    return [{"value": f"{prefix}{i}@example.com", "type": "work"} for i in range(n)]


def _bulk(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [BULK_REQUEST], "Operations": list(operations)}


async def _write(scim: Scim, how: str, user_id: str, attr: str, values: Any) -> dict[str, Any]:
    """Set `attr` of the user through one of the four write paths; returns the error body."""
    put = {"schemas": [USER_SCHEMA], "userName": "bound@example.com", attr: values}
    patch = patch_ops({"op": "replace", "path": attr, "value": values})
    if how == "POST":
        body = {**put, "userName": "other@example.com"}
        return dict(await scim.call("POST", "/Users", body, status=400))
    if how == "PUT":
        return dict(await scim.call("PUT", f"/Users/{user_id}", put, status=400))
    if how == "PATCH":
        return dict(await scim.call("PATCH", f"/Users/{user_id}", patch, status=400))
    op = {"method": "PATCH", "path": f"/Users/{user_id}", "data": patch}
    result = await scim.call("POST", "/Bulk", _bulk(op))
    assert result["Operations"][0]["status"] == "400"
    return dict(result["Operations"][0]["response"])


# --- finding 4: bounded multi-valued attributes, linear PATCH -------------------------------


@pytest.mark.parametrize("how", ["POST", "PUT", "PATCH", "Bulk"])
@pytest.mark.parametrize(
    ("attr", "values"),
    [
        ("emails", _emails(MAX_VALUES + 1)),
        ("phoneNumbers", [{"value": f"+1 555 {i:04}"} for i in range(MAX_VALUES + 1)]),
        ("roles", [{"value": f"role-{i}"} for i in range(MAX_VALUES + 1)]),
    ],
)
async def test_more_values_than_the_limit_are_rejected_on_every_write_path(
    scim: Scim, client: TestClient[Any, Any], how: str, attr: str, values: list[Any]
) -> None:
    user = await scim.create_user("bound@example.com", emails=_emails(1))
    error = await _write(scim, how, user["id"], attr, values)
    assert_scim_error(error, 400, "invalidValue")
    assert f'"{attr}" has {MAX_VALUES + 1} values' in error["detail"]
    assert f"at most {MAX_VALUES}" in error["detail"]
    after = await scim.call("GET", f"/Users/{user['id']}")
    assert after["meta"]["version"] == user["meta"]["version"]
    assert after["emails"] == user["emails"]
    assert (await scim.call("GET", "/Users"))["totalResults"] == 1


async def test_exactly_the_limit_is_accepted(scim: Scim) -> None:
    user = await scim.create_user("full@example.com", emails=_emails(MAX_VALUES))
    assert len(user["emails"]) == MAX_VALUES
    body = patch_ops({"op": "replace", "path": "emails", "value": _emails(MAX_VALUES, "f")})
    patched = await scim.call("PATCH", f"/Users/{user['id']}", body)
    assert [e["value"] for e in patched["emails"]][-1] == f"f{MAX_VALUES - 1}@example.com"


async def test_team_members_are_not_bounded(scim: Scim, client: TestClient[Any, Any]) -> None:
    store = client.app[STORE]
    ids = []
    async with store.batch() as batch:
        for i in range(MAX_VALUES + 1):
            ctx = WriteContext("test", "POST", "/scim/v2/Users")
            ids.append((await store.users.create({"userName": f"m{i}"}, None, ctx, batch=batch)).id)
    team = await scim.create_group("big", ids)
    assert len(team["members"]) == MAX_VALUES + 1


class _Counted(dict[str, Any]):
    """A stored value that counts how often PATCH looks at it (equality and reads)."""

    looks = 0

    def __eq__(self, other: object) -> bool:
        _Counted.looks += 1
        return dict.__eq__(self, other)

    __hash__ = None

    def get(self, key: str, default: Any = None) -> Any:
        _Counted.looks += 1
        return dict.get(self, key, default)


def _counted_doc(n: int) -> dict[str, Any]:
    return {"userName": "u", "emails": [_Counted(e) for e in _emails(n)]}


def _apply(doc: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    ops, _ = scim_patch.parse_patch(patch_ops(*operations))
    _Counted.looks = 0
    return scim_patch.apply_patch(USER_RESOURCE, doc, ops).doc


def test_adding_values_checks_duplicates_without_comparing_every_pair() -> None:
    doc = _apply(
        _counted_doc(MAX_VALUES),
        {"op": "add", "path": "emails", "value": _emails(MAX_VALUES // 2, "f") + _emails(2)},
    )
    assert len(doc["emails"]) == MAX_VALUES + MAX_VALUES // 2  # the two repeats were skipped
    assert _Counted.looks <= 4 * MAX_VALUES  # pairwise would be 500,000


def test_filtered_operations_do_not_rescan_every_value() -> None:
    ops = [
        {"op": "replace", "path": f'emails[value eq "E{i}@EXAMPLE.com"].display', "value": f"d{i}"}
        for i in range(0, MAX_VALUES, 10)
    ]
    doc = _apply(_counted_doc(MAX_VALUES), *ops)
    assert [e.get("display") for e in doc["emails"][:11]] == ["d0", *[None] * 9, "d10"]
    assert _Counted.looks <= 4 * MAX_VALUES  # a scan per operation would be 100,000


def test_filtered_removals_and_changes_are_seen_by_later_operations() -> None:
    doc = _apply(
        {"userName": "u", "emails": _emails(5)},
        {"op": "replace", "path": 'emails[value eq "e1@example.com"].value', "value": "x@y"},
        {"op": "remove", "path": 'emails[value eq "e2@example.com"]'},
        {"op": "add", "path": "emails", "value": [{"value": "e2@example.com", "type": "home"}]},
        {"op": "replace", "path": 'emails[value eq "x@y"].type', "value": "other"},
        {"op": "replace", "path": 'emails[value eq "e2@example.com"].display', "value": "back"},
    )
    assert doc["emails"] == [
        {"value": "e0@example.com", "type": "work"},
        {"value": "x@y", "type": "other"},
        {"value": "e3@example.com", "type": "work"},
        {"value": "e4@example.com", "type": "work"},
        {"value": "e2@example.com", "type": "home", "display": "back"},
    ]
    with pytest.raises(NoTarget):
        _apply(doc, {"op": "remove", "path": 'emails[value eq "e1@example.com"]'})


# --- finding 12: clipped echoes -------------------------------------------------------------


async def test_a_huge_value_is_clipped_in_the_error_and_the_journal(
    scim: Scim, client: TestClient[Any, Any]
) -> None:
    huge = "a" * 1_000_000 + "@example.com"
    await scim.create_user(huge)
    body = {"schemas": [USER_SCHEMA], "userName": huge}
    error = await scim.call("POST", "/Users", body, status=409)
    assert_scim_error(error, 409, "uniqueness")
    assert len(error["detail"]) < 2_000
    assert "more characters" in error["detail"]
    assert error["detail"].endswith("(userName is compared case-insensitively)")
    entries = await journal_entries(client.app[STORE], limit=2)
    assert entries[0].status == 409
    assert entries[0].detail is not None and len(entries[0].detail) < 2_000
    created = entries[1].changes
    assert all(len(json.dumps(c)) < 2_000 for c in created)


async def test_a_replaced_huge_value_is_journaled_clipped(
    scim: Scim, client: TestClient[Any, Any]
) -> None:
    user = await scim.create_user("t@example.com", title="x" * 500_000)
    body = patch_ops({"op": "replace", "path": "title", "value": "y" * 500_000})
    patched = await scim.call("PATCH", f"/Users/{user['id']}", body)
    assert patched["title"] == "y" * 500_000, "the resource itself keeps the whole value"
    [entry] = await journal_entries(client.app[STORE], resource_id=user["id"], limit=1)
    [change] = entry.changes
    assert change["old"].startswith("xxx") and change["new"].startswith("yyy")
    assert len(change["old"]) < 400 and len(change["new"]) < 400


# --- finding 13: Bulk failures journaled as their chunk commits -----------------------------


async def test_bulk_failures_are_journaled_before_the_next_chunk_runs(
    scim: Scim, client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash in chunk 2 (simulated: its transaction cannot start) keeps chunk 1's failures."""
    monkeypatch.setattr(bulk_handler, "CHUNK", 2)
    original = Store.batch
    chunks = 0

    @asynccontextmanager
    async def crashing(self: Store) -> AsyncIterator[Batch]:
        nonlocal chunks
        chunks += 1
        if chunks == 2:
            raise RuntimeError("the process died here")
        async with original(self) as batch:
            yield batch

    monkeypatch.setattr(Store, "batch", crashing)
    operations: list[dict[str, Any]] = [
        {"method": "DELETE", "path": "/Users/gone-1"},
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER_SCHEMA]}},
        {"method": "DELETE", "path": "/Users/gone-2"},
    ]
    resp = await scim.request("POST", "/Bulk", _bulk(*operations))
    assert resp.status == 500
    entries = await journal_entries(client.app[STORE], limit=10)
    failed = {(e.method, e.path, e.status) for e in entries}
    assert ("DELETE", "/scim/v2/Users/gone-1", 404) in failed
    assert ("POST", "/scim/v2/Users", 400) in failed
    assert ("DELETE", "/scim/v2/Users/gone-2", 404) not in failed


# --- finding 15: visible userNames ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        pytest.param(" \u200b ", "whitespace", id="space-zero-width-space"),
        pytest.param("ann\u200b@example.com", "U+200B", id="zero-width-space"),
        pytest.param("\u200fann@example.com", "U+200F", id="rtl-mark"),
        pytest.param("ann\u202e@example.com", "U+202E", id="bidi-override"),
        pytest.param("an\u00adn@example.com", "U+00AD", id="soft-hyphen"),
        pytest.param("ann@example.com\u0000", "U+0000", id="trailing-nul"),
        pytest.param("ann\u0007@example.com", "U+0007", id="bell"),
        pytest.param(" ann@example.com", "whitespace", id="leading-space"),
        pytest.param("ann@example.com\t", "whitespace", id="trailing-tab"),
        pytest.param("\u3000ann@example.com", "whitespace", id="ideographic-space"),
    ],
)
async def test_usernames_with_invisible_characters_are_rejected(
    scim: Scim, client: TestClient[Any, Any], name: str, why: str
) -> None:
    user = await scim.create_user("ann@example.com")
    attempts = [
        ("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": name}),
        ("PUT", f"/Users/{user['id']}", {"schemas": [USER_SCHEMA], "userName": name}),
        (
            "PATCH",
            f"/Users/{user['id']}",
            patch_ops({"op": "replace", "path": "userName", "value": name}),
        ),
    ]
    for method, path, body in attempts:
        error = await scim.call(method, path, body, status=400)
        assert "userName" in error["detail"] and why in error["detail"], error["detail"]
    assert (await scim.call("GET", f"/Users/{user['id']}"))["userName"] == "ann@example.com"
    assert (await scim.call("GET", "/Users"))["totalResults"] == 1


async def test_visible_unicode_names_are_still_accepted(scim: Scim) -> None:
    for name in ("José Müller", "ΣΊΣΥΦΟΣ", "\u0645\u062d\u0645\u062f", "李 小龙", "👍🏿"):
        assert (await scim.create_user(name))["userName"] == name


# --- finding 16: Okta's "groups": [] through /Bulk ------------------------------------------


async def test_bulk_put_with_empty_groups_leaves_teams_alone(scim: Scim) -> None:
    user = await scim.create_user("okta@example.com")
    team = await scim.create_group("team", [user["id"]])
    data = {"schemas": [USER_SCHEMA], "userName": "okta@example.com", "groups": []}
    result = await scim.call(
        "POST", "/Bulk", _bulk({"method": "PUT", "path": f"/Users/{user['id']}", "data": data})
    )
    assert result["Operations"][0]["status"] == "200"
    got = await scim.call("GET", f"/Groups/{team['id']}")
    assert [m["value"] for m in got["members"]] == [user["id"]]


# --- finding 17: If-Match lists, 415 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ('W/"1", W/"2"', 200),
        ('W/"7",W/"1"', 200),
        ('"1"', 200),
        ("*", 200),
        ('W/"7", W/"8"', 412),
        ('W/"x", W/"2"', 412),
    ],
)
async def test_if_match_matches_any_tag_of_a_list(scim: Scim, header: str, status: int) -> None:
    user = await scim.create_user("etag@example.com")
    body = patch_ops({"op": "replace", "path": "title", "value": "new"})
    resp = await scim.request("PATCH", f"/Users/{user['id']}", body, {"If-Match": header})
    assert resp.status == status, await resp.text()
    if status == 412:
        assert_scim_error(await resp.json(content_type=None), 412)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/Users"),
        ("PUT", "/Users/{id}"),
        ("PATCH", "/Users/{id}"),
        ("POST", "/Bulk"),
        ("POST", "/Users/.search"),
        ("POST", "/.search"),
    ],
)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_of_another_media_type_is_415(
    scim: Scim, method: str, path: str, content_type: str
) -> None:
    user = await scim.create_user("ct@example.com")
    body = {"schemas": [USER_SCHEMA], "userName": "ct2@example.com"}
    resp = await scim.request(
        method, path.format(id=user["id"]), body, {"Content-Type": content_type}
    )
    assert resp.status == 415, await resp.text()
    error = await resp.json(content_type=None)
    assert_scim_error(error, 415)
    assert "application/scim+json" in error["detail"] and "application/json" in error["detail"]
    assert (await scim.call("GET", "/Users"))["totalResults"] == 1


@pytest.mark.parametrize(
    "content_type", ["application/scim+json; charset=utf-8", "application/json", None]
)
async def test_scim_json_plain_json_and_no_content_type_are_accepted(
    scim: Scim, client: TestClient[Any, Any], content_type: str | None
) -> None:
    headers = dict(scim.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": "ok@example.com"})
    resp = await client.post(
        "/scim/v2/Users", data=body, headers=headers, skip_auto_headers=["Content-Type"]
    )
    assert resp.status == 201, await resp.text()
    user_id = (await resp.json(content_type=None))["id"]
    resp = await client.delete(f"/scim/v2/Users/{user_id}", headers=scim.headers)
    assert resp.status == 204
