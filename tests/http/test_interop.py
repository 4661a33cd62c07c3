"""Requests real clients send that RFC 7643/7644 do not describe (issue #15).

Each test sends the request as its public source shows it, and cites that source. What is
accepted is answered in strict RFC form and noted in the journal; docs/scim.md lists it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp.test_utils import TestClient

from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support import ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, journal_entries, patch_ops
from tests.support.scim import Scim


def _ids(items: list[dict[str, Any]] | None) -> set[str]:
    return {item["value"] for item in items or []}


async def _quirks(client: TestClient[Any, Any]) -> list[str]:
    entry = (await journal_entries(client.app[STORE], limit=1))[0]
    assert entry.status < 400, entry
    return entry.quirks


# --- 1. LiteLLM: a user's teams changed by PATCH /Users/{id} on "groups" ------------------


async def test_litellm_patch_user_groups_add_then_filtered_remove(
    client: TestClient[Any, Any], scim: Scim
) -> None:
    """BerriAI/litellm tests/test_litellm/proxy/management_endpoints/scim/
    test_scim_patch_user.py (test_patch_user_manages_group_memberships and
    test_apply_patch_ops_remove_group_filtered_path_without_value): `add` on path `groups`
    with `[{"value": team_id}]`, then `remove` of `groups[value eq "team_id"]` without a
    value. Both sides' versions move; the journal records the membership change."""
    user = await scim.create_user("litellm@example.com")
    team = await scim.create_group("LiteLLM team")
    added = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "add", "path": "groups", "value": [{"value": team["id"]}]}),
    )
    assert _ids(added["groups"]) == {team["id"]}
    assert added["meta"]["version"] == 'W/"2"'
    roster = await scim.call("GET", f"/Groups/{team['id']}")
    assert _ids(roster["members"]) == {user["id"]}
    assert roster["meta"]["version"] == 'W/"2"'
    entry = (await journal_entries(client.app[STORE], resource_id=user["id"], limit=1))[0]
    assert entry.changes == [{"path": "groups", "op": "add", "values": [team["id"]]}]

    removed = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "remove", "path": f'groups[value eq "{team["id"]}"]'}),
    )
    assert _ids(removed.get("groups")) == set()
    assert removed["meta"]["version"] == 'W/"3"'
    roster = await scim.call("GET", f"/Groups/{team['id']}")
    assert _ids(roster.get("members")) == set()
    assert roster["meta"]["version"] == 'W/"3"'


async def test_patch_user_groups_replace_sets_exactly_those_teams(scim: Scim) -> None:
    """`replace` of `groups` (LiteLLM's test_scim_patch_user.py replaces the team set)."""
    user = await scim.create_user("teams@example.com")
    a, b = await scim.create_group("A"), await scim.create_group("B")
    await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "add", "path": "groups", "value": [{"value": a["id"]}]}),
    )
    replaced = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "replace", "path": "groups", "value": [{"value": b["id"]}]}),
    )
    assert _ids(replaced["groups"]) == {b["id"]}
    assert _ids((await scim.call("GET", f"/Groups/{a['id']}")).get("members")) == set()


async def test_patch_user_groups_with_an_unknown_team_changes_nothing(scim: Scim) -> None:
    """The PUT extension's rule: a team that does not exist is a 400 naming it."""
    user = await scim.create_user("nobody@example.com")
    body = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "add", "path": "groups", "value": [{"value": "no-such-team"}]}),
        status=400,
    )
    assert "no-such-team" in body["detail"]
    again = await scim.call("GET", f"/Users/{user['id']}")
    assert again["meta"]["version"] == 'W/"1"'


# --- 2. Entra ID's gallery validator: every mapped attribute is in /Schemas ---------------


def _flatten(schema: dict[str, Any]) -> set[str]:
    names = set()
    for attr in schema["attributes"]:
        names.add(attr["name"])
        names.update(f"{attr['name']}.{sub['name']}" for sub in attr.get("subAttributes", []))
    return names


@pytest.mark.parametrize(
    ("urn", "mapped"),
    [
        pytest.param(USER_SCHEMA, {"userName", "externalId", "active", "name.givenName"}),
        pytest.param(GROUP_SCHEMA, {"displayName", "externalId", "members"}),
    ],
)
async def test_entra_schema_discovery_lists_external_id(
    client: TestClient[Any, Any], urn: str, mapped: set[str]
) -> None:
    """Microsoft's SCIMReferenceCode validation workflow (Entra's gallery "schema
    discoverability" check) flattens /Schemas and requires every attribute the default
    mappings use; externalId is among them. RFC 7643 §3.1 calls it common, so listing it in
    the User and Group schemas is allowed."""
    resp = await client.get(f"/scim/v2/Schemas/{urn}")
    assert resp.status == 200
    doc = await resp.json(content_type=None)
    assert mapped <= _flatten(doc)
    (external_id,) = [a for a in doc["attributes"] if a["name"] == "externalId"]
    assert external_id["mutability"] == "readWrite" and external_id["caseExact"] is True


# --- 3. Base URLs pasted with a trailing slash --------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param('/scim/v2/Users/?filter=userName eq "slash@example.com"', id="trailing"),
        pytest.param('/scim/v2//Users?filter=userName eq "slash@example.com"', id="double"),
    ],
)
async def test_trailing_and_double_slashes_are_folded(scim: Scim, path: str) -> None:
    """IdPs append "/Users" to the base URL as the admin typed it (issue #15 item 3: "admins
    paste base URLs ending in /"), so requests arrive as `/scim/v2//Users` or
    `/scim/v2/Users/?filter=…`."""
    user = await scim.create_user("slash@example.com")
    resp = await scim.client.get(path, headers=scim.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json(content_type=None)
    assert [r["id"] for r in body["Resources"]] == [user["id"]]
    one = await scim.client.get(f"/scim/v2//Users/{user['id']}/", headers=scim.headers)
    assert one.status == 200
    public = await scim.client.get("/scim/v2//ServiceProviderConfig/")  # no token needed
    assert public.status == 200


# --- 4. Members a PatchOp does not define ------------------------------------------------


async def test_microsoft_named_operation_and_body_id_are_ignored_and_noted(
    client: TestClient[Any, Any], scim: Scim
) -> None:
    """Microsoft SCIMReferenceCode's Postman collection (as quoted in issue #15) adds a
    member with `"name": "addMember"` beside op/path/value, and sends the group's `"id"` at
    the top of the PATCH body. Neither changes the operation: ignored, and journaled."""
    user = await scim.create_user("member@example.com")
    team = await scim.create_group("Reference")
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "id": team["id"],
        "Operations": [
            {
                "name": "addMember",
                "op": "add",
                "path": "members",
                "value": [{"displayName": "member", "value": user["id"]}],
            }
        ],
    }
    patched = await scim.call("PATCH", f"/Groups/{team['id']}", body)
    assert _ids(patched["members"]) == {user["id"]}
    assert await _quirks(client) == [
        'PATCH body: ignored unknown member "id"',
        'Operations[0]: ignored unknown member "name"',
    ]


# --- 5. A value filter inside `attributes` -------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(
            'emails[type eq "work"]',
            [{"value": "work@example.com", "type": "work", "primary": True}],
            id="values",
        ),
        pytest.param('emails[type eq "work"].value', [{"value": "work@example.com"}], id="sub"),
        pytest.param(
            'userName,emails[type eq "work" or value co ","].value',
            [{"value": "work@example.com"}, {"value": "a,b@example.com"}],
            id="comma-inside-filter",
        ),
    ],
)
async def test_attributes_with_a_value_filter_return_the_selected_values(
    scim: Scim, attributes: str, expected: list[dict[str, Any]]
) -> None:
    """Microsoft SCIMReferenceCode's Postman collection (as quoted in issue #15) reads a
    user with `attributes=emails[type eq "work"]`: the PATCH path form, which RFC 7644 §3.9
    does not define for `attributes`. The values the filter selects are returned."""
    emails = [
        {"value": "work@example.com", "type": "work", "primary": True},
        {"value": "home@example.com", "type": "home"},
        {"value": "a,b@example.com", "type": "other"},
    ]
    user = await scim.create_user("filtered@example.com", emails=emails)
    got = await scim.call("GET", f"/Users/{user['id']}", params={"attributes": attributes})
    assert got["emails"] == expected
    assert ("userName" in got) == attributes.startswith("userName")


async def test_attributes_with_a_value_filter_on_a_missing_attribute_is_400(scim: Scim) -> None:
    body = await scim.call("GET", "/Users", params={"attributes": 'shoes[type eq "x"]'}, status=400)
    assert body["scimType"] == "invalidValue"


# --- 6. A dot after the extension URN in a PATCH path ------------------------------------


async def test_dotted_extension_path_reads_as_the_colon_form(
    client: TestClient[Any, Any], scim: Scim
) -> None:
    """Microsoft SCIMReferenceCode's inbound-provisioning collection (as quoted in issue #15)
    patches `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager`."""
    manager = await scim.create_user("boss@example.com")
    user = await scim.create_user("report@example.com")
    path = f"{ENTERPRISE_SCHEMA}.manager"
    patched = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "replace", "path": path, "value": {"value": manager["id"]}}),
    )
    assert patched[ENTERPRISE_SCHEMA]["manager"]["value"] == manager["id"]
    assert await _quirks(client) == [
        f'Operations[0]: path "{path}" read as "{ENTERPRISE_SCHEMA}:manager"'
    ]


# --- 7. A bare string among the values of a multi-valued complex attribute ---------------


async def test_bare_string_entitlement_reads_as_its_value(
    client: TestClient[Any, Any], scim: Scim
) -> None:
    """LiteLLM's SCIM tests (BerriAI/litellm tests/test_litellm/proxy/management_endpoints/
    scim/, as quoted in issue #15) send `"entitlements": ["premium", {"value": "x"}]`."""
    user = await scim.create_user("premium@example.com", entitlements=["premium", {"value": "x"}])
    assert user["entitlements"] == [{"value": "premium"}, {"value": "x"}]
    assert await _quirks(client) == ['"entitlements" value "premium" read as {"value": "premium"}']


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "T", "members": ["u"]}),
        pytest.param("/Users", {"schemas": [USER_SCHEMA], "userName": "g@x", "groups": ["t"]}),
    ],
)
async def test_bare_string_member_stays_refused(scim: Scim, path: str, body: Any) -> None:
    """A member or team given as a bare string could be an id or a name: reading it would
    guess, so it stays a 400 (docs/scim.md, "Kept strict")."""
    await scim.call("POST", path, body, status=400)


# --- 8. The base URL itself: the root query, and where discovery is -----------------------


@pytest.mark.parametrize("path", ["/scim/v2", "/scim/v2/"])
async def test_get_base_url_is_the_root_query_with_discovery_links(scim: Scim, path: str) -> None:
    """RFC 7644 §3.4.2.1: a GET on the server root queries every resource type (issue #15
    item 8: a client given only the base URL GETs it, with or without the trailing "/")."""
    user = await scim.create_user("root@example.com")
    team = await scim.create_group("Root team")
    resp = await scim.client.get(path, headers=scim.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json(content_type=None)
    assert body["totalResults"] == 2
    assert [r["id"] for r in body["Resources"]] == [user["id"], team["id"]]
    assert '/scim/v2/ResourceTypes>; rel="describedby"' in resp.headers["Link"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        pytest.param('meta.resourceType eq "Group"', ["Group"], id="groups"),
        pytest.param('meta.resourceType eq "User"', ["User"], id="users"),
        pytest.param('meta.resourceType ne "User"', ["Group"], id="ne"),
        pytest.param(
            'meta.resourceType eq "Group" and displayName sw "Ro"', ["Group"], id="and-filter"
        ),
        pytest.param(
            'meta.resourceType eq "Group" or meta.resourceType eq "User"',
            ["User", "Group"],
            id="or",
        ),
        pytest.param('meta.resourceType eq "Device"', [], id="no-such-type"),
    ],
)
@pytest.mark.parametrize("how", ["GET /", "POST /.search"])
async def test_root_query_filters_by_resource_type(
    scim: Scim, flt: str, expected: list[str], how: str
) -> None:
    """RFC 7644 §3.4.2.1 root query narrowed by `meta.resourceType` (issue #15 item 8): no
    table stores it, so each resource type answers it for itself."""
    await scim.create_user("root@example.com")
    await scim.create_user("other@example.com")
    await scim.create_group("Root team")
    if how == "GET /":
        body = await scim.call("GET", "/", params={"filter": flt})
    else:
        search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
        body = await scim.call("POST", "/.search", {**search, "filter": flt})
    kinds = [r["meta"]["resourceType"] for r in body["Resources"]]
    assert sorted(set(kinds)) == sorted(expected)
    assert body["totalResults"] == len(kinds)
    if expected == ["User"]:
        assert len(kinds) == 2


# --- 9. SCIM 1.1 names ---------------------------------------------------------------------


async def test_scim11_service_configuration_is_the_service_provider_config(
    client: TestClient[Any, Any],
) -> None:
    """SCIM 1.1 (its §8.1) calls the document `/ServiceConfiguration`; connectors built on it
    (OneLogin's SCIM 1.1 templates, as quoted in issue #15) still ask for
    `/serviceConfiguration`. Public, like the document it names (RFC 7644 §4)."""
    alias = await client.get("/scim/v2/serviceConfiguration")
    assert alias.status == 200
    plain = await client.get("/scim/v2/ServiceProviderConfig")
    assert await alias.json(content_type=None) == await plain.json(content_type=None)


async def test_onelogin_core_schema_1_0_on_v2_is_read_as_the_v2_core_schema(
    client: TestClient[Any, Any], scim: Scim
) -> None:
    """OneLogin's "SCIM Provisioner with SAML (Core Schema v1.1)" template (OneLogin's
    connector documentation, as quoted in issue #15) sends `"schemas":
    ["urn:scim:schemas:core:1.0"]` with a v2-shaped body to a v2 endpoint."""
    body = {
        "schemas": ["urn:scim:schemas:core:1.0"],
        "userName": "onelogin@example.com",
        "name": {"givenName": "One", "familyName": "Login"},
        "emails": [{"value": "onelogin@example.com", "primary": True}],
        "active": True,
    }
    created = await scim.call("POST", "/Users", body, status=201)
    assert created["schemas"] == [USER_SCHEMA]
    assert created["name"] == {"givenName": "One", "familyName": "Login"}
    assert await _quirks(client) == [f'schema urn:scim:schemas:core:1.0 read as "{USER_SCHEMA}"']
    team = {"schemas": ["urn:scim:schemas:core:1.0"], "displayName": "OneLogin team"}
    assert (await scim.call("POST", "/Groups", team, status=201))["schemas"] == [GROUP_SCHEMA]


async def test_core_schema_1_0_with_a_scim11_extension_is_refused(scim: Scim) -> None:
    """A SCIM 1.1 extension is not v2-shaped (its manager is `managerId`): reading the body
    as v2 would guess, so it is a 400 naming the schema."""
    ext = "urn:scim:schemas:extension:enterprise:1.0"
    body = {
        "schemas": ["urn:scim:schemas:core:1.0", ext],
        "userName": "v1@example.com",
        ext: {"manager": {"managerId": "m-1"}},
    }
    error = await scim.call("POST", "/Users", body, status=400)
    assert error["scimType"] == "invalidValue" and ext in error["detail"]


# --- 10. Member references that no longer exist --------------------------------------------


async def _skipping_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    policy: Literal["reject", "skip"],
) -> Scim:
    settings = Settings(db_path=tmp_path / "scimlite.db", unknown_members=policy)
    client = await aiohttp_client(create_app(settings))
    _, secret = await client.app[STORE].create_token("idp", "scim")
    return Scim(client, secret)


def _add_members(*ids: str) -> dict[str, Any]:
    """Entra ID's group PATCH (RFC 7644 §3.5.2.1 form; tests/samples/entra), one batch."""
    return patch_ops(
        {"op": "Add", "path": "members", "value": [{"value": member} for member in ids]}
    )


async def test_unknown_member_refuses_the_whole_patch_by_default(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], tmp_path: Path
) -> None:
    """SCIMLITE_UNKNOWN_MEMBERS=reject (the default): a typo must not half-apply."""
    scim = await _skipping_client(aiohttp_client, tmp_path, "reject")
    kept = await scim.create_user("kept@example.com")
    team = await scim.create_group("Batch")
    error = await scim.call("PATCH", f"/Groups/{team['id']}", _add_members(kept["id"], "gone"), 400)
    assert "'gone'" in error["detail"]
    assert _ids((await scim.call("GET", f"/Groups/{team['id']}")).get("members")) == set()


@pytest.mark.parametrize("via", ["PATCH", "Bulk"])
async def test_skip_applies_the_rest_and_journals_the_skipped_ids(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], tmp_path: Path, via: str
) -> None:
    """SCIMLITE_UNKNOWN_MEMBERS=skip: a PATCH /Groups add naming a user deleted a moment ago
    adds the others, and the journal names the user it skipped (issue #15 item 10)."""
    scim = await _skipping_client(aiohttp_client, tmp_path, "skip")
    kept = await scim.create_user("kept@example.com")
    deleted = await scim.create_user("deleted@example.com")
    await scim.call("DELETE", f"/Users/{deleted['id']}", status=204)
    team = await scim.create_group("Batch")
    body = _add_members(kept["id"], deleted["id"])
    if via == "PATCH":
        await scim.call("PATCH", f"/Groups/{team['id']}", body)
    else:
        bulk = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "PATCH", "path": f"/Groups/{team['id']}", "data": body}],
        }
        result = await scim.call("POST", "/Bulk", bulk)
        assert result["Operations"][0]["status"] == "200", result
    assert _ids((await scim.call("GET", f"/Groups/{team['id']}"))["members"]) == {kept["id"]}
    entry = (await journal_entries(scim.client.app[STORE], resource_id=team["id"], limit=1))[0]
    assert entry.quirks[-1] == (
        f"skipped 1 unknown user id(s) (SCIMLITE_UNKNOWN_MEMBERS=skip): '{deleted['id']}'"
    )
    assert entry.changes == [{"path": "members", "op": "add", "values": [kept["id"]]}]


# --- Kept strict -----------------------------------------------------------------------------


async def test_unquoted_filter_value_stays_invalid_filter(scim: Scim) -> None:
    """`userName sw OMalley` (issue #15, "Keep strict"): without quotes the value's type and
    end are unknown, so accepting it would guess (RFC 7644 §3.4.2.2 quotes strings)."""
    body = await scim.call("GET", "/Users", params={"filter": "userName sw OMalley"}, status=400)
    assert body["scimType"] == "invalidFilter"
