"""Sorting, projection, /.search and ETags (RFC 7644 §3.4.2.3, §3.4.2.5, §3.4.3, §3.14)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support import ENTERPRISE_SCHEMA, USER_SCHEMA, assert_scim_error
from tests.support.scim import Scim

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


async def people(scim: Scim) -> list[dict[str, Any]]:
    rows = [
        ("carol", "Carol", "Zeta"),
        ("alice", "alice", None),
        ("Bob", "Bob", "Alpha"),
        ("dave", None, "Mid"),
    ]
    out = []
    for login, display, family in rows:
        attrs: dict[str, Any] = {
            "emails": [{"value": f"{login}@x.example", "type": "work"}],
            ENTERPRISE_SCHEMA: {"department": f"D-{login}"},
        }
        if display:
            attrs["displayName"] = display
        if family:
            attrs["name"] = {"familyName": family, "givenName": login}
        out.append(await scim.create_user(f"{login}@example.com", **attrs))
    return out


async def user_names(scim: Scim, query: str) -> list[str]:
    page = await scim.call("GET", f"/Users?{query}")
    return [r["userName"] for r in page["Resources"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("sortBy=userName", ["alice", "Bob", "carol", "dave"], id="case-insensitive"),
        pytest.param(
            "sortBy=userName&sortOrder=descending",
            ["dave", "carol", "Bob", "alice"],
            id="descending",
        ),
        pytest.param(
            "sortBy=name.familyName",
            ["Bob", "dave", "carol", "alice"],
            id="sub-attribute-missing-last",
        ),
        pytest.param(
            "sortBy=displayName&sortOrder=descending",
            ["dave", "carol", "Bob", "alice"],
            id="descending-missing-first",
        ),
        pytest.param("sortBy=meta.created", ["carol", "alice", "Bob", "dave"], id="meta.created"),
    ],
)
async def test_sort_by(scim: Scim, query: str, expected: list[str]) -> None:
    await people(scim)
    names = await user_names(scim, query)
    assert [n.split("@")[0] for n in names] == expected


async def test_bad_sort_order_is_400(scim: Scim) -> None:
    body = await scim.call("GET", "/Users?sortBy=userName&sortOrder=sideways", status=400)
    assert_scim_error(body, 400, "invalidValue")


async def test_sorted_pages_walk_without_gaps(scim: Scim) -> None:
    for i in range(9):
        await scim.create_user(f"same{i}@example.com", title="Same")
    seen: list[str] = []
    for start in (1, 4, 7):
        page = await scim.call("GET", f"/Users?sortBy=title&startIndex={start}&count=3")
        seen += [r["id"] for r in page["Resources"]]
    assert len(set(seen)) == 9


@pytest.mark.parametrize(
    ("param", "present", "absent"),
    [
        pytest.param(
            "attributes=userName",
            {"id", "schemas", "userName"},
            {"emails", "meta"},
            id="attributes",
        ),
        pytest.param("attributes=name.givenName", {"id", "name"}, {"userName"}, id="sub-attribute"),
        pytest.param(
            "excludedAttributes=emails,meta", {"userName", "id"}, {"emails", "meta"}, id="excluded"
        ),
        pytest.param(
            "excludedAttributes=id,schemas",
            {"id", "schemas"},
            set(),
            id="id-and-schemas-always-returned",
        ),
        pytest.param(
            f"attributes={ENTERPRISE_SCHEMA}:department",
            {ENTERPRISE_SCHEMA},
            {"userName"},
            id="extension-attribute",
        ),
    ],
)
async def test_projection_on_get(
    scim: Scim, param: str, present: set[str], absent: set[str]
) -> None:
    (user, *_) = await people(scim)
    body = await scim.call("GET", f"/Users/{user['id']}?{param}")
    assert present <= body.keys()
    assert not (absent & body.keys())


async def test_sub_attribute_projection_keeps_only_that_sub_attribute(scim: Scim) -> None:
    (user, *_) = await people(scim)
    body = await scim.call("GET", f"/Users/{user['id']}?attributes=emails.value,name.givenName")
    assert body["emails"] == [{"value": "carol@x.example"}]
    assert body["name"] == {"givenName": "carol"}


async def test_projection_applies_to_lists(scim: Scim) -> None:
    await people(scim)
    page = await scim.call("GET", "/Users?attributes=userName")
    assert all(set(r) == {"id", "schemas", "userName"} for r in page["Resources"])


async def test_excluding_members_still_answers_the_group(scim: Scim) -> None:
    user = await scim.create_user("m@example.com")
    team = await scim.create_group("Big", [user["id"]])
    body = await scim.call("GET", f"/Groups/{team['id']}?excludedAttributes=members")
    assert "members" not in body
    assert body["displayName"] == "Big"


async def test_unknown_projection_attribute_is_400(scim: Scim) -> None:
    body = await scim.call("GET", "/Users?attributes=nonsense", status=400)
    assert_scim_error(body, 400, "invalidValue")


async def test_post_search_takes_a_search_request(scim: Scim) -> None:
    await people(scim)
    body = {
        "schemas": [SEARCH],
        "filter": 'userName sw "b"',
        "attributes": ["userName"],
        "sortBy": "userName",
        "startIndex": 1,
        "count": 10,
    }
    page = await scim.call("POST", "/Users/.search", body)
    assert [r["userName"] for r in page["Resources"]] == ["Bob@example.com"]
    assert set(page["Resources"][0]) == {"id", "schemas", "userName"}


async def test_post_search_with_a_bad_filter_is_400(scim: Scim) -> None:
    body = await scim.call(
        "POST", "/Users/.search", {"schemas": [SEARCH], "filter": "((("}, status=400
    )
    assert_scim_error(body, 400, "invalidFilter")


async def test_etag_header_matches_meta_version(scim: Scim) -> None:
    user = await scim.create_user("etag@example.com")
    resp = await scim.request("GET", f"/Users/{user['id']}")
    assert resp.headers["ETag"] == user["meta"]["version"] == 'W/"1"'


async def test_if_none_match_current_is_304(scim: Scim) -> None:
    user = await scim.create_user("inm@example.com")
    resp = await scim.request("GET", f"/Users/{user['id']}", headers={"If-None-Match": 'W/"1"'})
    assert resp.status == 304
    resp = await scim.request("GET", f"/Users/{user['id']}", headers={"If-None-Match": 'W/"0"'})
    assert resp.status == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_stale_if_match_is_412_and_changes_nothing(scim: Scim, method: str) -> None:
    user = await scim.create_user("stale@example.com")
    await scim.call(
        "PUT",
        f"/Users/{user['id']}",
        {"schemas": [USER_SCHEMA], "userName": "stale@example.com", "title": "v2"},
    )
    body = {"schemas": [USER_SCHEMA], "userName": "stale@example.com", "title": "v3"}
    error = await scim.call(
        method,
        f"/Users/{user['id']}",
        body if method == "PUT" else None,
        status=412,
        headers={"If-Match": 'W/"1"'},
    )
    assert_scim_error(error, 412)
    current = await scim.call("GET", f"/Users/{user['id']}")
    assert current["title"] == "v2"


async def test_current_if_match_succeeds(scim: Scim) -> None:
    user = await scim.create_user("fresh@example.com")
    body = {"schemas": [USER_SCHEMA], "userName": "fresh@example.com", "title": "ok"}
    updated = await scim.call("PUT", f"/Users/{user['id']}", body, headers={"If-Match": 'W/"1"'})
    assert updated["meta"]["version"] == 'W/"2"'


async def test_two_writers_with_one_etag_cannot_both_win(scim: Scim) -> None:
    user = await scim.create_user("race@example.com")

    async def put(title: str) -> int:
        resp = await scim.request(
            "PUT",
            f"/Users/{user['id']}",
            {"schemas": [USER_SCHEMA], "userName": "race@example.com", "title": title},
            headers={"If-Match": 'W/"1"'},
        )
        return resp.status

    statuses = sorted(await asyncio.gather(*(put(f"t{i}") for i in range(8))))
    assert statuses == [200] + [412] * 7


async def test_root_search_spans_users_and_groups(scim: Scim) -> None:
    user = await scim.create_user("root@example.com", externalId="shared")
    team = await scim.create_group("Root team", externalId="shared")
    await scim.create_user("other@example.com")
    page = await scim.call(
        "POST", "/.search", {"schemas": [SEARCH], "filter": 'externalId eq "shared"'}
    )
    assert page["totalResults"] == 2
    assert [r["id"] for r in page["Resources"]] == [user["id"], team["id"]]
    assert [r["meta"]["resourceType"] for r in page["Resources"]] == ["User", "Group"]


async def test_root_search_pages_across_the_type_boundary(scim: Scim) -> None:
    users = [await scim.create_user(f"p{i}@example.com") for i in range(3)]
    teams = [await scim.create_group(f"T{i}") for i in range(2)]
    page = await scim.call("POST", "/.search", {"schemas": [SEARCH], "startIndex": 3, "count": 2})
    assert page["totalResults"] == 5
    assert [r["id"] for r in page["Resources"]] == [users[2]["id"], teams[0]["id"]]


async def test_root_search_with_a_user_only_filter_returns_users(scim: Scim) -> None:
    user = await scim.create_user("only@example.com")
    await scim.create_group("Not me")
    page = await scim.call(
        "POST", "/.search", {"schemas": [SEARCH], "filter": 'userName eq "only@example.com"'}
    )
    assert [r["id"] for r in page["Resources"]] == [user["id"]]


async def test_root_search_with_a_filter_no_type_has_is_400(scim: Scim) -> None:
    body = await scim.call(
        "POST", "/.search", {"schemas": [SEARCH], "filter": 'zzz eq "1"'}, status=400
    )
    assert_scim_error(body, 400, "invalidFilter")


async def walk_with_cursor(scim: Scim, query: str) -> list[str]:
    seen: list[str] = []
    cursor = ""
    while True:
        page = await scim.call(
            "GET",
            "/Users",
            params={"cursor": cursor, "count": "3", **dict([query.split("=")] if query else [])},
        )
        assert "startIndex" not in page
        assert page["totalResults"] == 8
        seen += [r["userName"] for r in page["Resources"]]
        if "nextCursor" not in page:
            return seen
        cursor = page["nextCursor"]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("", id="default-order-keyset"),
        pytest.param("sortBy=userName", id="sorted"),
    ],
)
async def test_cursor_paging_walks_everything_once(scim: Scim, query: str) -> None:
    # RFC 9865: cursor="" starts; nextCursor until the last page.
    names = [f"k{i}@example.com" for i in (5, 2, 7, 0, 3, 6, 1, 4)]
    for name in names:
        await scim.create_user(name)
    seen = await walk_with_cursor(scim, query)
    assert seen == (sorted(names) if query else names)


async def test_keyset_cursor_skips_nothing_when_earlier_rows_are_deleted(scim: Scim) -> None:
    users = [await scim.create_user(f"d{i}@example.com") for i in range(4)]
    first = await scim.call("GET", "/Users", params={"cursor": "", "count": "2"})
    await scim.call("DELETE", f"/Users/{users[0]['id']}", status=204)
    second = await scim.call("GET", "/Users", params={"cursor": first["nextCursor"], "count": "2"})
    assert [r["id"] for r in second["Resources"]] == [users[2]["id"], users[3]["id"]]


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!", id="garbage"),
        pytest.param("bzox", id="wrong-kind"),
        pytest.param("azo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", id="position-beyond-64-bits"),
    ],
)
async def test_foreign_cursor_is_400_invalid_cursor(scim: Scim, cursor: str) -> None:
    body = await scim.call("GET", "/Users", params={"cursor": cursor}, status=400)
    assert_scim_error(body, 400, "invalidCursor")


async def test_cursor_with_start_index_is_400(scim: Scim) -> None:
    body = await scim.call("GET", "/Users", params={"cursor": "", "startIndex": "1"}, status=400)
    assert_scim_error(body, 400, "invalidValue")
