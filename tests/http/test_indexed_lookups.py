"""`eq` filters an index answers — userName, externalId, displayName, an e-mail's value —
page and count the same whether they match one user, a few (answered inline) or more than
INLINE_ROWS (read again by a pooled reader): issue #14's lean read path."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from scimlite.store.resources import INLINE_ROWS
from tests.support.scim import Scim

FILTERS = {
    "email": 'emails.value eq "shared@mail.example.com"',
    "email-typed": 'emails[type eq "work" and value eq "SHARED@mail.example.com"]',
    "email-value-path": 'emails[type eq "work"].value eq "shared@Mail.Example.com"',
    "externalId": 'externalId eq "shared-ext"',
    "displayName": 'displayName eq "Shared Name"',
}


async def seed(scim: Scim, matching: int) -> list[str]:
    """`matching` users that every filter above matches, between users that none does."""
    ids = []
    for i in range(matching + 2):
        hit = 0 < i <= matching
        user = await scim.create_user(
            f"lookup{i}@example.com",
            externalId="shared-ext" if hit else f"ext-{i}",
            displayName="Shared Name" if hit else f"Other {i}",
            emails=[
                {"value": "Shared@Mail.example.com" if hit else f"o{i}@x.example", "type": "work"}
            ],
        )
        if hit:
            ids.append(user["id"])
    return ids


@pytest.mark.parametrize("matching", [0, 1, 3, INLINE_ROWS, INLINE_ROWS + 3])
@pytest.mark.parametrize("name", list(FILTERS))
async def test_an_indexed_eq_pages_and_counts_every_match(
    scim: Scim, name: str, matching: int
) -> None:
    expected = await seed(scim, matching)
    where = quote(FILTERS[name])
    seen: list[str] = []
    for start in range(1, matching + 1, 4):
        page = await scim.call("GET", f"/Users?filter={where}&startIndex={start}&count=4")
        assert page["totalResults"] == matching
        assert page["itemsPerPage"] == len(page["Resources"]) == min(4, matching - start + 1)
        seen += [r["id"] for r in page["Resources"]]
    assert seen == expected
    deep = await scim.call("GET", f"/Users?filter={where}&startIndex={matching + 1}&count=4")
    assert (deep["totalResults"], deep["Resources"]) == (matching, [])


@pytest.mark.parametrize("matching", [3, INLINE_ROWS + 3])
async def test_an_indexed_eq_walks_with_a_cursor(scim: Scim, matching: int) -> None:
    expected = await seed(scim, matching)
    seen: list[str] = []
    cursor = ""
    for _ in range(matching):  # a page of 2 at least: more pages than this is a loop
        params = {"filter": FILTERS["email"], "cursor": cursor, "count": "2"}
        page = await scim.call("GET", "/Users", params=params)
        assert page["totalResults"] == matching
        seen += [r["id"] for r in page["Resources"]]
        if "nextCursor" not in page:
            break
        cursor = page["nextCursor"]
    else:
        pytest.fail("the cursor never reached the last page")
    assert seen == expected
