"""Listing with startIndex/count and eq filters (RFC 7644 §3.4.2)."""

from __future__ import annotations

import pytest

from tests.support import assert_scim_error
from tests.support.scim import Scim

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


async def make_users(scim: Scim, n: int) -> list[dict[str, object]]:
    return [
        await scim.create_user(
            f"u{i:02d}@example.com",
            externalId=f"ext-{i}",
            displayName=f"User {i}",
            emails=[{"value": f"U{i:02d}@Mail.example.com", "type": "work"}],
        )
        for i in range(n)
    ]


async def test_seed_listing_request_pages_users(scim: Scim) -> None:
    users = await make_users(scim, 12)
    page = await scim.call("GET", "/Users?startIndex=1&count=10")
    assert page["schemas"] == [LIST_SCHEMA]
    assert page["totalResults"] == 12
    assert page["startIndex"] == 1
    assert page["itemsPerPage"] == 10
    assert [r["id"] for r in page["Resources"]] == [u["id"] for u in users[:10]]


async def test_pages_walk_the_whole_set_without_gaps_or_duplicates(scim: Scim) -> None:
    users = await make_users(scim, 7)
    seen = []
    for start in range(1, 8, 3):
        page = await scim.call("GET", f"/Users?startIndex={start}&count=3")
        seen += [r["id"] for r in page["Resources"]]
    assert seen == [u["id"] for u in users]


async def test_count_zero_gives_only_the_total(scim: Scim) -> None:
    await make_users(scim, 3)
    page = await scim.call("GET", "/Users?count=0")
    assert page["totalResults"] == 3
    assert page["Resources"] == []
    assert page["itemsPerPage"] == 0


async def test_count_is_capped_by_the_setting(scim: Scim) -> None:
    await make_users(scim, 3)
    page = await scim.call("GET", "/Users?count=100000")
    assert page["itemsPerPage"] == 3


@pytest.mark.parametrize(
    ("query", "start"),
    [
        pytest.param("startIndex=0", 1, id="zero-start-is-1"),
        pytest.param("startIndex=-5", 1, id="negative-start-is-1"),
        pytest.param("count=-1", 1, id="negative-count-is-0"),
    ],
)
async def test_out_of_range_paging_values_are_clamped(scim: Scim, query: str, start: int) -> None:
    # RFC 7644 §3.4.2.4: startIndex < 1 is 1; a negative count is 0.
    await make_users(scim, 2)
    page = await scim.call("GET", f"/Users?{query}")
    assert page["startIndex"] == start


async def test_start_beyond_the_end_is_an_empty_page(scim: Scim) -> None:
    await make_users(scim, 2)
    page = await scim.call("GET", "/Users?startIndex=50")
    assert page["totalResults"] == 2
    assert page["Resources"] == []


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("count=ten", id="not-a-number"),
        pytest.param("startIndex=99999999999999999999", id="start-beyond-64-bits"),
        pytest.param("count=-99999999999999999999", id="count-beyond-64-bits"),
    ],
)
async def test_unusable_paging_numbers_are_400(scim: Scim, query: str) -> None:
    body = await scim.call("GET", f"/Users?{query}", status=400)
    assert_scim_error(body, 400, "invalidValue")


@pytest.mark.parametrize(
    ("filter_", "index"),
    [
        pytest.param('userName eq "u03@example.com"', 3, id="userName"),
        pytest.param('userName eq "U03@EXAMPLE.COM"', 3, id="userName-case-insensitive"),
        pytest.param('externalId eq "ext-4"', 4, id="externalId"),
        pytest.param('displayName eq "user 5"', 5, id="displayName"),
        pytest.param('emails.value eq "u06@mail.example.com"', 6, id="emails.value"),
        pytest.param(
            'emails[type eq "work"].value eq "u07@mail.example.com"',
            7,
            id="value-path-then-sub-attribute",
        ),
    ],
)
async def test_eq_filters_find_exactly_one_user(scim: Scim, filter_: str, index: int) -> None:
    users = await make_users(scim, 8)
    page = await scim.call("GET", "/Users", params={"filter": filter_})
    assert [r["id"] for r in page["Resources"]] == [users[index]["id"]]
    assert page["totalResults"] == 1


async def test_id_filter(scim: Scim) -> None:
    users = await make_users(scim, 3)
    page = await scim.call("GET", "/Users", params={"filter": f'id eq "{users[1]["id"]}"'})
    assert [r["id"] for r in page["Resources"]] == [users[1]["id"]]


async def test_group_display_name_filter(scim: Scim) -> None:
    await scim.create_group("Alpha")
    beta = await scim.create_group("Beta")
    page = await scim.call("GET", "/Groups", params={"filter": 'displayName eq "beta"'})
    assert [r["id"] for r in page["Resources"]] == [beta["id"]]


@pytest.mark.parametrize(
    "filter_",
    [
        pytest.param('nosuch eq "x"', id="unknown-attribute"),
        pytest.param("userName eq", id="missing-value"),
        pytest.param('userName xx "a"', id="unknown-operator"),
        pytest.param('(userName eq "a"', id="unbalanced"),
    ],
)
async def test_unanswerable_filters_are_400_never_a_full_list(scim: Scim, filter_: str) -> None:
    await make_users(scim, 2)
    body = await scim.call("GET", "/Users", params={"filter": filter_}, status=400)
    assert_scim_error(body, 400, "invalidFilter")
