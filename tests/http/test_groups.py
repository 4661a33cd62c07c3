"""/Groups as teams, and membership kept in one place (RFC 7643 §4.2; LiteLLM mapping)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import GROUP_SCHEMA, USER_SCHEMA, assert_scim_error
from tests.support.scim import Scim

# The seed README's "Adding a User to Groups" request, verbatim but for the team id.
SEED_PUT = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "user@example.com",
    "active": True,
    "emails": [{"value": "user@example.com", "primary": True}],
    "groups": [{"value": "team-123", "display": "Engineering Team"}],
}


def member_ids(group: dict[str, object]) -> set[str]:
    return {m["value"] for m in group.get("members", [])}  # type: ignore[attr-defined]


def group_ids(user: dict[str, object]) -> set[str]:
    return {g["value"] for g in user.get("groups", [])}  # type: ignore[attr-defined]


async def test_create_team_answers_201_with_meta(scim: Scim) -> None:
    resp = await scim.request(
        "POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Engineering Team"}
    )
    assert resp.status == 201
    body = await resp.json(content_type=None)
    assert body["displayName"] == "Engineering Team"
    assert body["meta"]["resourceType"] == "Group"
    assert resp.headers["Location"] == body["meta"]["location"]
    assert body["meta"]["location"].endswith(f"/scim/v2/Groups/{body['id']}")


async def test_display_name_is_required(scim: Scim) -> None:
    body = await scim.call("POST", "/Groups", {"schemas": [GROUP_SCHEMA]}, status=400)
    assert_scim_error(body, 400, "invalidValue")


async def test_members_on_create_show_on_both_sides(scim: Scim) -> None:
    ada = await scim.create_user("ada@example.com", displayName="Ada")
    team = await scim.create_group("Engineering", [ada["id"]])
    assert team["members"] == [
        {"value": ada["id"], "type": "User", "$ref": ada["meta"]["location"]}
    ]
    user = await scim.call("GET", f"/Users/{ada['id']}")
    assert user["groups"] == [
        {
            "value": team["id"],
            "display": "Engineering",
            "type": "direct",
            "$ref": team["meta"]["location"],
        }
    ]


async def test_member_display_is_returned_on_request(scim: Scim) -> None:
    # members.display is returned "request" (RFC 7643 §7); it names the member.
    ada = await scim.create_user("ada@example.com", displayName="Ada")
    team = await scim.create_group("Engineering", [ada["id"]])
    body = await scim.call("GET", f"/Groups/{team['id']}?attributes=members.display")
    assert body["members"] == [{"display": "Ada"}]


async def test_seed_put_user_with_groups_sets_the_users_teams(scim: Scim) -> None:
    user = await scim.call(
        "POST", "/Users", {k: v for k, v in SEED_PUT.items() if k != "groups"}, status=201
    )
    team = await scim.create_group("Engineering Team")
    body = {**SEED_PUT, "groups": [{"value": team["id"], "display": "Engineering Team"}]}
    updated = await scim.call("PUT", f"/Users/{user['id']}", body)
    assert group_ids(updated) == {team["id"]}
    assert member_ids(await scim.call("GET", f"/Groups/{team['id']}")) == {user["id"]}


async def test_seed_put_with_unknown_team_is_400_naming_it_and_changes_nothing(
    scim: Scim,
) -> None:
    user = await scim.call(
        "POST", "/Users", {k: v for k, v in SEED_PUT.items() if k != "groups"}, status=201
    )
    body = {**SEED_PUT, "active": False}
    error = await scim.call("PUT", f"/Users/{user['id']}", body, status=400)
    assert_scim_error(error, 400, "invalidValue")
    assert "team-123" in error["detail"]
    again = await scim.call("GET", f"/Users/{user['id']}")
    assert again["active"] is True
    assert again["meta"]["version"] == user["meta"]["version"]


async def test_put_user_without_groups_keeps_its_teams(scim: Scim) -> None:
    user = await scim.create_user("keep@example.com")
    team = await scim.create_group("Keepers", [user["id"]])
    updated = await scim.call(
        "PUT",
        f"/Users/{user['id']}",
        {"schemas": [USER_SCHEMA], "userName": "keep@example.com", "title": "New"},
    )
    assert group_ids(updated) == {team["id"]}


async def test_post_user_with_groups_joins_them(scim: Scim) -> None:
    team = await scim.create_group("Joiners")
    user = await scim.create_user("join@example.com", groups=[{"value": team["id"]}])
    assert group_ids(user) == {team["id"]}


async def test_put_group_replaces_the_roster(scim: Scim) -> None:
    a = await scim.create_user("a@example.com")
    b = await scim.create_user("b@example.com")
    c = await scim.create_user("c@example.com")
    team = await scim.create_group("Roster", [a["id"], b["id"]])
    replaced = await scim.call(
        "PUT",
        f"/Groups/{team['id']}",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Roster",
            "members": [{"value": b["id"]}, {"value": c["id"]}],
        },
    )
    assert member_ids(replaced) == {b["id"], c["id"]}
    assert group_ids(await scim.call("GET", f"/Users/{a['id']}")) == set()
    assert group_ids(await scim.call("GET", f"/Users/{c['id']}")) == {team["id"]}


async def test_put_group_without_members_empties_it(scim: Scim) -> None:
    # RFC 7644 §3.5.1: PUT replaces the resource; members is readWrite.
    a = await scim.create_user("empty@example.com")
    team = await scim.create_group("Emptied", [a["id"]])
    replaced = await scim.call(
        "PUT",
        f"/Groups/{team['id']}",
        {"schemas": [GROUP_SCHEMA], "displayName": "Emptied (renamed)"},
    )
    assert replaced["displayName"] == "Emptied (renamed)"
    assert member_ids(replaced) == set()


async def test_unknown_member_is_400_naming_it_and_creates_nothing(scim: Scim) -> None:
    a = await scim.create_user("known@example.com")
    error = await scim.call(
        "POST",
        "/Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Ghosts",
            "members": [{"value": a["id"]}, {"value": "ghost-1"}],
        },
        status=400,
    )
    assert_scim_error(error, 400, "invalidValue")
    assert "ghost-1" in error["detail"]
    assert (await scim.call("GET", "/Groups"))["totalResults"] == 0
    assert group_ids(await scim.call("GET", f"/Users/{a['id']}")) == set()


async def test_renaming_a_team_shows_on_its_members(scim: Scim) -> None:
    a = await scim.create_user("rename@example.com")
    team = await scim.create_group("Old", [a["id"]])
    await scim.call(
        "PUT",
        f"/Groups/{team['id']}",
        {"schemas": [GROUP_SCHEMA], "displayName": "New", "members": [{"value": a["id"]}]},
    )
    user = await scim.call("GET", f"/Users/{a['id']}")
    assert user["groups"][0]["display"] == "New"


async def test_deleting_a_user_removes_it_from_every_team(scim: Scim) -> None:
    a = await scim.create_user("gone@example.com")
    b = await scim.create_user("stays@example.com")
    t1 = await scim.create_group("T1", [a["id"], b["id"]])
    t2 = await scim.create_group("T2", [a["id"]])
    await scim.call("DELETE", f"/Users/{a['id']}", status=204)
    assert member_ids(await scim.call("GET", f"/Groups/{t1['id']}")) == {b["id"]}
    g2 = await scim.call("GET", f"/Groups/{t2['id']}")
    assert member_ids(g2) == set()
    assert g2["meta"]["version"] != t2["meta"]["version"]


async def test_deleting_a_team_removes_its_memberships(scim: Scim) -> None:
    a = await scim.create_user("member@example.com")
    team = await scim.create_group("Doomed", [a["id"]])
    await scim.call("DELETE", f"/Groups/{team['id']}", status=204)
    await scim.call("GET", f"/Groups/{team['id']}", status=404)
    assert group_ids(await scim.call("GET", f"/Users/{a['id']}")) == set()


async def test_membership_change_bumps_both_versions(scim: Scim) -> None:
    a = await scim.create_user("v@example.com")
    team = await scim.create_group("Versions")
    updated = await scim.call(
        "PUT",
        f"/Groups/{team['id']}",
        {"schemas": [GROUP_SCHEMA], "displayName": "Versions", "members": [{"value": a["id"]}]},
    )
    assert updated["meta"]["version"] == 'W/"2"'
    user = await scim.call("GET", f"/Users/{a['id']}")
    assert user["meta"]["version"] == 'W/"2"'


async def test_team_display_names_need_not_be_unique(scim: Scim) -> None:
    await scim.create_group("Same")
    await scim.create_group("Same")
    assert (await scim.call("GET", "/Groups"))["totalResults"] == 2


async def test_fifty_concurrent_joins_to_one_team_all_land(scim: Scim) -> None:
    users = [await scim.create_user(f"c{i}@example.com") for i in range(50)]
    team = await scim.create_group("Crowd")

    async def join(user: dict[str, object]) -> int:
        resp = await scim.request(
            "PUT",
            f"/Users/{user['id']}",
            {
                "schemas": [USER_SCHEMA],
                "userName": user["userName"],
                "groups": [{"value": team["id"]}],
            },
        )
        return resp.status

    statuses = await asyncio.gather(*(join(u) for u in users))
    assert statuses == [200] * 50
    roster = await scim.call("GET", f"/Groups/{team['id']}")
    assert member_ids(roster) == {u["id"] for u in users}
    assert roster["meta"]["version"] == 'W/"51"'


@pytest.mark.parametrize(
    "members",
    [
        pytest.param("not-a-list", id="string"),
        pytest.param([{"display": "no value"}], id="member-without-value"),
        pytest.param([{"value": 7}], id="numeric-value"),
    ],
)
async def test_malformed_members_are_400(scim: Scim, members: object) -> None:
    body = await scim.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": "X", "members": members},
        status=400,
    )
    assert body["status"] == "400"
    assert (await scim.call("GET", "/Groups"))["totalResults"] == 0
