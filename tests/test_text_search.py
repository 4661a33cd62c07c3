"""Substring filters (`co`, `ew`) on userName, displayName and emails: the users_text
index behind them follows every write, and a needle most users contain still answers."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from scimlite.db import Database, fold
from scimlite.scim.filter import parse_filter
from scimlite.scim.schema import USER_RESOURCE
from scimlite.store import ListQuery, Store, _rare_phrases
from tests.conftest import USER_SCHEMA, Scim


async def found(scim: Scim, text: str) -> list[str]:
    body = await scim.call("GET", "/Users", params={"filter": text})
    return [r["userName"] for r in body["Resources"]]


async def make_alice(scim: Scim) -> dict[str, Any]:
    return await scim.create_user(
        "Alice.Smith@example.com",
        displayName="Alice Smith",
        emails=[{"value": "asmith@Corp.example", "type": "work", "primary": True}],
    )


@pytest.mark.parametrize("text", [
    pytest.param('userName co "smith@"', id="userName-co"),
    pytest.param('userName ew "EXAMPLE.COM"', id="userName-ew-case-insensitive"),
    pytest.param('displayName co "ice sm"', id="displayName-co"),
    pytest.param('emails.value co "@corp."', id="email-co"),
    pytest.param('emails ew "corp.example"', id="bare-emails-ew"),
    pytest.param('userName co "ali" or displayName co "ali" or emails.value co "ali"',
                 id="plain-text-search"),
])  # fmt: skip
async def test_a_new_user_is_found_by_a_substring(scim: Scim, text: str) -> None:
    await make_alice(scim)
    await scim.create_user("bob@example.org", displayName="Bob Jones")
    assert await found(scim, text) == ["Alice.Smith@example.com"]


async def test_a_renamed_user_is_found_by_the_new_name_only(scim: Scim) -> None:
    alice = await make_alice(scim)
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Alice Jones"}],
    }
    await scim.call("PATCH", f"/Users/{alice['id']}", patch)
    assert await found(scim, 'displayName co "jones"') == ["Alice.Smith@example.com"]
    assert await found(scim, 'displayName co "smith"') == []


async def test_replaced_emails_are_searched_and_the_old_ones_are_not(scim: Scim) -> None:
    alice = await make_alice(scim)
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "Alice.Smith@example.com",
        "emails": [{"value": "alice@newco.example", "primary": True}],
    }
    await scim.call("PUT", f"/Users/{alice['id']}", body)
    assert await found(scim, 'emails.value co "newco"') == ["Alice.Smith@example.com"]
    assert await found(scim, 'emails.value co "corp"') == []


async def test_a_deleted_user_is_not_found(scim: Scim) -> None:
    alice = await make_alice(scim)
    await scim.call("DELETE", f"/Users/{alice['id']}", status=204)
    assert await found(scim, 'userName co "smith"') == []


async def test_a_needle_most_users_contain_is_answered_by_testing_rows(tmp_path: Path) -> None:
    """Past a tenth of the users (at least 1,000) the store stops reading the index, and
    the answer stays the same."""
    path = tmp_path / "many.db"
    db = Database(path)
    await db.open()
    await db.close()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO users (id, user_name, user_name_ci, version, created, last_modified, "
            "doc) VALUES (?, ?, ?, 1, 't', 't', ?)",
            [
                (f"u{i}", name, fold(name), f'{{"userName": "{name}"}}')
                for i in range(1300)
                for name in [f"user{i}@{'common' if i % 13 else 'rare'}.example"]
            ],
        )
    db = Database(path)
    await db.open()
    try:
        async with db.snapshot() as conn:
            assert await _rare_phrases(conn, {'"common"', '"rare"'}) == {'"rare"'}
        store = Store(db)
        for needle, total in [("common", 1200), ("rare", 100)]:
            node = parse_filter(f'userName co "{needle}"', USER_RESOURCE)
            page = await store.users.list(ListQuery(filter=node, count=5))
            assert page.total == total
            assert all(needle in r.doc["userName"] for r in page.items)
    finally:
        await db.close()
