"""PATCH over HTTP (RFC 7644 §3.5.2): IdP request bodies against real users and teams."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import ENTERPRISE_SCHEMA, SAMPLES, assert_scim_error, patch_ops
from tests.support.scim import Scim


def idp_sample(name: str, **ids: str) -> Any:
    """A sample body with its example ids swapped for real ones."""
    text = (SAMPLES / name).read_text()
    for old, new in ids.items():
        text = text.replace(old, new)
    return json.loads(text)


async def test_entra_disable_user_with_string_false(scim: Scim) -> None:
    user = await scim.create_user("entra@example.com")
    body = idp_sample("entra/disable_user_string_false.json")
    patched = await scim.call("PATCH", f"/Users/{user['id']}", body)
    assert patched["active"] is False
    assert patched["meta"]["version"] == 'W/"2"'


async def test_okta_deactivate_user(scim: Scim) -> None:
    user = await scim.create_user("okta@example.com")
    patched = await scim.call(
        "PATCH", f"/Users/{user['id']}", idp_sample("okta/deactivate_user.json")
    )
    assert patched["active"] is False


async def test_patch_answers_with_the_projection_asked_for(scim: Scim) -> None:
    user = await scim.create_user("proj@example.com", title="A")
    patched = await scim.call(
        "PATCH",
        f"/Users/{user['id']}?attributes=title",
        patch_ops({"op": "replace", "path": "title", "value": "B"}),
    )
    assert set(patched) == {"id", "schemas", "title"}
    assert patched["title"] == "B"


async def test_entra_manager_as_bare_id(scim: Scim) -> None:
    boss = await scim.create_user("boss@example.com")
    user = await scim.create_user("report@example.com")
    patched = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "Add", "path": f"{ENTERPRISE_SCHEMA}:manager", "value": boss["id"]}),
    )
    assert patched[ENTERPRISE_SCHEMA]["manager"]["value"] == boss["id"]


async def test_entra_replace_work_email_creates_it(scim: Scim) -> None:
    user = await scim.create_user("mail@example.com")
    patched = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops(
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "w@example.com"}
        ),
    )
    assert patched["emails"] == [{"type": "work", "value": "w@example.com"}]
    found = await scim.call("GET", "/Users", params={"filter": 'emails.value eq "W@example.com"'})
    assert found["totalResults"] == 1


async def test_a_failing_operation_rolls_back_the_earlier_ones(scim: Scim) -> None:
    user = await scim.create_user("atomic@example.com", title="Before")
    error = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops(
            {"op": "replace", "path": "title", "value": "After"},
            {"op": "remove", "path": "userName"},
        ),
        status=400,
    )
    assert_scim_error(error, 400, "invalidValue")
    current = await scim.call("GET", f"/Users/{user['id']}")
    assert current["title"] == "Before"
    assert current["meta"]["version"] == 'W/"1"'


@pytest.mark.parametrize(
    ("operation", "scim_type"),
    [
        pytest.param({"op": "replace", "path": "id", "value": "x"}, "mutability", id="id"),
        pytest.param(
            {"op": "add", "path": "groups", "value": [{"value": "g"}]},
            "invalidValue",
            id="groups-unknown-team",
        ),
        pytest.param(
            {"op": "remove", "path": 'emails[type eq "none"]'}, "noTarget", id="remove-no-target"
        ),
        pytest.param(
            {"op": "replace", "path": "nosuch", "value": 1}, "invalidPath", id="unknown-path"
        ),
        pytest.param(
            {"op": "jump", "path": "title", "value": "x"}, "invalidSyntax", id="unknown-op"
        ),
    ],
)
async def test_bad_operations_are_400_with_scim_type(
    scim: Scim, operation: dict[str, Any], scim_type: str
) -> None:
    user = await scim.create_user("bad@example.com")
    error = await scim.call("PATCH", f"/Users/{user['id']}", patch_ops(operation), status=400)
    assert_scim_error(error, 400, scim_type)


async def test_patch_unknown_user_is_404(scim: Scim) -> None:
    error = await scim.call(
        "PATCH",
        "/Users/nope",
        patch_ops({"op": "replace", "path": "title", "value": "x"}),
        status=404,
    )
    assert_scim_error(error, 404)


async def test_patch_with_stale_if_match_is_412(scim: Scim) -> None:
    user = await scim.create_user("pim@example.com")
    await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "replace", "path": "title", "value": "v2"}),
    )
    error = await scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch_ops({"op": "replace", "path": "title", "value": "v3"}),
        status=412,
        headers={"If-Match": 'W/"1"'},
    )
    assert_scim_error(error, 412)


async def test_entra_add_and_remove_members(scim: Scim) -> None:
    a = await scim.create_user("a@example.com")
    b = await scim.create_user("b@example.com")
    team = await scim.create_group("Team")
    added = await scim.call(
        "PATCH",
        f"/Groups/{team['id']}",
        patch_ops(
            {"op": "Add", "path": "members", "value": [{"value": a["id"]}, {"value": b["id"]}]}
        ),
    )
    assert {m["value"] for m in added["members"]} == {a["id"], b["id"]}
    removed = await scim.call(
        "PATCH",
        f"/Groups/{team['id']}",
        patch_ops({"op": "Remove", "path": "members", "value": [{"value": a["id"]}]}),
    )
    assert [m["value"] for m in removed["members"]] == [b["id"]]
    user_a = await scim.call("GET", f"/Users/{a['id']}")
    assert user_a.get("groups", []) == []


async def test_okta_remove_member_by_filter_and_rename(scim: Scim) -> None:
    a = await scim.create_user("okta-a@example.com")
    team = await scim.create_group("Old", [a["id"]])
    patched = await scim.call(
        "PATCH",
        f"/Groups/{team['id']}",
        patch_ops(
            {"op": "remove", "path": f'members[value eq "{a["id"]}"]'},
            {"op": "replace", "value": {"id": team["id"], "displayName": "New"}},
        ),
    )
    assert patched["displayName"] == "New"
    assert patched.get("members", []) == []


async def test_adding_an_unknown_member_is_400_and_changes_nothing(scim: Scim) -> None:
    a = await scim.create_user("real@example.com")
    team = await scim.create_group("Strict")
    error = await scim.call(
        "PATCH",
        f"/Groups/{team['id']}",
        patch_ops(
            {"op": "add", "path": "members", "value": [{"value": a["id"]}, {"value": "ghost"}]}
        ),
        status=400,
    )
    assert "ghost" in error["detail"]
    current = await scim.call("GET", f"/Groups/{team['id']}")
    assert current.get("members", []) == []
    assert current["meta"]["version"] == 'W/"1"'


async def test_adding_an_existing_member_changes_nothing(scim: Scim) -> None:
    a = await scim.create_user("twice@example.com")
    team = await scim.create_group("Twice", [a["id"]])
    patched = await scim.call(
        "PATCH",
        f"/Groups/{team['id']}",
        patch_ops({"op": "add", "path": "members", "value": [{"value": a["id"]}]}),
    )
    assert [m["value"] for m in patched["members"]] == [a["id"]]
    assert patched["meta"]["version"] == team["meta"]["version"]


async def test_entra_membership_probe_filter(scim: Scim) -> None:
    a = await scim.create_user("probe@example.com")
    b = await scim.create_user("outsider@example.com")
    team = await scim.create_group("Probe", [a["id"]])
    for user, expected in ((a, 1), (b, 0)):
        page = await scim.call(
            "GET",
            "/Groups",
            params={
                "filter": f'id eq "{team["id"]}" and members eq "{user["id"]}"',
                "excludedAttributes": "members",
            },
        )
        assert page["totalResults"] == expected
