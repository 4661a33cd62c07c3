"""Issue #12, console findings: open redirect (2), planted links (3), sign-in rate limit (9),
client input that made the console answer 500 (10)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from scimlite.app import create_app
from scimlite.console.links import resource_href
from scimlite.console.session import COOKIE
from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support import ENTERPRISE_SCHEMA, USER_SCHEMA
from tests.support.console import HTML, Doc, get_page, post, sign_in
from tests.support.scim import Scim

ORIGIN = "http://console.test/"
CONSOLE_PATHS = (
    "/",
    "/users",
    "/teams",
    "/journal",
    "/events",
    "/tokens",
    "/webhooks",
    "/static/",
    "/openapi.json",
)


# --- finding 2: `next` never leaves the console ----------------------------------------

# Decoded values as a form carries them. Browsers strip leading/trailing C0 controls and
# spaces, drop tab/CR/LF anywhere and read `\` as `/` (WHATWG URL parser), so each of these
# would be, or would crash into, a trip to another host.
HOSTILE_NEXT = [
    "/\t/evil.example",
    "/\t\\evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "\x0c//evil.example",
    "\x00//evil.example",
    "/\x00",
    "/x\r\nSet-Cookie: planted=1",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "//evil.example",
    "http://evil.example/",
    "http:evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "evil.example",
]
# The same attacks as a link would carry them: in the query string, percent-encoded.
HOSTILE_NEXT_QUERIES = [
    "next=/%09/evil.example",
    "next=/%09%5Cevil.example",
    "next=/%5Cevil.example",
    "next=%5C%5Cevil.example",
    "next=%2F%2Fevil.example",
    "next=/%0D%0A/evil.example",
    "next=%20//evil.example",
    "next=%09//evil.example",
    "next=/%00",
    "next=javascript%3Aalert(1)",
    "next=http%3A%2F%2Fevil.example",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT, ids=repr)
async def test_hostile_next_in_the_form_signs_in_to_the_dashboard(
    client: TestClient[Any, Any], admin: str, target: str
) -> None:
    doc = await get_page(client, "/signin")
    resp = await post(client, "/signin", {**doc.form("/signin"), "token": admin, "next": target})
    assert resp.headers["Location"] == "/"
    assert COOKIE in resp.cookies


@pytest.mark.parametrize("query", HOSTILE_NEXT_QUERIES)
async def test_hostile_next_in_a_link_signs_in_to_the_dashboard(
    client: TestClient[Any, Any], admin: str, query: str
) -> None:
    resp = await client.get(URL(f"/signin?{query}", encoded=True), allow_redirects=False)
    assert resp.status == 200, await resp.text()
    fields = Doc(await resp.text()).form("/signin")
    assert fields["next"] == "/"
    resp = await post(client, "/signin", {**fields, "token": admin})
    assert resp.headers["Location"] == "/"
    # Already signed in, the sign-in page redirects at once: to the dashboard too.
    again = await client.get(URL(f"/signin?{query}", encoded=True), allow_redirects=False)
    assert again.status == 303
    assert again.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/teams", "/teams"),
        ("/users?q=ada&sort=displayName", "/users?q=ada&sort=displayName"),
        ("/users?q=Zoë", "/users?q=Zo%C3%AB"),
        ("/journal?resource=a b", "/journal?resource=a%20b"),
    ],
)
async def test_same_site_next_is_followed(
    client: TestClient[Any, Any], admin: str, target: str, location: str
) -> None:
    doc = await get_page(client, "/signin")
    resp = await post(client, "/signin", {**doc.form("/signin"), "token": admin, "next": target})
    assert resp.headers["Location"] == location


async def test_the_sign_in_redirect_round_trips_the_page_asked_for(
    client: TestClient[Any, Any], admin: str
) -> None:
    asked = "/users?q=Zo%C3%AB+%26+co&sort=displayName"
    resp = await client.get(asked, allow_redirects=False)
    resp = await client.get(resp.headers["Location"], allow_redirects=False)
    fields = Doc(await resp.text()).form("/signin")
    resp = await post(client, "/signin", {**fields, "token": admin})
    landed = await client.get(resp.headers["Location"], allow_redirects=False)
    assert landed.status == 200
    assert landed.url.query["q"] == "Zoë & co"
    assert landed.url.query["sort"] == "displayName"


# --- finding 3: links are built from ids, never from client text -----------------------


async def _pages_with(console: TestClient[Any, Any], scim: Scim, user_id: str) -> list[str]:
    """Every console page that shows the user: its links, each resolved as a browser would."""
    team = await scim.create_group("Team ../signin", members=[user_id])
    links: list[str] = []
    for path in ("/", "/users", f"/users/{user_id}", "/teams", f"/teams/{team['id']}",
                 "/journal", f"/journal?resource={user_id}", "/events", "/tokens"):  # fmt: skip
        links += [
            urljoin(ORIGIN + path.lstrip("/"), href)
            for href in (await get_page(console, path)).links
        ]
    return links


def _assert_console_links(links: list[str]) -> None:
    for link in links:
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}/" == ORIGIN, link
        assert parts.path == "/" or parts.path.startswith(CONSOLE_PATHS[1:]), link
        assert not parts.path.startswith("/signin"), link


async def _user_with_manager(scim: Scim, manager: str) -> dict[str, Any]:
    extension = {ENTERPRISE_SCHEMA: {"manager": {"value": manager}}}
    return await scim.create_user("ada", schemas=[USER_SCHEMA, ENTERPRISE_SCHEMA], **extension)


@pytest.mark.parametrize(
    "manager",
    [
        "../signin?next=/%09/host/pwned",
        "../../signin",
        "..",
        ".",
        "%2e%2e",
        "x/../../signin",
        "//evil.example",
        "?next=//evil.example",
        "javascript:alert(1)",
    ],
)
async def test_a_planted_manager_is_text_not_a_link(
    console: TestClient[Any, Any], scim: Scim, manager: str
) -> None:
    user = await _user_with_manager(scim, manager)
    links = await _pages_with(console, scim, user["id"])
    _assert_console_links(links)
    doc = await get_page(console, f"/users/{user['id']}")
    assert manager in doc.all_text  # still shown, as text
    others = {link for link in doc.links if link.startswith("/users/")} - {f"/users/{user['id']}"}
    assert not others  # no link for the manager: no such user


async def test_an_existing_manager_is_a_link(console: TestClient[Any, Any], scim: Scim) -> None:
    boss = await scim.create_user("grace")
    user = await _user_with_manager(scim, boss["id"])
    doc = await get_page(console, f"/users/{user['id']}")
    assert f"/users/{boss['id']}" in doc.links


@pytest.mark.parametrize(
    ("resource_type", "resource_id", "href"),
    [
        (
            "User",
            "2819c223-7f76-453a-919d-413861904646",
            "/users/2819c223-7f76-453a-919d-413861904646",
        ),
        ("Group", "e9e30dba", "/teams/e9e30dba"),
        ("User", "../signin?next=/x", "/users/..%2Fsignin%3Fnext%3D%2Fx"),
        ("User", "a b#c", "/users/a%20b%23c"),
        ("User", "..", None),
        ("User", ".", None),
        ("User", "%2E%2e", None),
        ("User", ".%2e", None),
        ("User", "", None),
        ("Token", "x", None),
        ("User", None, None),
    ],
)
def test_resource_href_is_one_path_segment(
    resource_type: str, resource_id: str | None, href: str | None
) -> None:
    assert resource_href(resource_type, resource_id) == href


# --- finding 9: one limiter for every credential check ---------------------------------


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth_failure_limit": 3})


@pytest.fixture
async def limited_client(aiohttp_client: Any, limited: Settings) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(limited))
    return client


async def test_sign_in_failures_are_throttled(limited_client: TestClient[Any, Any]) -> None:
    for _ in range(3):
        await sign_in(limited_client, "sl_00000000_wrong", status=401)
    resp = await sign_in(limited_client, "sl_00000000_wrong", status=429)
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.content_type == HTML
    doc = Doc(await resp.text())
    assert "Too many failed sign-ins" in doc.all_text
    assert "/signin" in [form["action"] for form in doc.forms]  # a valid token still works


async def test_a_valid_token_signs_in_from_a_throttled_address(
    limited_client: TestClient[Any, Any],
) -> None:
    _, secret = await limited_client.app[STORE].create_token("admin", "admin")
    for _ in range(3):
        await sign_in(limited_client, "nonsense", status=401)
    await sign_in(limited_client, "nonsense", status=429)
    await sign_in(limited_client, secret, status=303)
    assert (await limited_client.get("/", allow_redirects=False)).status == 200


async def test_api_and_console_failures_count_together(
    limited_client: TestClient[Any, Any],
) -> None:
    bad = {"Authorization": "Bearer sl_00000000_wrong"}
    for _ in range(2):
        assert (await limited_client.get("/scim/v2/Users", headers=bad)).status == 401
    await sign_in(limited_client, "sl_00000000_wrong", status=401)
    await sign_in(limited_client, "sl_00000000_wrong", status=429)
    assert (await limited_client.get("/scim/v2/Users", headers=bad)).status == 429


async def test_console_failures_throttle_the_api(limited_client: TestClient[Any, Any]) -> None:
    for _ in range(3):
        await sign_in(limited_client, "sl_00000000_wrong", status=401)
    bad = {"Authorization": "Bearer sl_00000000_wrong"}
    resp = await limited_client.get("/scim/v2/Users", headers=bad)
    assert resp.status == 429
    assert "Retry-After" in resp.headers


# --- finding 10: client input never makes the console answer 500 -----------------------

BAD_QUERIES = [
    "/users?page=99999999999999999999",
    "/users?page=%C2%B2",
    "/users?page=-1",
    "/users?page=1e3",
    "/teams?page=99999999999999999999",
    "/teams?page=%C2%B2",
    "/teams?page=%D9%A3",
    "/journal?before=99999999999999999999",
    "/journal?before=%C2%B2",
    "/journal?since=0001-01-01T00:00%2B14:00",
    "/journal?until=9999-12-31T23:59-14:00",
    "/journal?since=yesterday",
    "/journal?since=2026-13-01T00:00",
]


@pytest.mark.parametrize("path", BAD_QUERIES)
async def test_bad_query_parameters_get_a_400_page(
    console: TestClient[Any, Any], path: str
) -> None:
    resp = await console.get(URL(path, encoded=True), allow_redirects=False)
    assert resp.status == 400, await resp.text()
    assert resp.content_type == HTML
    assert Doc(await resp.text()).h1 == ["Cannot do that"] or "journal" in path


async def test_a_team_page_past_the_end_is_a_400_page(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    team = await scim.create_group("Ops")
    resp = await console.get(f"/teams/{team['id']}?page=99999999999999999999")
    assert resp.status == 400
    assert resp.content_type == HTML


@pytest.mark.parametrize("path", ["/tokens", "/tokens/revoke", "/signout", "/users/x/active"])
async def test_a_form_that_is_not_utf8_gets_a_400_page(
    console: TestClient[Any, Any], path: str
) -> None:
    csrf = (await get_page(console, "/tokens")).form("/tokens")["csrf"]
    body = f"csrf={csrf}&name=".encode() + b"\xff\xfe\xc3"
    resp = await console.post(
        path,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status == 400, await resp.text()
    assert resp.content_type == HTML
    assert "UTF-8" in Doc(await resp.text()).all_text


async def test_a_sign_in_form_that_is_not_utf8_gets_a_400_page(
    client: TestClient[Any, Any],
) -> None:
    csrf = (await get_page(client, "/signin")).form("/signin")["csrf"]
    body = f"csrf={csrf}&token=sl_".encode() + b"\xff" * 8 + b"_x"
    resp = await client.post(
        "/signin",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status == 400, await resp.text()
    assert resp.content_type == HTML


# Every query parameter and form field of every route, fed what a hostile client would send.
ODD_VALUES = [
    "",
    "%00",
    "%ED%A0%80",  # an encoded lone surrogate
    "%FF%FE",  # not UTF-8
    "%C2%B2",
    "99999999999999999999",
    "-99999999999999999999",
    "..%2F..%2Fsignin",
    "%0D%0ASet-Cookie:%20x=1",
    "x" * 5000,
]
GET_PARAMS = {
    "/users": ("q", "sort", "order", "page"),
    "/teams": ("q", "page"),
    "/journal": ("type", "resource", "token", "status", "since", "until", "before"),
    "/signin": ("next",),
    "/": ("page",),
    "/tokens": ("x",),
}


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: v[:24])
@pytest.mark.parametrize(
    ("path", "name"), [(p, n) for p, names in GET_PARAMS.items() for n in names]
)
async def test_no_query_parameter_makes_a_5xx(
    console: TestClient[Any, Any], path: str, name: str, value: str
) -> None:
    resp = await console.get(URL(f"{path}?{name}={value}", encoded=True), allow_redirects=False)
    assert resp.status < 500, await resp.text()
    if resp.status >= 400:
        assert resp.content_type == HTML


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: v[:24])
@pytest.mark.parametrize(
    "path",
    ["/users/{}", "/teams/{}", "/users/{}?page=2", "/teams/{}?page={}", "/static/{}"],
)
async def test_no_path_segment_makes_a_5xx(
    console: TestClient[Any, Any], scim: Scim, path: str, value: str
) -> None:
    team = await scim.create_group("Ops")
    target = path.format(team["id"] if "page={}" in path else value or "%20", value)
    resp = await console.get(URL(target, encoded=True), allow_redirects=False)
    assert resp.status < 500, await resp.text()


POST_FIELDS = {
    "/users/{user}/active": ("active",),
    "/users/{odd}/active": ("active",),
    "/teams/{team}/remove-member": ("user_id",),
    "/teams/{odd}/remove-member": ("user_id",),
    "/tokens": ("name", "scope"),
    "/tokens/revoke": ("name",),
    "/signout": ("x",),
}


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: v[:24])
@pytest.mark.parametrize(
    ("path", "name"), [(p, n) for p, names in POST_FIELDS.items() for n in names]
)
async def test_no_form_field_makes_a_5xx(
    console: TestClient[Any, Any], scim: Scim, path: str, name: str, value: str
) -> None:
    user = await scim.create_user("ada")
    team = await scim.create_group("Ops", members=[user["id"]])
    csrf = (await get_page(console, "/tokens")).form("/tokens")["csrf"]
    target = path.format(user=user["id"], team=team["id"], odd=value or "%20")
    body = f"csrf={csrf}&{name}={value}"
    resp = await console.post(
        URL(target, encoded=True),
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status < 500, await resp.text()
    if resp.status >= 400:
        assert resp.content_type == HTML


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: v[:24])
@pytest.mark.parametrize("name", ["token", "next", "csrf"])
async def test_no_sign_in_field_makes_a_5xx(
    client: TestClient[Any, Any], name: str, value: str
) -> None:
    fields = (await get_page(client, "/signin")).form("/signin")
    body = "&".join(f"{k}={v}" for k, v in {**fields, name: value}.items())
    resp = await client.post(
        "/signin",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status < 500, await resp.text()
    assert resp.status == 303 or resp.content_type == HTML
