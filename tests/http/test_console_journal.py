"""The console's journal, histories and dashboard as a person reads them (issue #16, items
10–12 and 14): membership side effects in both histories, names beside ids, "no change",
the dashboard's errors and last writes, long diffs folded."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.keys import STORE
from tests.support import ENTERPRISE_SCHEMA, USER_SCHEMA, journal_entries, patch_ops
from tests.support.console import Doc, get_page, post
from tests.support.scim import Scim


def _history(doc: Doc) -> str:
    """The text of a page from its History heading on (the journal table and its link)."""
    return doc.all_text.split("History", 1)[1]


async def test_team_changes_are_in_the_user_history_by_team_name(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    ada = await scim.create_user("ada@example.com")
    team = await scim.create_group("Engineering")
    add = patch_ops({"op": "add", "path": "members", "value": [{"value": ada["id"]}]})
    await scim.call("PATCH", f"/Groups/{team['id']}", add)
    remove = patch_ops({"op": "remove", "path": f'members[value eq "{ada["id"]}"]'})
    await scim.call("PATCH", f"/Groups/{team['id']}", remove)
    doc = await get_page(console, f"/users/{ada['id']}")
    history = _history(doc)
    assert "Not in any team" in doc.all_text
    assert f"PATCH /scim/v2/Groups/{team['id']}" in history
    assert "groups removed: Engineering" in history
    assert "groups added: Engineering" in history
    assert f"/teams/{team['id']}" in doc.links


async def test_a_deleted_user_is_named_in_its_team_history(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    ada = await scim.create_user("ada@example.com")
    team = await scim.create_group("Engineering", members=[ada["id"]])
    await scim.call("DELETE", f"/Users/{ada['id']}", status=204)
    history = _history(await get_page(console, f"/teams/{team['id']}"))
    assert f"DELETE /scim/v2/Users/{ada['id']}" in history
    assert "members removed: ada@example.com (user deleted)" in history


async def test_put_user_with_groups_is_in_the_team_history(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    ada = await scim.create_user("ada@example.com")
    team = await scim.create_group("Engineering")
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "ada@example.com",
        "groups": [{"value": team["id"]}],
    }
    await scim.call("PUT", f"/Users/{ada['id']}", body)
    history = _history(await get_page(console, f"/teams/{team['id']}"))
    assert "members added: ada@example.com" in history


async def test_members_are_named_not_numbered(console: TestClient[Any, Any], scim: Scim) -> None:
    ids = [(await scim.create_user(f"u{i}@example.com"))["id"] for i in range(7)]
    await scim.create_group("Research", members=ids)
    resp = await console.get("/journal")
    text = await resp.text()
    doc = Doc(text)
    shown = doc.all_text.replace(" , ", ", ")  # Doc joins the links' text with spaces
    assert "members added 7: u0@example.com, u1@example.com, u2@example.com" in shown
    assert "u4@example.com and 2 more" in shown
    assert ids[0] not in doc.all_text  # the id is on hover (a title), not in the text
    assert f'title="{ids[0]}"' in text


async def test_the_manager_is_shown_by_name(console: TestClient[Any, Any], scim: Scim) -> None:
    boss = await scim.create_user("grace@example.com", displayName="Grace Hopper")
    ada = await scim.create_user("ada@example.com")
    manager = {"op": "add", "path": f"{ENTERPRISE_SCHEMA}:manager", "value": {"value": boss["id"]}}
    await scim.call("PATCH", f"/Users/{ada['id']}", patch_ops(manager))
    doc = await get_page(console, f"/users/{ada['id']}")
    assert "Manager Grace Hopper" in doc.all_text
    assert "manager.value grace@example.com" in _history(doc)
    assert boss["id"] not in doc.all_text.split("Raw SCIM JSON")[0]


async def test_a_manager_not_in_the_directory_says_so(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    ada = await scim.create_user("ada@example.com")
    manager = {"op": "add", "path": f"{ENTERPRISE_SCHEMA}:manager", "value": {"value": "gone"}}
    await scim.call("PATCH", f"/Users/{ada['id']}", patch_ops(manager))
    doc = await get_page(console, f"/users/{ada['id']}")
    assert "Manager gone (not in this directory)" in doc.all_text


async def test_a_patch_that_changes_nothing_says_no_change(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    ada = await scim.create_user("ada@example.com", active=False)
    off = patch_ops({"op": "replace", "path": "active", "value": False})
    await scim.call("PATCH", f"/Users/{ada['id']}", off)
    doc = await get_page(console, "/journal")
    row = rf"PATCH /scim/v2/Users/{ada['id']} ada@example.com user 200 [\d.]+ no change"
    assert re.search(row, doc.all_text)


async def test_long_diffs_fold(console: TestClient[Any, Any], scim: Scim) -> None:
    await scim.create_user(
        "grace@example.com",
        displayName="Grace Hopper",
        title="Rear Admiral",
        name={"givenName": "Grace", "familyName": "Hopper", "formatted": "Grace Hopper"},
        emails=[{"value": "grace@example.com"}],
    )
    text = await (await console.get("/journal")).text()
    visible = text.split('<details class="more">')[0]
    assert re.search(r"<summary>\d+ more changes</summary>", text)
    assert "userName" in visible  # the name first, the rest folded
    assert "Rear Admiral" not in visible


async def test_dashboard_names_the_resource_of_a_rejected_write(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    ada = await scim.create_user("ada@example.com")
    bad = patch_ops({"op": "replace", "path": "active", "value": "maybe"})
    resp = await scim.request("PATCH", f"/Users/{ada['id']}", bad)
    assert resp.status == 400
    doc = await get_page(console, "/")
    errors = doc.all_text.split("Recent errors", 1)[1]
    assert "Error" in errors.split("PATCH")[0]  # the column that holds the error text
    assert "ada@example.com user" in errors
    assert f"/users/{ada['id']}" in doc.links
    entry = (await journal_entries(console.app[STORE], resource_id=ada["id"]))[0]
    assert (entry.status, entry.resource_type) == (400, "User")


async def test_dashboard_says_when_there_are_no_errors(console: TestClient[Any, Any]) -> None:
    doc = await get_page(console, "/")
    assert "No errors: every write was accepted." in doc.all_text


async def test_last_write_per_token_counts_scim_writes_only(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    ada = await scim.create_user("ada@example.com")
    await console.app[STORE].create_token("entra", "scim")
    form = (await get_page(console, f"/users/{ada['id']}")).form(f"/users/{ada['id']}/active")
    await post(console, f"/users/{ada['id']}/active", form)  # a console action, by admin
    doc = await get_page(console, "/")
    writes = doc.all_text.split("Last write per token", 1)[1].split("Recent errors")[0]
    assert re.search(r"test-idp \S+ \S+ POST /scim/v2/Users 201", writes)
    assert "entra no SCIM write yet" in writes
    assert "admin" not in writes


@pytest.mark.parametrize("action", ["deactivate", "remove-member", "create-token", "revoke"])
async def test_console_writes_journal_the_status_they_answer(
    console: TestClient[Any, Any], scim: Scim, action: str
) -> None:
    """The journal and the access log (which logs the response status) agree."""
    ada = await scim.create_user("ada@example.com")
    team = await scim.create_group("Engineering", members=[ada["id"]])
    page = await get_page(console, "/tokens")
    path, form = {
        "deactivate": (f"/users/{ada['id']}/active", {"active": "false"}),
        "remove-member": (f"/teams/{team['id']}/remove-member", {"user_id": ada["id"]}),
        "create-token": ("/tokens", {"name": "okta", "scope": "scim"}),
        "revoke": ("/tokens/revoke", {"name": "test-idp"}),
    }[action]
    fields = {"csrf": page.form("/tokens")["csrf"], **form}
    resp = await console.post(path, data=fields, allow_redirects=False)
    entry = (await journal_entries(console.app[STORE]))[0]
    assert entry.path == path
    assert entry.status == resp.status
