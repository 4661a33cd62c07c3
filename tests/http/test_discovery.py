"""Discovery (RFC 7644 §4) and the test that keeps it honest: every advertised feature works,
and every attribute /Schemas describes round-trips through POST and GET."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.scim.bulk import MAX_OPERATIONS
from scimlite.settings import Settings
from tests import oracle
from tests.support import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    SCIM_JSON,
    USER_SCHEMA,
    assert_scim_error,
)
from tests.support.scim import Scim

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
DISCOVERY = ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"]
DISCOVERY_ITEMS = [*DISCOVERY, "/ResourceTypes/User", f"/Schemas/{USER_SCHEMA}"]


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    # Non-default limits prove the documents read them from Settings.
    return Settings(db_path=tmp_path / "scimlite.db", max_count=7, max_body_bytes=300_000)


async def _public(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    """GET without a token: discovery is public (RFC 7644 §4)."""
    resp = await client.get(f"/scim/v2{path}")
    assert resp.status == status, await resp.text()
    assert resp.content_type == SCIM_JSON
    return await resp.json()


# --- the documents -----------------------------------------------------------------------


async def test_service_provider_config(client: TestClient[Any, Any]) -> None:
    spc = await _public(client, "/ServiceProviderConfig")
    oracle.service_provider_config(spc)
    assert spc["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert spc["patch"] == {"supported": True}
    assert spc["bulk"] == {
        "supported": True,
        "maxOperations": MAX_OPERATIONS,
        "maxPayloadSize": 300_000,
    }
    assert spc["filter"] == {"supported": True, "maxResults": 7}
    assert spc["changePassword"] == {"supported": False}
    assert spc["sort"] == {"supported": True}
    assert spc["etag"] == {"supported": True}
    [scheme] = spc["authenticationSchemes"]
    assert scheme["type"] == "oauthbearertoken" and scheme["primary"] is True
    assert spc["meta"]["resourceType"] == "ServiceProviderConfig"
    assert spc["meta"]["location"].endswith("/scim/v2/ServiceProviderConfig")


async def test_resource_types(client: TestClient[Any, Any]) -> None:
    body = await _public(client, "/ResourceTypes")
    oracle.resource_types(body)
    assert body["totalResults"] == 2
    by_id = {r["id"]: r for r in body["Resources"]}
    assert by_id["User"]["endpoint"] == "/Users"
    assert by_id["User"]["schema"] == USER_SCHEMA
    assert by_id["User"]["schemaExtensions"] == [{"schema": ENTERPRISE_SCHEMA, "required": False}]
    assert by_id["Group"]["endpoint"] == "/Groups"
    assert by_id["Group"]["schema"] == GROUP_SCHEMA
    for rt in body["Resources"]:
        assert rt["meta"]["location"].endswith(f"/scim/v2/ResourceTypes/{rt['id']}")
        one = await _public(client, f"/ResourceTypes/{rt['id']}")
        oracle.resource_type(one)
        assert one == rt


async def test_schemas(client: TestClient[Any, Any]) -> None:
    body = await _public(client, "/Schemas")
    oracle.schemas(body)
    ids = [s["id"] for s in body["Resources"]]
    assert ids == [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA]
    for doc in body["Resources"]:
        assert doc["meta"] == {
            "resourceType": "Schema",
            "location": doc["meta"]["location"],
        }
        assert doc["meta"]["location"].endswith(f"/scim/v2/Schemas/{doc['id']}")
        one = await _public(client, f"/Schemas/{doc['id']}")
        oracle.schema(one)
        assert one == doc
    # Schema URNs compare case-insensitively.
    assert (await _public(client, f"/Schemas/{USER_SCHEMA.upper()}"))["id"] == USER_SCHEMA


def _walk(attributes: list[dict[str, Any]], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    for attr in attributes:
        out.append((prefix + attr["name"], attr))
        out.extend(_walk(attr.get("subAttributes", []), prefix + attr["name"] + "."))
    return out


async def test_attribute_definitions_have_rfc7643_section7_form(
    client: TestClient[Any, Any],
) -> None:
    body = await _public(client, "/Schemas")
    keys = {"name", "type", "multiValued", "description", "required", "caseExact"}
    keys |= {"mutability", "returned", "uniqueness"}
    for doc in body["Resources"]:
        for path, attr in _walk(doc["attributes"]):
            assert keys <= attr.keys(), path
            assert attr["description"], path
            assert ("subAttributes" in attr) == (attr["type"] == "complex"), path
            assert ("referenceTypes" in attr) == (attr["type"] == "reference"), path
    user = {p: a for p, a in _walk(body["Resources"][0]["attributes"])}
    assert user["userName"]["uniqueness"] == "server" and user["userName"]["required"]
    assert user["password"]["returned"] == "never"
    assert user["password"]["mutability"] == "writeOnly"
    assert user["groups"]["mutability"] == "readOnly"
    assert user["emails.type"]["canonicalValues"] == ["work", "home", "other"]
    assert user["groups.$ref"]["referenceTypes"] == ["Group"]


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        pytest.param("/ResourceTypes/Device", "Device", id="resource-type"),
        pytest.param("/Schemas/urn:example:nope", "urn:example:nope", id="schema"),
    ],
)
async def test_unknown_discovery_item_is_404(
    client: TestClient[Any, Any], path: str, detail: str
) -> None:
    body = await _public(client, path, 404)
    assert_scim_error(body, 404)
    assert detail in body["detail"]


@pytest.mark.parametrize("path", DISCOVERY_ITEMS)
async def test_filter_on_discovery_is_403(client: TestClient[Any, Any], path: str) -> None:
    # RFC 7644 §4: "the service provider SHOULD respond with HTTP status code 403".
    resp = await client.get(f"/scim/v2{path}", params={"filter": 'id eq "User"'})
    assert resp.status == 403
    body = await resp.json()
    assert_scim_error(body, 403)
    oracle.error(body)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", DISCOVERY_ITEMS)
async def test_other_methods_on_discovery_are_405(
    client: TestClient[Any, Any], method: str, path: str
) -> None:
    resp = await client.request(method, f"/scim/v2{path}", json={})
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert_scim_error(await resp.json(), 405)


async def test_discovery_accepts_a_token_too(scim: Scim) -> None:
    spc = await scim.call("GET", "/ServiceProviderConfig")
    assert spc["patch"]["supported"] is True


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "POST"])
async def test_me_is_501(scim: Scim, method: str) -> None:
    body = await scim.call(method, "/Me", {} if method != "GET" else None, status=501)
    assert_scim_error(body, 501)
    oracle.error(body)


async def test_me_needs_a_token(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/scim/v2/Me")
    assert resp.status == 401


# --- every advertised feature works -------------------------------------------------------


async def test_advertised_patch_works(scim: Scim) -> None:
    user = await scim.create_user("patch@example.com")
    body = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    patched = await scim.call("PATCH", f"/Users/{user['id']}", body)
    oracle.user(patched, oracle.PATCHED)
    assert patched["active"] is False


async def test_advertised_bulk_works_within_its_limits(scim: Scim) -> None:
    spc = await scim.call("GET", "/ServiceProviderConfig")
    limit = spc["bulk"]["maxOperations"]
    ops = [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": f"u{i}",
            "data": {"schemas": [USER_SCHEMA], "userName": f"bulk{i}@example.com"},
        }
        for i in range(limit + 1)
    ]
    too_many = await scim.call(
        "POST", "/Bulk", {"schemas": [BULK_REQUEST], "Operations": ops}, status=413
    )
    assert_scim_error(too_many, 413)
    ok = await scim.call("POST", "/Bulk", {"schemas": [BULK_REQUEST], "Operations": ops[:2]})
    oracle.bulk_response(ok)
    assert [o["status"] for o in ok["Operations"]] == ["201", "201"]
    # maxPayloadSize: a body one byte over the limit is refused with a SCIM 413.
    resp = await scim.request(
        "POST",
        "/Bulk",
        headers={"Content-Type": SCIM_JSON},
        data=b" " * (spc["bulk"]["maxPayloadSize"] + 1),
    )
    assert resp.status == 413
    assert_scim_error(await resp.json(), 413)


async def test_advertised_filter_and_max_results(scim: Scim) -> None:
    spc = await scim.call("GET", "/ServiceProviderConfig")
    max_results = spc["filter"]["maxResults"]
    for i in range(max_results + 2):
        await scim.create_user(f"f{i:02d}@example.com")
    page = await scim.call("GET", "/Users", params={"count": str(max_results + 5)})
    oracle.users(page)
    assert page["totalResults"] == max_results + 2
    assert page["itemsPerPage"] == max_results
    found = await scim.call("GET", "/Users", params={"filter": 'userName eq "F03@example.com"'})
    assert [u["userName"] for u in found["Resources"]] == ["f03@example.com"]


async def test_advertised_sort(scim: Scim) -> None:
    for name in ("b@example.com", "c@example.com", "a@example.com"):
        await scim.create_user(name)
    page = await scim.call(
        "GET", "/Users", params={"sortBy": "userName", "sortOrder": "descending"}
    )
    assert [u["userName"] for u in page["Resources"]] == [
        "c@example.com",
        "b@example.com",
        "a@example.com",
    ]


async def test_advertised_pagination_both_ways(scim: Scim) -> None:
    spc = await scim.call("GET", "/ServiceProviderConfig")
    paging = spc["pagination"]
    assert (paging["cursor"], paging["index"]) == (True, True)
    for name in ("p1@example.com", "p2@example.com", "p3@example.com"):
        await scim.create_user(name)
    first = await scim.call("GET", "/Users", params={"cursor": "", "count": "2"})
    rest = await scim.call("GET", "/Users", params={"cursor": first["nextCursor"], "count": "2"})
    by_index = await scim.call("GET", "/Users", params={"startIndex": "3", "count": "2"})
    assert [u["userName"] for u in rest["Resources"]] == ["p3@example.com"]
    assert rest["Resources"] == by_index["Resources"]
    assert paging["maxPageSize"] == spc["filter"]["maxResults"]


async def test_advertised_etag(scim: Scim) -> None:
    user = await scim.create_user("etag@example.com")
    version = user["meta"]["version"]
    resp = await scim.request("GET", f"/Users/{user['id']}", headers={"If-None-Match": version})
    assert resp.status == 304
    stale = {"schemas": [USER_SCHEMA], "userName": "etag@example.com", "title": "x"}
    body = await scim.call(
        "PUT", f"/Users/{user['id']}", stale, status=412, headers={"If-Match": 'W/"999"'}
    )
    assert_scim_error(body, 412)


async def test_change_password_false_password_never_stored(scim: Scim) -> None:
    user = await scim.create_user("pw@example.com", password="s3cret!")
    assert "password" not in user
    fetched = await scim.call("GET", f"/Users/{user['id']}")
    assert "password" not in fetched


async def test_advertised_bearer_scheme(client: TestClient[Any, Any], scim: Scim) -> None:
    resp = await client.get("/scim/v2/Users")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    await scim.call("GET", "/Users")


# --- every attribute in /Schemas round-trips ---------------------------------------------


def _skipped(attr: dict[str, Any]) -> bool:
    return bool(attr["mutability"] == "readOnly" or attr["returned"] == "never")


def _value(attr: dict[str, Any], where: str, overrides: dict[str, Any]) -> Any:
    """A value of the attribute's type (RFC 7643 §2.3), from its definition alone."""
    if where in overrides:
        return overrides[where]
    if attr["type"] == "complex":
        item = {
            s["name"]: _value(s, f"{where}.{s['name']}", overrides)
            for s in attr["subAttributes"]
            if not _skipped(s)
        }
        return [item] if attr["multiValued"] else item
    if attr.get("canonicalValues"):
        value: Any = attr["canonicalValues"][-1]
    elif attr["type"] == "boolean":
        value = True
    elif attr["type"] == "reference":
        value = f"https://example.com/{where}"
    elif attr["type"] == "binary":
        value = "TUlJQ2V4YW1wbGU="  # base64 (RFC 7643 §2.3.6)
    elif attr["type"] == "integer":
        value = 42
    elif attr["type"] == "decimal":
        value = 4.2
    elif attr["type"] == "dateTime":
        value = "2024-05-06T07:08:09Z"
    else:
        value = f"{where}-value"
    return [value] if attr["multiValued"] else value


def _resource(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        a["name"]: _value(a, a["name"], overrides) for a in doc["attributes"] if not _skipped(a)
    }


async def test_every_schema_attribute_round_trips(scim: Scim) -> None:
    schemas = {s["id"]: s for s in (await scim.call("GET", "/Schemas"))["Resources"]}
    member = await scim.create_user("member@example.com")
    base = str(scim.client.make_url("/scim/v2"))
    sent_user = {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        **_resource(schemas[USER_SCHEMA], {"userName": "every.attribute@example.com"}),
        ENTERPRISE_SCHEMA: _resource(schemas[ENTERPRISE_SCHEMA], {}),
    }
    sent_group = {
        "schemas": [GROUP_SCHEMA],
        **_resource(
            schemas[GROUP_SCHEMA],
            {"members.value": member["id"], "members.$ref": f"{base}/Users/{member['id']}"},
        ),
    }
    assert len(sent_user) - 1 + len(sent_user[ENTERPRISE_SCHEMA]) >= 25  # the schema is not trivial
    for path, sent in (("/Users", sent_user), ("/Groups", sent_group)):
        created = await scim.call("POST", path, sent, status=201)
        fetched = await scim.call("GET", f"{path}/{created['id']}")
        for name, value in sent.items():
            if name == "schemas":
                continue
            for got in (created, fetched):
                returned = got[name]
                if name == "members":  # display is computed (readOnly)
                    returned = [{k: v for k, v in m.items() if k != "display"} for m in returned]
                assert returned == value, name
