"""The web console: pages by structure, escaping, sessions, CSRF, scopes, headers, actions."""

from __future__ import annotations

import re
from dataclasses import astuple
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite.app import create_app
from scimlite.console.session import COOKIE, SIGNIN_COOKIE
from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store.rows import fetch_all
from tests.support import USER_SCHEMA, journal_entries, patch_ops
from tests.support.console import HTML, Doc, get_page, post, sign_in
from tests.support.scim import Scim

XSS = "<script>alert(1)</script>"


# --- sign-in, sessions, scopes ------------------------------------------------------------


async def test_visitor_is_sent_to_sign_in(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/users?q=ada", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/signin?next=/users%3Fq%3Dada"


async def test_sign_in_page(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/signin")
    doc = Doc(await resp.text())
    assert doc.title == "Sign in · scimlite"
    assert doc.h1 == ["Sign in to the console"]
    fields = doc.form("/signin")
    assert set(fields) == {"csrf", "next", "token"}
    assert len(fields["csrf"]) >= 40
    assert "/static/console.css" in await resp.text()


async def test_admin_token_signs_in_and_returns_to_next(
    client: TestClient[Any, Any], admin: str
) -> None:
    doc = await get_page(client, "/signin?next=/teams")
    resp = await post(client, "/signin", {**doc.form("/signin"), "token": admin})
    assert resp.headers["Location"] == "/teams"
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert not cookie["secure"]  # plain http here
    assert cookie["path"] == "/"
    dashboard = await get_page(client, "/")
    assert dashboard.h1 == ["Dashboard"]
    assert "admin" in dashboard.all_text


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example"], ids=str
)
async def test_next_never_leaves_the_console(
    client: TestClient[Any, Any], admin: str, target: str
) -> None:
    doc = await get_page(client, "/signin")
    resp = await post(client, "/signin", {**doc.form("/signin"), "token": admin, "next": target})
    assert resp.headers["Location"] == "/"


async def test_cookie_is_secure_behind_https(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(
        create_app(settings.model_copy(update={"public_url": "https://scim.example.com"}))
    )
    _, secret = await client.app[STORE].create_token("admin", "admin")
    resp = await client.get("/signin")
    signin_cookie = resp.cookies[SIGNIN_COOKIE]
    assert signin_cookie["secure"] is True
    fields = Doc(await resp.text()).form("/signin") | {"token": secret}
    # The jar keeps Secure cookies from plain-http requests, so send this one by hand.
    resp = await client.post(
        "/signin",
        data=fields,
        cookies={SIGNIN_COOKIE: signin_cookie.value},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.cookies[COOKIE]["secure"] is True


async def test_scim_token_cannot_sign_in(client: TestClient[Any, Any], token: str) -> None:
    resp = await sign_in(client, token, status=403)
    doc = Doc(await resp.text())
    assert "scope 'scim'" in doc.all_text
    assert COOKIE not in resp.cookies
    assert (await client.get("/", allow_redirects=False)).status == 303


@pytest.mark.parametrize(
    "secret", ["", "nonsense", "sl_00000000_nope"], ids=["empty", "junk", "unknown"]
)
async def test_bad_token_cannot_sign_in(client: TestClient[Any, Any], secret: str) -> None:
    resp = await sign_in(client, secret, status=401)
    assert "not valid" in Doc(await resp.text()).all_text


async def test_revoked_admin_token_cannot_sign_in(client: TestClient[Any, Any], admin: str) -> None:
    await client.app[STORE].revoke_token("admin")
    await sign_in(client, admin, status=401)


async def test_sign_in_needs_its_csrf_token(client: TestClient[Any, Any], admin: str) -> None:
    await get_page(client, "/signin")  # sets the sign-in cookie
    await post(client, "/signin", {"token": admin}, status=403)
    await post(client, "/signin", {"token": admin, "csrf": "forged"}, status=403)
    client.session.cookie_jar.clear()
    await post(client, "/signin", {"token": admin, "csrf": "forged"}, status=403)


async def test_sign_in_without_cookies_says_that_cookies_are_needed(
    client: TestClient[Any, Any], admin: str
) -> None:
    """A browser that keeps no cookies posts the form without its double-submit cookie."""
    fields = (await get_page(client, "/signin")).form("/signin")
    client.session.cookie_jar.clear()
    resp = await post(client, "/signin", {**fields, "token": admin}, status=403)
    doc = Doc(await resp.text())
    assert "without its cookie" in doc.all_text and "allow them" in doc.all_text
    assert "sign in first" not in doc.all_text
    assert doc.form("/signin")["csrf"]  # the sign-in page itself, with a fresh form


async def test_a_stale_sign_in_form_says_so(client: TestClient[Any, Any], admin: str) -> None:
    stale = (await get_page(client, "/signin")).form("/signin")
    await get_page(client, "/signin")  # a newer form (another tab) replaced the cookie
    resp = await post(client, "/signin", {**stale, "token": admin}, status=403)
    assert "This sign-in form has expired" in Doc(await resp.text()).all_text


async def test_session_id_is_new_at_sign_in(client: TestClient[Any, Any], admin: str) -> None:
    """Session fixation: an id planted before sign-in is never the signed-in session."""
    planted = "attacker-chosen-session-id"
    client.session.cookie_jar.update_cookies({COOKIE: planted})
    resp = await sign_in(client, admin)
    issued = resp.cookies[COOKIE].value
    assert issued != planted
    assert len(issued) >= 40
    planted_only = await client.get("/", cookies={COOKIE: planted}, allow_redirects=False)
    assert planted_only.status == 303
    assert (await client.get("/", allow_redirects=False)).status == 200


async def test_sign_out(console: TestClient[Any, Any]) -> None:
    doc = await get_page(console, "/")
    resp = await post(console, "/signout", doc.form("/signout"))
    assert resp.headers["Location"] == "/signin"
    assert (await console.get("/", allow_redirects=False)).status == 303


async def test_sign_out_needs_csrf(console: TestClient[Any, Any]) -> None:
    await post(console, "/signout", {}, status=403)
    assert (await console.get("/", allow_redirects=False)).status == 200


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/signin", "/", "/users", "/teams", "/journal", "/tokens", "/nope"]
)
async def test_security_headers(console: TestClient[Any, Any], path: str) -> None:
    resp = await console.get(path, allow_redirects=False)
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "/signin",
        "/",
        "/nope",
        "/static/console.css",
        "/healthz",
        "/openapi.json",
        "/scim/v2/Users",
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/nope",
    ],
)
async def test_the_server_header_names_no_library_or_version(
    client: TestClient[Any, Any], path: str
) -> None:
    resp = await client.get(path, allow_redirects=False)
    assert resp.headers.getall("Server") == ["scimlite"]


async def test_no_inline_script_or_style(console: TestClient[Any, Any], scim: Scim) -> None:
    await scim.create_user("ada@example.com")
    for path in ("/", "/users", "/teams", "/journal", "/tokens"):
        text = await (await console.get(path)).text()
        doc = Doc(text)
        assert all(s.get("src") for s in doc.scripts), path
        assert " style=" not in text and "<style" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path


async def test_static_assets(client: TestClient[Any, Any]) -> None:
    for path, kind in (
        ("/static/console.css", "text/css"),
        ("/static/console.js", "application/javascript"),
    ):
        resp = await client.get(path)
        assert resp.status == 200
        assert resp.content_type == kind
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_scim_and_health_are_not_console_pages(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert "Content-Security-Policy" not in resp.headers
    resp = await client.get("/scim/v2/Users")
    assert resp.status == 401
    assert resp.content_type == "application/scim+json"


# --- pages ---------------------------------------------------------------------------------

NAV = ["/", "/users", "/teams", "/journal", "/tokens"]


@pytest.mark.parametrize(
    ("path", "h1"),
    [("/", "Dashboard"), ("/users", "Users"), ("/teams", "Teams"), ("/journal", "Journal"),
     ("/tokens", "Tokens")],
    ids=lambda v: str(v),
)  # fmt: skip
async def test_pages_have_title_heading_and_nav(
    console: TestClient[Any, Any], path: str, h1: str
) -> None:
    doc = await get_page(console, path)
    assert doc.h1 == [h1]
    assert doc.title == f"{h1} · scimlite"
    assert all(link in doc.links for link in NAV)
    assert "/openapi.json" in doc.links
    assert doc.form("/signout")["csrf"]


async def test_dashboard_counts_and_last_writes(console: TestClient[Any, Any], scim: Scim) -> None:
    ada = await scim.create_user("ada@example.com")
    await scim.create_user("alan@example.com", active=False)
    await scim.create_group("Engineering", members=[ada["id"]])
    await scim.call("POST", "/Users", {"userName": ""}, status=400)
    doc = await get_page(console, "/")
    text = doc.all_text
    assert "Active users 1" in text
    assert "Inactive users 1" in text
    assert "Teams 1" in text
    assert "Memberships 1" in text
    assert "/journal?token=test-idp" in doc.links
    assert "Recent errors" in text
    assert "400" in text


async def test_dashboard_counts_follow_every_kind_of_write(scim: Scim) -> None:
    """The counts are kept by triggers, not counted: after each kind of write they must
    equal what counting the rows says."""
    store = scim.client.app[STORE]

    async def patch(path: str, *ops: dict[str, Any]) -> None:
        await scim.call("PATCH", path, patch_ops(*ops))

    async def assert_counts_match() -> None:
        async with store.db.read() as conn:
            [counted] = await fetch_all(
                conn,
                "SELECT (SELECT count(*) FROM users WHERE active = 1), "
                "(SELECT count(*) FROM users WHERE active = 0), "
                "(SELECT count(*) FROM groups), (SELECT count(*) FROM memberships)",
            )
        assert astuple(await store.directory_counts()) == tuple(counted)
        await store.compact_counts()  # PostgreSQL: deltas folded into the base, same counts
        assert astuple(await store.directory_counts()) == tuple(counted)

    users = [await scim.create_user(f"n{i}@example.com", active=i % 2 == 0) for i in range(4)]
    team = await scim.create_group("T", members=[u["id"] for u in users[:3]])
    other = await scim.create_group("O", members=[users[0]["id"]])
    await assert_counts_match()
    await patch(f"/Users/{users[0]['id']}", {"op": "replace", "path": "active", "value": False})
    await patch(f"/Users/{users[1]['id']}", {"op": "replace", "value": {"active": True}})
    await patch(f"/Users/{users[2]['id']}", {"op": "replace", "path": "displayName", "value": "x"})
    await scim.call(
        "PUT", f"/Users/{users[3]['id']}", {"schemas": [USER_SCHEMA], "userName": "n3@example.com"}
    )
    await assert_counts_match()
    await patch(f"/Groups/{team['id']}", {"op": "add", "path": "members",
                                          "value": [{"value": users[3]["id"]}]},
                {"op": "remove", "path": f'members[value eq "{users[0]["id"]}"]'})  # fmt: skip
    await assert_counts_match()
    await scim.call("DELETE", f"/Users/{users[1]['id']}", status=204)  # leaves team T
    await scim.call("DELETE", f"/Groups/{other['id']}", status=204)
    await assert_counts_match()


async def test_users_table_paging_and_sort(console: TestClient[Any, Any], scim: Scim) -> None:
    for i in range(55):
        await scim.create_user(f"user{i:02d}@example.com", displayName=f"User {54 - i:02d}")
    doc = await get_page(console, "/users")
    assert "55 users" in doc.all_text
    assert "Page 1 of 2" in doc.all_text
    users = [link for link in doc.links if link.startswith("/users/")]
    assert len(users) == 50
    page2 = await get_page(console, "/users?page=2")
    assert len([link for link in page2.links if link.startswith("/users/")]) == 5
    assert "user54@example.com" in page2.all_text
    by_name = await get_page(console, "/users?sort=displayName&order=desc")
    assert by_name.all_text.index("User 54") < by_name.all_text.index("User 53")
    assert "/users?sort=displayName&order=asc&page=1" in by_name.links


@pytest.mark.parametrize(
    ("q", "found", "note"),
    [
        pytest.param("ADA", ["ada@example.com"], False, id="plain-username"),
        pytest.param("Lovelace", ["ada@example.com"], False, id="plain-display-name"),
        pytest.param("work.example", ["alan@example.com"], False, id="plain-email"),
        pytest.param('userName sw "alan"', ["alan@example.com"], False, id="scim-filter"),
        pytest.param("active eq false", ["alan@example.com"], False, id="scim-boolean"),
        pytest.param('userName eq "ada', [], True, id="broken-filter-is-text"),
        pytest.param('say "hi" \\ %_', [], True, id="quotes-escaped"),
    ],
)
async def test_users_search(
    console: TestClient[Any, Any], scim: Scim, q: str, found: list[str], note: bool
) -> None:
    await scim.create_user("ada@example.com", displayName="Ada Lovelace")
    await scim.create_user(
        "alan@example.com", active=False, emails=[{"value": "alan@work.example"}]
    )
    resp = await console.get("/users", params={"q": q})
    assert resp.status == 200
    doc = Doc(await resp.text())
    shown = [name for name in ("ada@example.com", "alan@example.com") if name in doc.all_text]
    assert shown == found
    assert ("Not a valid SCIM filter" in doc.all_text) is note
    assert doc.form("/users")["q"] == q


@pytest.mark.parametrize("q", ["é" * 300, '"' * 300, "\\" * 300], ids=["unicode", "quotes", "bs"])
async def test_users_search_longest_text_still_runs(console: TestClient[Any, Any], q: str) -> None:
    resp = await console.get("/users", params={"q": q})
    assert resp.status == 200
    doc = Doc(await resp.text())
    assert "0 users matching" in doc.all_text
    assert doc.form("/users")["q"] == q[:200]


async def test_script_user_name_is_text(console: TestClient[Any, Any], scim: Scim) -> None:
    user = await scim.create_user(XSS, displayName=XSS)
    await scim.create_group(XSS, members=[user["id"]])
    team_id = (await scim.call("GET", "/Groups"))["Resources"][0]["id"]
    for path in ("/users", f"/users/{user['id']}", "/teams", f"/teams/{team_id}", "/journal", "/"):
        text = await (await console.get(path)).text()
        assert XSS not in text, path
    text = await (await console.get(f"/users/{user['id']}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert XSS in Doc(text).h1[0]


async def test_user_page(console: TestClient[Any, Any], scim: Scim) -> None:
    user = await scim.create_user(
        "grace@example.com",
        displayName="Grace Hopper",
        name={"givenName": "Grace", "familyName": "Hopper"},
        emails=[{"value": "grace@example.com", "primary": True, "type": "work"}],
        externalId="ext-7",
    )
    team = await scim.create_group("Navy", members=[user["id"]])
    doc = await get_page(console, f"/users/{user['id']}")
    assert doc.h1[0].split() == ["Grace", "Hopper", "active"]
    assert doc.title == "grace@example.com · scimlite"
    text = doc.all_text
    for expected in ("grace@example.com", "ext-7", user["id"], "primary", "Raw SCIM JSON"):
        assert expected in text
    assert f"/teams/{team['id']}" in doc.links
    assert '"userName": "grace@example.com"' in text
    assert "POST /scim/v2/Users" in text  # history
    assert doc.form(f"/users/{user['id']}/active")["active"] == "false"


async def test_unknown_user_is_404_page(console: TestClient[Any, Any]) -> None:
    doc = await get_page(console, "/users/not-a-user", status=404)
    assert doc.h1 == ["Not found"]
    await get_page(console, "/no/such/page", status=404)


async def test_deactivate_user_is_journaled(console: TestClient[Any, Any], scim: Scim) -> None:
    user = await scim.create_user("ken@example.com")
    page = await get_page(console, f"/users/{user['id']}")
    form = page.form(f"/users/{user['id']}/active")
    resp = await post(console, f"/users/{user['id']}/active", form)
    assert resp.headers["Location"] == f"/users/{user['id']}"
    assert (await scim.call("GET", f"/Users/{user['id']}"))["active"] is False
    after = await get_page(console, f"/users/{user['id']}")
    assert "Deactivated ken@example.com." in after.all_text
    assert after.form(f"/users/{user['id']}/active")["active"] == "true"
    entry = (await journal_entries(console.app[STORE], resource_id=user["id"]))[0]
    assert (entry.token_name, entry.method, entry.path) == (
        "admin",
        "POST",
        f"/users/{user['id']}/active",
    )
    assert entry.changes == [{"path": "active", "op": "add", "new": False}]


@pytest.mark.parametrize("presented", [None, "", "forged"], ids=["missing", "empty", "wrong"])
async def test_console_writes_need_csrf(
    console: TestClient[Any, Any], scim: Scim, presented: str | None
) -> None:
    user = await scim.create_user("dennis@example.com", active=True)
    data = {"active": "false"} | ({} if presented is None else {"csrf": presented})
    resp = await post(console, f"/users/{user['id']}/active", data, status=403)
    assert resp.content_type == HTML
    assert (await scim.call("GET", f"/Users/{user['id']}"))["active"] is True


async def test_writes_need_a_session(client: TestClient[Any, Any], scim: Scim) -> None:
    user = await scim.create_user("linus@example.com", active=True)
    await post(client, f"/users/{user['id']}/active", {"active": "false", "csrf": "x"}, 403)
    await post(client, "/tokens", {"name": "x", "scope": "admin", "csrf": "x"}, 403)
    assert (await scim.call("GET", f"/Users/{user['id']}"))["active"] is True


async def test_teams_list_counts_members(console: TestClient[Any, Any], scim: Scim) -> None:
    ids = [(await scim.create_user(f"u{i}@example.com"))["id"] for i in range(3)]
    await scim.create_group("Research", members=ids)
    await scim.create_group("Design", members=ids[:1])
    await scim.create_group("100%_done")
    doc = await get_page(console, "/teams")
    text = doc.all_text
    assert "3 teams" in text
    assert re.search(r"Design 1 .*Research 3", text)
    assert "100%_done 0" in text
    found = await get_page(console, "/teams?q=%25_")
    assert "1 team matching" in found.all_text
    assert "100%_done" in found.all_text


async def test_team_page_pages_members_and_removes_one(
    console: TestClient[Any, Any], scim: Scim
) -> None:
    ids = [(await scim.create_user(f"m{i:02d}@example.com"))["id"] for i in range(53)]
    team = await scim.create_group("Platform", members=ids)
    doc = await get_page(console, f"/teams/{team['id']}")
    assert doc.h1 == ["Platform"]
    assert "Page 1 of 2" in doc.all_text
    assert len([f for f in doc.forms if f["action"] == f"/teams/{team['id']}/remove-member"]) == 50
    page2 = await get_page(console, f"/teams/{team['id']}?page=2")
    shown = {link for d in (doc, page2) for link in d.links if link.startswith("/users/")}
    assert shown == {f"/users/{i}" for i in ids}
    form = page2.form(f"/teams/{team['id']}/remove-member")
    await post(console, f"/teams/{team['id']}/remove-member", form)
    members = (await scim.call("GET", f"/Groups/{team['id']}"))["members"]
    assert len(members) == 52
    entry = (await journal_entries(console.app[STORE], resource_id=team["id"]))[0]
    assert entry.token_name == "admin"
    assert entry.changes == [{"path": "members", "op": "remove", "values": [form["user_id"]]}]
    after = await get_page(console, f"/teams/{team['id']}")
    assert "Removed the member from the team." in after.all_text


async def test_journal_filters(console: TestClient[Any, Any], scim: Scim) -> None:
    user = await scim.create_user("barbara@example.com")
    await scim.create_group("Security")
    await scim.call(
        "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "barbara@example.com"}, status=409
    )
    doc = await get_page(console, "/journal")
    assert {"type", "resource", "token", "status", "since", "until"} <= set(doc.forms[1]["fields"])
    assert doc.all_text.count("POST /scim/v2/") == 3

    async def rows(query: str) -> int:
        return (await get_page(console, f"/journal?{query}")).all_text.count("POST /scim/v2/")

    assert await rows("type=Group") == 1
    assert await rows(f"resource={user['id']}") == 1
    assert await rows("token=test-idp") == 3
    assert await rows("token=admin") == 0
    assert await rows("status=error") == 1
    assert await rows("status=ok") == 2
    assert await rows("since=2000-01-01T00:00&until=2999-01-01T00:00") == 3
    assert await rows("until=2000-01-01T00:00") == 0
    bad = await get_page(console, "/journal?since=yesterday", status=400)
    assert "not a date and time" in bad.all_text


async def test_journal_pages_by_id(console: TestClient[Any, Any], scim: Scim) -> None:
    for i in range(27):
        await scim.create_user(f"j{i:02d}@example.com")
    doc = await get_page(console, "/journal")
    assert doc.all_text.count("POST /scim/v2/Users") == 25
    older = [link for link in doc.links if "before=" in link]
    assert len(older) == 1
    page2 = await get_page(console, older[0])
    assert page2.all_text.count("POST /scim/v2/Users") == 2


async def test_tokens_create_shows_secret_once(console: TestClient[Any, Any]) -> None:
    doc = await get_page(console, "/tokens")
    form = doc.form("/tokens") | {"name": "okta", "scope": "scim"}
    resp = await post(console, "/tokens", form, status=200)
    text = await resp.text()
    secret = re.search(r'value="(sl_[0-9a-f]{8}_[^"]+)"', text)
    assert secret is not None
    info = await console.app[STORE].authenticate(secret.group(1))
    assert info is not None and info.scope == "scim"
    again = await (await console.get("/tokens")).text()
    assert secret.group(1) not in again
    assert f"sl_{info.prefix}_…" in again
    entry = (await journal_entries(console.app[STORE], resource_id="okta"))[0]
    assert (entry.resource_type, entry.status, entry.token_name) == ("Token", 200, "admin")
    dup = await post(console, "/tokens", form, status=400)
    assert "already exists" in Doc(await dup.text()).all_text


@pytest.mark.parametrize(
    ("name", "scope", "says"),
    [
        ("", "scim", "1 to 64 characters"),
        ("has space", "scim", "1 to 64 characters"),
        ("x" * 65, "scim", "1 to 64 characters"),
        ("tab\tname", "scim", "1 to 64 characters"),
        ("ok", "root", "Scope must be one of"),
    ],
    ids=["empty", "space", "too-long", "control", "scope"],
)
async def test_tokens_create_rejects_bad_input(
    console: TestClient[Any, Any], name: str, scope: str, says: str
) -> None:
    """The console applies the CLI's token-name rule (tokens.valid_token_name)."""
    form = (await get_page(console, "/tokens")).form("/tokens") | {"name": name, "scope": scope}
    page = await post(console, "/tokens", form, status=400)
    assert says in Doc(await page.text()).all_text
    assert [t.name for t in await console.app[STORE].list_tokens()] == ["admin"]


async def test_revoke_token(console: TestClient[Any, Any], scim: Scim) -> None:
    doc = await get_page(console, "/tokens")
    forms = [f["fields"] for f in doc.forms if f["action"] == "/tokens/revoke"]
    form = next(f for f in forms if f["name"] == "test-idp")
    await post(console, "/tokens/revoke", form)
    assert (await scim.request("GET", "/Users")).status == 401
    after = await get_page(console, "/tokens")
    assert "Revoked token 'test-idp'" in after.all_text
    entry = (await journal_entries(console.app[STORE], resource_id="test-idp"))[0]
    assert (entry.method, entry.path, entry.token_name) == ("POST", "/tokens/revoke", "admin")
    await post(console, "/tokens/revoke", form)  # already revoked: a message, not a crash
    assert "Nothing revoked" in (await get_page(console, "/tokens")).all_text


async def test_revoking_own_token_signs_out(console: TestClient[Any, Any]) -> None:
    doc = await get_page(console, "/tokens")
    form = next(f["fields"] for f in doc.forms if f["fields"].get("name") == "admin")
    resp = await post(console, "/tokens/revoke", form)
    assert resp.headers["Location"] == "/signin"
    assert (await console.get("/", allow_redirects=False)).status == 303


async def test_revoked_token_ends_other_sessions(console: TestClient[Any, Any], admin: str) -> None:
    await console.app[STORE].revoke_token("admin")  # e.g. `scimlite token revoke` elsewhere
    assert (await console.get("/", allow_redirects=False)).status == 303


async def test_counter_deltas_fold_into_their_base(scim: Scim) -> None:
    """PostgreSQL appends a delta per counted write (no row for writers to queue on);
    compaction folds them, once, without changing a count. SQLite has nothing to fold."""
    store = scim.client.app[STORE]
    await store.compact_counts()  # whatever the fixtures wrote
    await scim.create_group("T", [(await scim.create_user(f"c{i}"))["id"] for i in range(3)])
    before = await store.directory_counts()
    folded = await store.compact_counts()
    assert folded == (7 if store.db.dialect.count_deltas else 0)  # 3 users, 1 team, 3 members
    assert await store.compact_counts() == 0
    assert await store.directory_counts() == before


async def test_only_paths_under_the_scim_base_url_answer_scim_errors(
    client: TestClient[Any, Any],
) -> None:
    beside = await client.get("/scim/v2foo", allow_redirects=False)
    assert beside.status == 404 and beside.content_type == "text/html"
    under = await client.get("/scim/v2/foo", allow_redirects=False)
    assert under.status == 401 and under.content_type == "application/scim+json"
