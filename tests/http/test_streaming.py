"""List responses and large rosters are rendered while they are sent (api/http.py
respond_chunks); what the client receives is the same document the whole render gave."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scimlite.api import http
from scimlite.keys import STORE
from scimlite.scim import render
from scimlite.scim.project import parse_projection
from scimlite.scim.schema import GROUP_RESOURCE, USER_RESOURCE, ResourceType
from tests.support import assert_scim_error
from tests.support.scim import Scim


@pytest.fixture(autouse=True)
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rosters of more than 2 members are rendered in steps, and any body past its first
    byte is streamed, so a test team shows both."""
    monkeypatch.setattr(render, "REFS_STEP", 2)
    monkeypatch.setattr(http, "FLUSH", 1)


async def _people(scim: Scim) -> tuple[list[str], list[str]]:
    users = [
        (await scim.create_user(f"s{i}@example.com", displayName=f"S {i}"))["id"] for i in range(7)
    ]
    teams = [
        (await scim.create_group("Big", users))["id"],
        (await scim.create_group("Small", users[:2]))["id"],
        (await scim.create_group("Empty"))["id"],
    ]
    return users, teams


async def _whole(
    scim: Scim, resource: ResourceType, resource_id: str, attributes: str | None = None
) -> dict[str, Any]:
    """The SCIM representation as rendered whole (render.to_wire), for comparison."""
    store = scim.client.app[STORE].resources(resource)
    record = await store.get(resource_id)
    base = str(scim.client.make_url("/scim/v2"))
    shown: dict[str, Any] = render.to_wire(
        resource, record, base, parse_projection(resource, attributes, None)
    )
    return shown


async def _raw(scim: Scim, path: str) -> tuple[Any, Any]:
    resp = await scim.request("GET", path)
    text = await resp.text()
    assert resp.status == 200, text
    assert resp.content_type == "application/scim+json"
    return resp, json.loads(text)  # byte-for-byte valid JSON, or this raises


async def test_a_streamed_list_is_each_resource_as_rendered_whole(scim: Scim) -> None:
    users, teams = await _people(scim)
    resp, groups = await _raw(scim, "/Groups?count=10")
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert (groups["totalResults"], groups["startIndex"], groups["itemsPerPage"]) == (3, 1, 3)
    assert groups["Resources"] == [await _whole(scim, GROUP_RESOURCE, t) for t in teams]
    assert len(groups["Resources"][0]["members"]) == len(users)
    _, people = await _raw(scim, "/Users?count=10")
    assert people["Resources"] == [await _whole(scim, USER_RESOURCE, u) for u in users]


async def test_a_large_roster_from_get_by_id_is_the_whole_render(scim: Scim) -> None:
    _, teams = await _people(scim)
    resp, team = await _raw(scim, f"/Groups/{teams[0]}")
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert resp.headers["ETag"] == team["meta"]["version"]
    assert team == await _whole(scim, GROUP_RESOURCE, teams[0])


@pytest.mark.parametrize(
    "attributes",
    [
        "members",
        "members.value",
        "displayName",
        'members[value eq "{user}"]',
        "members.display",
    ],
)
async def test_projection_applies_to_each_step_of_a_roster(scim: Scim, attributes: str) -> None:
    users, teams = await _people(scim)
    wanted = attributes.replace("{user}", users[5])
    _, page = await _raw(scim, f"/Groups?attributes={wanted}&count=10")
    assert page["Resources"] == [await _whole(scim, GROUP_RESOURCE, t, wanted) for t in teams]
    _, one = await _raw(scim, f"/Groups/{teams[0]}?attributes={wanted}")
    assert one == await _whole(scim, GROUP_RESOURCE, teams[0], wanted)


async def test_excluding_a_roster_streams_none_of_it(scim: Scim) -> None:
    _, teams = await _people(scim)
    _, team = await _raw(scim, f"/Groups/{teams[0]}?excludedAttributes=members")
    assert "members" not in team and team["id"] == teams[0]


async def test_pages_and_cursors_stay_right_when_streamed(scim: Scim) -> None:
    users, _ = await _people(scim)
    seen: list[str] = []
    for start in (1, 4, 7):
        _, page = await _raw(scim, f"/Users?startIndex={start}&count=3")
        assert page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"])
        seen += [r["id"] for r in page["Resources"]]
    assert seen == users
    cursor, walked = "", []
    while cursor is not None:
        _, page = await _raw(scim, f"/Users?count=3&cursor={cursor}")
        walked += [r["id"] for r in page["Resources"]]
        cursor = page.get("nextCursor")
    assert walked == users


async def test_the_root_query_streams_users_then_groups(scim: Scim) -> None:
    users, teams = await _people(scim)
    _, page = await _raw(scim, "/?startIndex=6&count=4")
    assert (page["totalResults"], page["itemsPerPage"]) == (10, 4)
    assert [r["id"] for r in page["Resources"]] == [*users[5:], *teams[:2]]
    assert page["Resources"][2] == await _whole(scim, GROUP_RESOURCE, teams[0])


async def test_an_error_before_the_stream_is_still_a_scim_error(scim: Scim) -> None:
    resp = await scim.request("GET", "/Users?filter=userName%20zz%20%22x%22")
    body = await resp.read()
    assert "Transfer-Encoding" not in resp.headers
    headers = {k.lower(): v for k, v in resp.headers.items()}
    assert_scim_error(body, 400, "invalidFilter", headers=headers)


async def test_head_of_a_streamed_list_has_no_body(scim: Scim) -> None:
    await _people(scim)
    resp = await scim.request("HEAD", "/Groups")
    assert resp.status == 200
    assert resp.content_type == "application/scim+json"
    assert await resp.read() == b""


async def test_a_short_body_is_sent_whole(scim: Scim, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page that fits in the first flush is not streamed: an exists-check costs no
    chunked coding."""
    monkeypatch.setattr(http, "FLUSH", 64 * 1024)
    users, _ = await _people(scim)
    resp, page = await _raw(scim, '/Users?filter=userName eq "s1@example.com"')
    assert "Transfer-Encoding" not in resp.headers
    assert int(resp.headers["Content-Length"]) == len(await resp.read())
    assert page["Resources"] == [await _whole(scim, USER_RESOURCE, users[1])]
