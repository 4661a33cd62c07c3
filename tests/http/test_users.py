"""/Users: create, read, replace, delete (RFC 7644 §3.3–3.6) with RFC 7643 §4.1 attributes."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store.rows import fetch_all
from tests.support import ENTERPRISE_SCHEMA, USER_SCHEMA, assert_scim_error, patch_ops, sample
from tests.support.scim import Scim

# The seed README's example request, verbatim.
SEED_CREATE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "user@example.com",
    "active": True,
    "emails": [{"value": "user@example.com", "primary": True}],
}


async def test_seed_create_user_answers_201_with_location_and_meta(scim: Scim) -> None:
    resp = await scim.request("POST", "/Users", SEED_CREATE)
    assert resp.status == 201
    assert resp.content_type == "application/scim+json"
    body = await resp.json(content_type=None)
    assert body["userName"] == "user@example.com"
    assert body["schemas"] == [USER_SCHEMA]
    assert body["emails"] == [{"value": "user@example.com", "primary": True}]
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == resp.headers["Location"]
    assert meta["location"].endswith(f"/scim/v2/Users/{body['id']}")
    assert meta["version"] == 'W/"1"' == resp.headers["ETag"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", meta["created"])
    assert meta["created"] == meta["lastModified"]


async def test_every_rfc7643_user_attribute_round_trips(scim: Scim) -> None:
    full = sample("rfc7643/user_full.json")
    created = await scim.call("POST", "/Users", full, status=201)
    fetched = await scim.call("GET", f"/Users/{created['id']}")
    expected = copy.deepcopy(full)
    del expected["password"]
    for key, value in expected.items():
        if key != "schemas":
            assert fetched[key] == value, key
    assert set(fetched["schemas"]) == {USER_SCHEMA, ENTERPRISE_SCHEMA}


async def test_password_is_accepted_and_never_returned(scim: Scim) -> None:
    created = await scim.create_user("pw@example.com", password="s3cret!")
    assert "password" not in created
    fetched = await scim.call("GET", f"/Users/{created['id']}")
    assert "password" not in fetched


@pytest.mark.sqlite_only
async def test_password_is_not_in_the_file(scim: Scim, settings: Settings) -> None:
    await scim.create_user("pw2@example.com", password="unmistakable-secret-value")
    files = [settings.db_path, Path(f"{settings.db_path}-wal")]
    stored = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"pw2@example.com" in stored
    assert b"unmistakable-secret-value" not in stored


async def test_password_is_not_stored(scim: Scim) -> None:
    await scim.create_user("pw3@example.com", password="unmistakable-secret-value")
    async with scim.client.app[STORE].db.read() as conn:
        rows = await fetch_all(conn, "SELECT * FROM users")
        journal = await fetch_all(conn, "SELECT changes, quirks, detail FROM journal")
    stored = repr([tuple(r) for r in rows + journal])
    assert "pw3@example.com" in stored
    assert "unmistakable-secret-value" not in stored


async def test_get_unknown_user_is_404(scim: Scim) -> None:
    body = await scim.call("GET", "/Users/does-not-exist", status=404)
    assert_scim_error(body, 404)


async def test_put_replaces_the_user_and_bumps_version(scim: Scim) -> None:
    created = await scim.create_user("put@example.com", title="Engineer", nickName="P")
    replaced = await scim.call(
        "PUT",
        f"/Users/{created['id']}",
        {
            "schemas": [USER_SCHEMA],
            "userName": "put@example.com",
            "title": "Manager",
        },
    )
    assert replaced["title"] == "Manager"
    assert "nickName" not in replaced
    assert replaced["meta"]["version"] == 'W/"2"'
    assert replaced["meta"]["created"] == created["meta"]["created"]


async def test_put_ignores_read_only_attributes(scim: Scim) -> None:
    created = await scim.create_user("ro@example.com")
    replaced = await scim.call(
        "PUT",
        f"/Users/{created['id']}",
        {
            "schemas": [USER_SCHEMA],
            "userName": "ro@example.com",
            "id": "forged",
            "meta": {"created": "1999-01-01T00:00:00Z"},
        },
    )
    assert replaced["id"] == created["id"]
    assert replaced["meta"]["created"] == created["meta"]["created"]


async def test_put_unknown_user_is_404(scim: Scim) -> None:
    body = await scim.call(
        "PUT", "/Users/nope", {"schemas": [USER_SCHEMA], "userName": "x"}, status=404
    )
    assert_scim_error(body, 404)


async def test_delete_answers_204_then_404(scim: Scim) -> None:
    created = await scim.create_user("del@example.com")
    await scim.call("DELETE", f"/Users/{created['id']}", status=204)
    await scim.call("GET", f"/Users/{created['id']}", status=404)
    body = await scim.call("DELETE", f"/Users/{created['id']}", status=404)
    assert_scim_error(body, 404)


@pytest.mark.parametrize(
    "taken",
    [
        pytest.param("dup@example.com", id="same"),
        pytest.param("DUP@Example.COM", id="other-case"),
    ],
)
async def test_duplicate_user_name_is_409_uniqueness(scim: Scim, taken: str) -> None:
    await scim.create_user("dup@example.com")
    body = await scim.call(
        "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": taken}, status=409
    )
    assert_scim_error(body, 409, "uniqueness")


async def test_put_onto_another_users_name_is_409_and_changes_nothing(scim: Scim) -> None:
    await scim.create_user("first@example.com")
    second = await scim.create_user("second@example.com")
    body = await scim.call(
        "PUT",
        f"/Users/{second['id']}",
        {
            "schemas": [USER_SCHEMA],
            "userName": "FIRST@example.com",
        },
        status=409,
    )
    assert_scim_error(body, 409, "uniqueness")
    again = await scim.call("GET", f"/Users/{second['id']}")
    assert again["userName"] == "second@example.com"
    assert again["meta"]["version"] == 'W/"1"'


async def test_unicode_user_names_are_unique_after_nfc_and_casefold(scim: Scim) -> None:
    await scim.create_user("jos\u00e9@example.com")
    body = await scim.call(
        "POST",
        "/Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "JOSE\u0301@example.com",
        },
        status=409,
    )
    assert_scim_error(body, 409, "uniqueness")


BAD_BODIES: list[Any] = [
    pytest.param({"schemas": [USER_SCHEMA]}, 400, "invalidValue", id="missing-userName"),
    pytest.param(
        {"schemas": [USER_SCHEMA], "userName": "   "}, 400, "invalidSyntax", id="blank-userName"
    ),
    pytest.param({"userName": "a"}, 400, "invalidValue", id="missing-schemas"),
    pytest.param(
        {"schemas": ["urn:other"], "userName": "a"}, 400, "invalidValue", id="wrong-schema"
    ),
    pytest.param(
        {"schemas": [USER_SCHEMA], "userName": 42}, 400, "invalidSyntax", id="userName-number"
    ),
    pytest.param(
        {"schemas": [USER_SCHEMA], "userName": "a", "active": "maybe"},
        400,
        "invalidSyntax",
        id="active-not-boolean",
    ),
    pytest.param(
        {"schemas": [USER_SCHEMA], "userName": "a", "emails": "a@b"},
        400,
        "invalidSyntax",
        id="emails-not-list",
    ),
    pytest.param(
        {
            "schemas": [USER_SCHEMA],
            "userName": "a",
            "emails": [{"value": "a", "primary": True}, {"value": "b", "primary": True}],
        },
        400,
        "invalidSyntax",
        id="two-primaries",
    ),
    pytest.param(
        {"schemas": [USER_SCHEMA], "userName": "a", "name": "Ada"},
        400,
        "invalidSyntax",
        id="name-not-object",
    ),
    pytest.param(["not", "an", "object"], 400, "invalidSyntax", id="array-body"),
]


@pytest.mark.parametrize(("body", "status", "scim_type"), BAD_BODIES)
async def test_bad_user_bodies_get_scim_errors_and_create_nothing(
    scim: Scim, body: Any, status: int, scim_type: str
) -> None:
    error = await scim.call("POST", "/Users", body, status=status)
    assert_scim_error(error, status, scim_type)
    listing = await scim.call("GET", "/Users")
    assert listing["totalResults"] == 0


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"userName": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="deeply-nested"),
    ],
)
async def test_unparsable_bodies_are_400_invalid_syntax(scim: Scim, raw: bytes) -> None:
    resp = await scim.client.post(
        "/scim/v2/Users",
        data=raw,
        headers={**scim.headers, "Content-Type": "application/scim+json"},
    )
    assert resp.status == 400
    assert_scim_error(await resp.json(content_type=None), 400, "invalidSyntax")


async def test_plain_application_json_is_accepted(scim: Scim) -> None:
    resp = await scim.request(
        "POST",
        "/Users",
        {"schemas": [USER_SCHEMA], "userName": "j@x"},
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 201


async def test_attribute_names_are_case_insensitive(scim: Scim) -> None:
    created = await scim.call(
        "POST",
        "/Users",
        {
            "SCHEMAS": [USER_SCHEMA],
            "USERNAME": "ci@example.com",
            "Name": {"GIVENNAME": "Ci"},
        },
        status=201,
    )
    assert created["userName"] == "ci@example.com"
    assert created["name"] == {"givenName": "Ci"}


async def test_entra_string_booleans_are_read_as_booleans(scim: Scim) -> None:
    created = await scim.create_user("entra@example.com", active="False")
    assert created["active"] is False


async def test_entra_bare_manager_id_is_normalised(scim: Scim) -> None:
    created = await scim.create_user(
        "mgr@example.com", **{ENTERPRISE_SCHEMA: {"manager": "boss-1"}}
    )
    assert created[ENTERPRISE_SCHEMA]["manager"] == {"value": "boss-1"}
    assert ENTERPRISE_SCHEMA in created["schemas"]


async def test_unknown_attributes_are_ignored(scim: Scim) -> None:
    created = await scim.create_user("unk@example.com", favouriteColour="blue")
    assert "favouriteColour" not in created


async def test_u0000_is_refused_alike_on_every_backend(scim: Scim) -> None:
    """PostgreSQL cannot store U+0000; SQLite could, but both answer alike: a value holding
    it is 400 naming the attribute, an id holding it names nothing, and nothing changes."""
    body = {"schemas": [USER_SCHEMA], "userName": "nul@example.com", "title": "a\u0000b"}
    error = await scim.call("POST", "/Users", body, status=400)
    assert '"title" contains U+0000' in error["detail"]
    user = await scim.create_user("ok@example.com")
    nul_title = patch_ops({"op": "replace", "path": "title", "value": "\u0000"})
    await scim.call("PATCH", f"/Users/{user['id']}", nul_title, status=400)
    await scim.call(
        "PATCH", "/Users/a%00b", patch_ops({"op": "remove", "path": "title"}), status=404
    )
    await scim.call("DELETE", "/Users/a%00b", status=404)
    team = await scim.create_group("T")
    add = patch_ops({"op": "add", "path": "members", "value": [{"value": "a\u0000b"}]})
    error = await scim.call("PATCH", f"/Groups/{team['id']}", add, status=400)
    assert "no user with id" in error["detail"]
    listed = await scim.call("GET", "/Users")
    assert [u["userName"] for u in listed["Resources"]] == ["ok@example.com"]
