"""Interop: Microsoft Entra ID's and Okta's documented provisioning sequences, replayed.

Request bodies are the vendors' published examples (tests/samples/README.md names the
sources); ids in them are placeholders, swapped for the ids this server issued. Every
response body is also checked by scim2-models in its context.
"""

from __future__ import annotations

from typing import Any

from tests import oracle
from tests.support import PATCH_SCHEMA, assert_scim_error, sample
from tests.support.scim import Scim

# Placeholder ids in the vendors' examples.
ENTRA_MEMBER = "f648f8d5ea4e4cd38e9c"
OKTA_GROUP = "abf4dd94-a4c0-4f67-89c9-76b03340cb9b"
OKTA_USER = "23a35c27-23d3-4c03-b4c5-6443c09e7173"
OKTA_OTHER_USER = "89bb1940-b905-4575-9e7f-6f887cfb368e"


def _with_ids(value: Any, ids: dict[str, str]) -> Any:
    """The sample with placeholder ids replaced, in values and inside PATCH paths."""
    if isinstance(value, str):
        for placeholder, real in ids.items():
            value = value.replace(placeholder, real)
        return value
    if isinstance(value, dict):
        return {k: _with_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_ids(v, ids) for v in value]
    return value


def _okta_user(body: dict[str, Any], context: Any = oracle.QUERIED) -> None:
    """scim2-models refuses Okta's example address: `.local` is special-use (RFC 6762)."""
    oracle.user({k: v for k, v in body.items() if k != "emails"}, context)


async def _patch(scim: Scim, path: str, name: str, ids: dict[str, str] | None = None) -> Any:
    body = _with_ids(sample(name), ids or {})
    result = await scim.call("PATCH", path, body)
    return result


def _okta_users(body: dict[str, Any]) -> None:
    resources = [{k: v for k, v in r.items() if k != "emails"} for r in body["Resources"]]
    oracle.users({**body, "Resources": resources})


async def _find(scim: Scim, endpoint: str, filter_: str, **params: str) -> dict[str, Any]:
    found: dict[str, Any] = await scim.call("GET", endpoint, params={"filter": filter_, **params})
    if endpoint == "/Groups":
        oracle.groups(found)
    elif "okta.local" in filter_:
        _okta_users(found)
    else:
        oracle.users(found)
    return found


async def test_entra_user_lifecycle(scim: Scim) -> None:
    create = sample("sequences/entra/sequence_create_user.json")
    query = f'userName eq "{create["userName"]}"'
    # Entra first asks whether the user exists: zero results, not an error.
    assert (await _find(scim, "/Users", query))["totalResults"] == 0

    user = await scim.call("POST", "/Users", create, status=201)
    oracle.user(user, oracle.CREATED)
    assert user["externalId"] == create["externalId"]
    assert user["emails"] == create["emails"]
    assert user["name"] == create["name"]
    assert "roles" not in user  # an empty list is unassigned (RFC 7643 §2.5)
    path = f"/Users/{user['id']}"
    oracle.user(await scim.call("GET", path))

    found = await _find(scim, "/Users", query)
    assert [u["id"] for u in found["Resources"]] == [user["id"]]
    missing = await scim.call("GET", "/Users/5171a35d82074e068ce2", status=404)
    assert_scim_error(missing, 404)
    oracle.error(missing)

    patched = await _patch(scim, path, "entra/update_user_multi_valued.json")
    oracle.user(patched, oracle.PATCHED)
    assert patched["emails"] == [
        {"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}
    ]
    assert patched["name"]["familyName"] == "updatedFamilyName"

    patched = await _patch(scim, path, "entra/update_user_single_valued.json")
    assert patched["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"

    patched = await _patch(scim, path, "entra/disable_user.json")
    assert patched["active"] is False
    enabled = await scim.call(
        "PATCH",
        path,
        {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "Replace", "path": "active", "value": True}],
        },
    )
    assert enabled["active"] is True
    # Entra's default (without aadOptscim062020) sends "False" as a string.
    patched = await _patch(scim, path, "entra/disable_user_string_false.json")
    assert patched["active"] is False

    await scim.call("DELETE", path, status=204)
    await scim.call("GET", path, status=404)


async def test_entra_group_lifecycle(scim: Scim) -> None:
    member = await scim.create_user("member@example.com")
    create = sample("sequences/entra/sequence_create_group.json")
    query = f'displayName eq "{create["displayName"]}"'
    empty = await _find(scim, "/Groups", query, excludedAttributes="members")
    assert empty["totalResults"] == 0

    group = await scim.call("POST", "/Groups", create, status=201)
    oracle.group(group, oracle.CREATED)
    assert group["displayName"] == "displayName"
    assert group["externalId"] == create["externalId"]
    assert group.get("members", []) == []
    path = f"/Groups/{group['id']}"

    got = await scim.call("GET", path, params={"excludedAttributes": "members"})
    oracle.group(got)
    assert "members" not in got
    found = await _find(scim, "/Groups", query, excludedAttributes="members")
    assert [g["id"] for g in found["Resources"]] == [group["id"]]
    assert "members" not in found["Resources"][0]

    renamed = await _patch(scim, path, "entra/update_group_rename.json")
    oracle.group(renamed, oracle.PATCHED)
    assert renamed["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"

    ids = {ENTRA_MEMBER: member["id"]}
    added = await _patch(scim, path, "entra/update_group_add_members.json", ids)
    assert [m["value"] for m in added["members"]] == [member["id"]]
    user = await scim.call("GET", f"/Users/{member['id']}")
    assert [g["value"] for g in user["groups"]] == [group["id"]]

    removed = await _patch(scim, path, "entra/update_group_remove_members.json", ids)
    assert removed.get("members", []) == []

    await scim.call("DELETE", path, status=204)
    await scim.call("GET", path, status=404)
    assert (await scim.call("GET", f"/Users/{member['id']}")).get("groups", []) == []


async def test_okta_user_lifecycle(scim: Scim) -> None:
    create = sample("sequences/okta/sequence_create_user.json")
    exists = f'userName eq "{create["userName"]}"'
    # Okta's exists-check: filter=userName eq "…"&startIndex=1&count=100.
    page = await _find(scim, "/Users", exists, startIndex="1", count="100")
    assert page["totalResults"] == 0
    assert page["startIndex"] == 1
    assert page["itemsPerPage"] == 0
    assert page["Resources"] == []

    user = await scim.call("POST", "/Users", create, status=201)
    _okta_user(user, oracle.CREATED)
    assert "password" not in user
    assert user["locale"] == "en-US"
    assert user["externalId"] == "00ujl29u0le5T6Aj10h7"
    # Okta expects a 409 when the user already exists.
    again = await scim.call("POST", "/Users", create, status=409)
    assert_scim_error(again, 409, "uniqueness")
    oracle.error(again)

    page = await _find(scim, "/Users", exists, startIndex="1", count="100")
    assert [u["id"] for u in page["Resources"]] == [user["id"]]
    listing = await scim.call("GET", "/Users", params={"startIndex": "1", "count": "100"})
    _okta_users(listing)
    assert listing["totalResults"] == 1

    path = f"/Users/{user['id']}"
    _okta_user(await scim.call("GET", path))
    put = _with_ids(sample("sequences/okta/sequence_update_user_put.json"), {OKTA_USER: user["id"]})
    replaced = await scim.call("PUT", path, put)
    _okta_user(replaced, oracle.REPLACED)
    assert replaced["name"] == {
        "givenName": "Another",
        "middleName": "Excited",
        "familyName": "User",
    }
    assert "locale" not in replaced  # PUT replaces the whole resource (RFC 7644 §3.5.1)

    deactivated = await _patch(scim, path, "okta/deactivate_user.json")
    _okta_user(deactivated, oracle.PATCHED)
    assert deactivated["active"] is False
    assert (await scim.call("GET", path))["active"] is False


async def test_okta_group_push(scim: Scim) -> None:
    user = await scim.create_user("test.user@okta.local")
    other = await scim.create_user("other.user@okta.local")
    group = await scim.call(
        "POST", "/Groups", sample("sequences/okta/sequence_create_group.json"), status=201
    )
    oracle.group(group, oracle.CREATED)
    assert group["displayName"] == "Test SCIMv2"
    path = f"/Groups/{group['id']}"
    ids = {OKTA_GROUP: group["id"], OKTA_USER: user["id"], OKTA_OTHER_USER: other["id"]}

    listing = await scim.call("GET", "/Groups", params={"startIndex": "1", "count": "100"})
    oracle.groups(listing)
    assert [g["id"] for g in listing["Resources"]] == [group["id"]]
    oracle.group(await scim.call("GET", path))

    renamed = await _patch(scim, path, "okta/rename_group.json", ids)
    oracle.group(renamed, oracle.PATCHED)
    assert renamed["id"] == group["id"] and renamed["displayName"] == "Test SCIMv2"

    pushed = await _patch(scim, path, "okta/replace_group_members.json", ids)
    assert sorted(m["value"] for m in pushed["members"]) == sorted([user["id"], other["id"]])
    updated = await _patch(scim, path, "okta/update_group_members.json", ids)
    assert [m["value"] for m in updated["members"]] == [user["id"]]
    assert (await scim.call("GET", f"/Users/{other['id']}")).get("groups", []) == []

    await scim.call("DELETE", path, status=204)
    await scim.call("GET", path, status=404)


async def test_okta_profile_put_keeps_pushed_memberships(scim: Scim) -> None:
    """Okta pushes membership through /Groups and sends every profile PUT with groups: []."""
    user = await scim.create_user("test.user@okta.local")
    team = await scim.create_group("Test SCIMv2", [user["id"]])
    put = _with_ids(sample("sequences/okta/sequence_update_user_put.json"), {OKTA_USER: user["id"]})
    await scim.call("PUT", f"/Users/{user['id']}", put)
    members = (await scim.call("GET", f"/Groups/{team['id']}")).get("members", [])
    assert [m["value"] for m in members] == [user["id"]]
