"""The console end to end in Debian's headless Chromium, driven by Playwright.

The server runs for real on a loopback port, in its own thread and event loop
(tests.support.threaded); the browser (sync Playwright API) and the SCIM calls (raw HTTP)
run in the test's thread.
Without /usr/bin/chromium these tests skip, except under CI (`CI` set), where they fail.
Screenshots go to $SCIMLITE_SCREENSHOTS when set (docs/console.md says how to refresh
docs/screenshots), else to a pytest temporary directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from scimlite.keys import STORE
from scimlite.settings import Settings
from tests.support import GROUP_SCHEMA, PATCH_SCHEMA, SCIM_JSON, USER_SCHEMA, request
from tests.support.threaded import ThreadedApp

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
T = TypeVar("T")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (apt-get install chromium)")
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    _unavailable("playwright is not installed")


class Live:
    """A running scimlite: its base URL, its app, and a way to run coroutines on its loop."""

    def __init__(self, server: ThreadedApp) -> None:
        self.server = server
        self.url = server.url
        assert server.runner is not None
        self.app = server.runner.app

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.server.run(coro)

    def scim(self, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON}
        status, _, raw = request(method, f"{self.url}/scim/v2{path}", data, headers, timeout=10)
        return status, json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = Settings(db_path=tmp_path_factory.mktemp("browser") / "scimlite.db")
    with ThreadedApp(settings) as server:
        yield Live(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    # A CSP violation, a script error or a missing asset shows up here; the console must
    # have none. Refusals (401/403) are pages the tests ask for on purpose.
    expected = ("status of 401", "status of 403")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not any(e in message.text for e in expected):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()
    assert problems == []


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("SCIMLITE_SCREENSHOTS")
    directory = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _sign_in(page: Page, live: Live, secret: str) -> None:
    page.goto(f"{live.url}/")
    expect(page).to_have_url(f"{live.url}/signin?next=/")
    page.get_by_label("API token").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def _nav(page: Page, section: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=section).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(section)


def test_scim_token_cannot_sign_in(page: Page, live: Live) -> None:
    _, secret = live.run(live.app[STORE].create_token("idp-only", "scim"))
    _sign_in(page, live, secret)
    expect(page.get_by_role("alert")).to_contain_text("scope 'scim'")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the console")


def test_admin_flow(page: Page, live: Live, shots: Path) -> None:
    """Sign in, search, open a team, see an IdP's change in the journal, revoke, sign out."""
    store = live.app[STORE]
    _, admin = live.run(store.create_token("admin", "admin"))
    _, okta = live.run(store.create_token("okta", "scim"))
    ids = {}
    for given, family in [("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")]:
        status, user = live.scim(okta, "POST", "/Users", {
            "schemas": [USER_SCHEMA], "userName": f"{given.lower()}@example.com",
            "displayName": f"{given} {family}", "name": {"givenName": given, "familyName": family},
            "emails": [{"value": f"{given.lower()}@example.com", "primary": True}],
        })  # fmt: skip
        assert status == 201, user
        ids[given] = user["id"]
    live.scim(okta, "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "old@example.com",
                                        "active": False})  # fmt: skip
    status, team = live.scim(okta, "POST", "/Groups", {
        "schemas": [GROUP_SCHEMA], "displayName": "Engineering",
        "members": [{"value": ids["Ada"]}, {"value": ids["Alan"]}],
    })  # fmt: skip
    assert status == 201, team
    live.scim(okta, "POST", "/Users", {"schemas": [USER_SCHEMA]})  # an error for the dashboard

    _sign_in(page, live, admin)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page).to_have_title("Dashboard · scimlite")
    page.screenshot(path=shots / "dashboard.png", full_page=True)

    _nav(page, "Users")
    page.get_by_label("Search").fill("lovelace")
    page.get_by_label("Search").press("Enter")
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada@example.com")
    page.get_by_label("Search").fill("")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(4)
    page.screenshot(path=shots / "users.png", full_page=True)

    page.get_by_role("link", name="ada@example.com").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ada Lovelace")
    page.screenshot(path=shots / "user.png", full_page=True)
    page.get_by_role("link", name="Engineering").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Engineering")
    expect(page.locator("table.members tbody tr")).to_have_count(2)
    page.screenshot(path=shots / "team.png", full_page=True)

    status, _ = live.scim(okta, "PATCH", f"/Users/{ids['Grace']}", {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    })  # fmt: skip
    assert status == 200
    _nav(page, "Journal")
    newest = page.locator("table.journal tbody tr").first
    expect(newest).to_contain_text(f"PATCH /scim/v2/Users/{ids['Grace']}")
    expect(newest).to_contain_text("okta")
    expect(newest.locator("td").nth(6)).to_contain_text("active")
    page.screenshot(path=shots / "journal.png", full_page=True)

    _nav(page, "Tokens")
    page.get_by_label("Name").fill("entra")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("The new token")).to_have_value(re.compile(r"^sl_[0-9a-f]{8}_"))
    page.screenshot(path=shots / "tokens.png", full_page=True)
    page.get_by_role("button", name="Revoke token okta").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked token 'okta'")
    assert live.scim(okta, "GET", "/Users")[0] == 401

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the console")
    page.goto(f"{live.url}/users")
    expect(page).to_have_url(f"{live.url}/signin?next=/users")
    page.screenshot(path=shots / "signin.png")


def test_split_screen_width_has_no_page_scroll(page: Page, live: Live, shots: Path) -> None:
    """Responsive down to a laptop split-screen: wide tables scroll inside their box."""
    _, admin = live.run(live.app[STORE].create_token("narrow", "admin"))
    page.set_viewport_size({"width": 640, "height": 900})
    _sign_in(page, live, admin)
    for section in ("Users", "Teams", "Journal", "Tokens", "Dashboard"):
        _nav(page, section)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, section
    _nav(page, "Journal")
    page.screenshot(path=shots / "journal-narrow.png", full_page=True)
    page.keyboard.press("Tab")  # the first stop is the skip link, visible when focused
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
