"""Substring filters (`co`, `ew`) on userName, displayName and emails: answers are the
same right after a write (the user is pending) and once the server has indexed it, and a
needle most users contain is answered too."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from scimlite.keys import STORE
from scimlite.scim.filter import parse_filter
from scimlite.scim.schema import USER_RESOURCE
from scimlite.store import ListQuery, Store
from scimlite.store.sqlite.db import SQLiteDatabase as Database
from scimlite.store.textindex import rare_phrases as _rare_phrases
from scimlite.text import fold
from tests.support import USER_SCHEMA, patch_ops
from tests.support.scim import Scim

Found = Callable[[str], Awaitable[list[str]]]


@pytest.fixture(params=["right-after-the-write", "after-indexing"])
def found(request: pytest.FixtureRequest, scim: Scim) -> Found:
    """userNames of the users a filter selects, searched at the moment the param names.

    Right after a write the user is usually still pending (the server indexes once a
    second); tests/unit/test_sqlfilter.py covers both states deterministically.
    """

    async def search(text: str) -> list[str]:
        if request.param == "after-indexing":
            await scim.client.app[STORE].index_pending_text()
        body = await scim.call("GET", "/Users", params={"filter": text})
        return [r["userName"] for r in body["Resources"]]

    return search


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
async def test_a_new_user_is_found_by_a_substring(scim: Scim, found: Found, text: str) -> None:
    await make_alice(scim)
    await scim.create_user("bob@example.org", displayName="Bob Jones")
    assert await found(text) == ["Alice.Smith@example.com"]


async def test_a_renamed_user_is_found_by_the_new_name_only(scim: Scim, found: Found) -> None:
    alice = await make_alice(scim)
    rename = {"op": "replace", "path": "displayName", "value": "Alice Jones"}
    await scim.call("PATCH", f"/Users/{alice['id']}", patch_ops(rename))
    assert await found('displayName co "jones"') == ["Alice.Smith@example.com"]
    assert await found('displayName co "smith"') == []


async def test_replaced_emails_are_searched_and_the_old_ones_are_not(
    scim: Scim, found: Found
) -> None:
    alice = await make_alice(scim)
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "Alice.Smith@example.com",
        "emails": [{"value": "alice@newco.example", "primary": True}],
    }
    await scim.call("PUT", f"/Users/{alice['id']}", body)
    assert await found('emails.value co "newco"') == ["Alice.Smith@example.com"]
    assert await found('emails.value co "corp"') == []


async def test_a_deleted_user_is_not_found(scim: Scim, found: Found) -> None:
    alice = await make_alice(scim)
    await found('userName co "smith"')  # indexed first, in one of the params
    await scim.call("DELETE", f"/Users/{alice['id']}", status=204)
    assert await found('userName co "smith"') == []


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
        assert await Store(db).index_pending_text() == 1300
        async with db.snapshot() as conn:
            assert await _rare_phrases(conn, {'"common"', '"rare"'}) == {'"rare"'}
        store = Store(db)
        for needle, total in [("common", 1200), ("rare", 100)]:
            node = parse_filter(f'userName co "{needle}"', USER_RESOURCE)
            page = await store.users.list_page(ListQuery(filter=node, count=5))
            assert page.total == total
            assert all(needle in r.doc["userName"] for r in page.items)
    finally:
        await db.close()


@pytest.mark.sqlite_only
async def test_reindexing_replaces_a_users_old_text(scim: Scim) -> None:
    """The index keeps one current entry per user: a renamed user's old name is gone from
    it, so it does not grow with every change."""
    store = scim.client.app[STORE]
    alice = await make_alice(scim)
    await store.index_pending_text()
    rename = {"op": "replace", "path": "displayName", "value": "Alice Jones"}
    await scim.call("PATCH", f"/Users/{alice['id']}", patch_ops(rename))
    await scim.call(
        "DELETE", f"/Users/{(await scim.create_user('gone@x.example'))['id']}", status=204
    )
    await store.index_pending_text()  # (the server's own indexing may have run first)
    with sqlite3.connect(store.db.path) as conn:
        texts = [row[0] for row in conn.execute("SELECT text FROM users_text")]
    assert texts == ["alice.smith@example.com\nalice jones\nasmith@corp.example"]
