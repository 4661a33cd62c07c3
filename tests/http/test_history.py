"""Histories: a write is in the history of every resource whose representation it changed,
including through the other side of a membership (issue #16, item 10)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from scimlite.console.history import describe
from scimlite.keys import STORE
from scimlite.store import JournalQuery
from scimlite.store.rows import fetch_all
from tests.support import GROUP_SCHEMA, USER_SCHEMA, journal_entries, patch_ops
from tests.support.scim import Scim


async def _history(client: TestClient[Any, Any], resource_id: str) -> list[tuple[str, str]]:
    """(method, path) of each write in the resource's history, newest first."""
    entries = await journal_entries(client.app[STORE], resource_id=resource_id)
    return [(e.method, e.path) for e in entries]


async def test_a_deleted_user_is_in_its_teams_histories(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    one = await scim.create_group("One", [ada["id"]])
    two = await scim.create_group("Two", [ada["id"]])
    await scim.call("DELETE", f"/Users/{ada['id']}", status=204)
    for team in (one, two):
        assert (await _history(scim.client, team["id"]))[0] == (
            "DELETE",
            f"/scim/v2/Users/{ada['id']}",
        )
    entry = (await journal_entries(scim.client.app[STORE], resource_id=one["id"]))[0]
    (left,) = [c for c in entry.changes if c["path"] == "groups"]
    assert left["op"] == "remove"
    assert sorted(left["values"]) == sorted([one["id"], two["id"]])


async def test_a_deleted_team_is_in_its_members_histories(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    team = await scim.create_group("One", [ada["id"]])
    await scim.call("DELETE", f"/Groups/{team['id']}", status=204)
    assert (await _history(scim.client, ada["id"]))[0] == (
        "DELETE",
        f"/scim/v2/Groups/{team['id']}",
    )


async def test_put_user_with_groups_is_in_the_teams_history(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    team = await scim.create_group("One")
    body = {"schemas": [USER_SCHEMA], "userName": "ada", "groups": [{"value": team["id"]}]}
    await scim.call("PUT", f"/Users/{ada['id']}", body)
    assert (await _history(scim.client, team["id"]))[0] == ("PUT", f"/scim/v2/Users/{ada['id']}")


async def test_patch_group_members_is_in_each_users_history(scim: Scim) -> None:
    ada, alan = await scim.create_user("ada"), await scim.create_user("alan")
    team = await scim.create_group("One")
    add = patch_ops(
        {"op": "add", "path": "members", "value": [{"value": ada["id"]}, {"value": alan["id"]}]}
    )
    await scim.call("PATCH", f"/Groups/{team['id']}", add)
    remove = patch_ops({"op": "remove", "path": f'members[value eq "{ada["id"]}"]'})
    await scim.call("PATCH", f"/Groups/{team['id']}", remove)
    path = f"/scim/v2/Groups/{team['id']}"
    assert await _history(scim.client, ada["id"]) == [
        ("PATCH", path),
        ("PATCH", path),
        ("POST", "/scim/v2/Users"),
    ]
    assert await _history(scim.client, alan["id"]) == [("PATCH", path), ("POST", "/scim/v2/Users")]


async def test_post_group_with_members_is_in_their_histories(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    await scim.create_group("One", [ada["id"]])
    assert (await _history(scim.client, ada["id"]))[0] == ("POST", "/scim/v2/Groups")


async def test_a_write_that_leaves_memberships_alone_is_in_no_other_history(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    team = await scim.create_group("One", [ada["id"]])
    await scim.call(
        "PATCH", f"/Users/{ada['id']}", patch_ops({"op": "replace", "path": "title", "value": "x"})
    )
    assert await _history(scim.client, team["id"]) == [("POST", "/scim/v2/Groups")]


async def test_a_member_added_and_removed_in_one_patch_is_listed_once(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    team = await scim.create_group("One")
    ops = patch_ops(
        {"op": "add", "path": "members", "value": [{"value": ada["id"]}]},
        {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'},
    )
    await scim.call("PATCH", f"/Groups/{team['id']}", ops)
    assert len(await _history(scim.client, ada["id"])) == 2


async def test_history_pages_by_id_across_both_sources(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    for name in ("One", "Two", "Three"):
        await scim.create_group(name, [ada["id"]])
    store = scim.client.app[STORE]
    first = await store.search_journal(JournalQuery(resource_id=ada["id"], limit=2))
    rest = await store.search_journal(
        JournalQuery(resource_id=ada["id"], limit=2, before_id=first[-1].id)
    )
    assert [e.id for e in first + rest] == sorted((e.id for e in first + rest), reverse=True)
    assert len(first + rest) == 4


async def count(scim: Scim, sql: str, *params: object) -> int:
    async with scim.client.app[STORE].db.read() as conn:
        [row] = await fetch_all(conn, sql, params)
    return int(row[0])


async def test_a_big_team_change_writes_one_journal_row(scim: Scim) -> None:
    users = [await scim.create_user(f"u{i}") for i in range(50)]
    team = await scim.create_group("Big")
    add = patch_ops({"op": "add", "path": "members", "value": [{"value": u["id"]} for u in users]})
    await scim.call("PATCH", f"/Groups/{team['id']}", add)
    path = f"/scim/v2/Groups/{team['id']}"
    rows = await count(scim, "SELECT count(*) FROM journal WHERE path = ?", path)
    refs = await count(scim, "SELECT count(*) FROM journal_refs")
    assert (rows, refs) == (1, 50)


async def test_pruning_the_journal_removes_its_refs(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    await scim.create_group("One", [ada["id"]])
    assert await scim.client.app[STORE].prune_journal("9999-01-01T00:00:00Z") == 2
    assert await count(scim, "SELECT count(*) FROM journal_refs") == 0


async def test_put_group_members_is_in_the_users_history(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    team = await scim.create_group("One")
    body = {"schemas": [GROUP_SCHEMA], "displayName": "One", "members": [{"value": ada["id"]}]}
    await scim.call("PUT", f"/Groups/{team['id']}", body)
    assert (await _history(scim.client, ada["id"]))[0] == ("PUT", f"/scim/v2/Groups/{team['id']}")


async def test_a_team_rename_is_in_its_members_histories(scim: Scim) -> None:
    """A member's `groups[].display` is the team's name: renaming the team changes each
    member's representation, so the rename is in their histories, told as a rename."""
    ada, alan = await scim.create_user("ada"), await scim.create_user("alan")
    team = await scim.create_group("One", [ada["id"]])
    before = await scim.call("GET", f"/Users/{ada['id']}")
    rename = patch_ops({"op": "replace", "path": "displayName", "value": "Two"})
    await scim.call("PATCH", f"/Groups/{team['id']}", rename)
    after = await scim.call("GET", f"/Users/{ada['id']}")
    assert after["groups"][0]["display"] == "Two"
    assert after["meta"]["version"] != before["meta"]["version"]  # RFC 7644 §3.14
    path = f"/scim/v2/Groups/{team['id']}"
    assert (await _history(scim.client, ada["id"]))[0] == ("PATCH", path)
    assert ("PATCH", path) not in await _history(scim.client, alan["id"])  # not a member
    store = scim.client.app[STORE]
    entries = await journal_entries(store, resource_id=ada["id"], limit=1)
    [row] = await describe(store, entries, viewing=ada["id"])
    assert [(line.path, line.old, line.new) for line in row.lines] == [("groups", "One", "Two")]


async def test_a_user_rename_is_in_its_teams_histories(scim: Scim) -> None:
    ada = await scim.create_user("ada")
    team = await scim.create_group("One", [ada["id"]])
    rename = patch_ops({"op": "replace", "path": "userName", "value": "ada.l"})
    await scim.call("PATCH", f"/Users/{ada['id']}", rename)
    assert (await _history(scim.client, team["id"]))[0] == ("PATCH", f"/scim/v2/Users/{ada['id']}")
