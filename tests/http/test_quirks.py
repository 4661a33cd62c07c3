"""IdP quirks are journaled in the same words by POST, PUT, PATCH and /Bulk (scim/leniency.py).

PATCH prefixes each note with its operation (`Operations[0]: `); the rest must be the text a
POST or PUT of the same value records, so the journal reads alike whichever way it came.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.keys import STORE
from tests.support import ENTERPRISE_SCHEMA, USER_SCHEMA, journal_entries
from tests.support.scim import Scim

BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# (attribute path for PATCH, value as an IdP sends it, the body attributes of a POST/PUT,
#  the note every path must journal)
CASES = [
    pytest.param(
        "active",
        "False",
        {"active": "False"},
        '"active" string "False" read as boolean false',
        id="boolean-as-text",
    ),
    pytest.param(
        f"{ENTERPRISE_SCHEMA}:manager",
        "m-1",
        {ENTERPRISE_SCHEMA: {"manager": "m-1"}},
        f'"{ENTERPRISE_SCHEMA}:manager" given as a bare id, read as {{"value": id}}',
        id="bare-manager-id",
    ),
    pytest.param(
        "emails",
        [{"value": "a@example.com", "primary": "True"}],
        {"emails": [{"value": "a@example.com", "primary": "True"}]},
        '"emails.primary" string "True" read as boolean true',
        id="primary-as-text",
    ),
    pytest.param(
        "name",
        {"GivenName": "Ada"},
        {"name": {"GivenName": "Ada"}},
        '"name.GivenName" read as "name.givenName"',
        id="sub-attribute-case",
    ),
    pytest.param(
        "entitlements",
        ["premium", {"value": "x"}],
        {"entitlements": ["premium", {"value": "x"}]},
        '"entitlements" value "premium" read as {"value": "premium"}',
        id="bare-string-value",  # LiteLLM's SCIM tests (issue #15 item 7)
    ),
]


async def _last_quirks(client: TestClient[Any, Any]) -> list[str]:
    entry = (await journal_entries(client.app[STORE], limit=1))[0]
    assert entry.status < 400, entry
    return [re.sub(r"^Operations\[\d+\]: ", "", q) for q in entry.quirks]


def _user(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": name, **attrs}


def _patch(path: str, value: Any) -> dict[str, Any]:
    return {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": path, "value": value}],
    }


async def _bulk(scim: Scim, method: str, path: str, data: dict[str, Any]) -> None:
    op: dict[str, Any] = {"method": method, "path": path, "data": data}
    if method == "POST":
        op["bulkId"] = "b1"
    body = {"schemas": [BULK_SCHEMA], "Operations": [op]}
    result = await scim.call("POST", "/Bulk", body)
    assert result["Operations"][0]["status"] in ("200", "201"), result


@pytest.mark.parametrize(("path", "value", "attrs", "note"), CASES)
async def test_post_put_patch_and_bulk_journal_the_same_quirk(
    client: TestClient[Any, Any],
    scim: Scim,
    path: str,
    value: Any,
    attrs: dict[str, Any],
    note: str,
) -> None:
    seen: dict[str, list[str]] = {}
    await scim.call("POST", "/Users", _user("post@example.com", attrs), status=201)
    seen["POST"] = await _last_quirks(client)
    user = await scim.create_user("put@example.com")
    await scim.call("PUT", f"/Users/{user['id']}", _user("put@example.com", attrs))
    seen["PUT"] = await _last_quirks(client)
    await scim.call("PATCH", f"/Users/{user['id']}", _patch(path, value))
    seen["PATCH"] = await _last_quirks(client)
    await _bulk(scim, "POST", "/Users", _user("bulk@example.com", attrs))
    seen["Bulk POST"] = await _last_quirks(client)
    await _bulk(scim, "PUT", f"/Users/{user['id']}", _user("put@example.com", attrs))
    seen["Bulk PUT"] = await _last_quirks(client)
    await _bulk(scim, "PATCH", f"/Users/{user['id']}", _patch(path, value))
    seen["Bulk PATCH"] = await _last_quirks(client)
    assert seen == {key: [note] for key in seen}
