"""The console end to end in Debian's headless Chromium, driven by Playwright.

The server runs for real on a loopback port, in its own thread and event loop
(tests.support.threaded); the browser (sync Playwright API) and the SCIM calls (raw HTTP)
run in the test's thread.
Without /usr/bin/chromium these tests skip, except under CI (`CI` set), where they fail.
Screenshots go to $SCIMLITE_SCREENSHOTS when set (docs/console.md says how to refresh
docs/screenshots), else to a pytest temporary directory. The documentation's pictures of
the dashboard, users, a user, a team and the journal are of the demo directory, as
`scimlite demo` shows it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from scimlite.assets import EXAMPLE_DB
from scimlite.console.live import LIVE_STREAMS
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
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Locator,
        Page,
        ViewportSize,
        expect,
        sync_playwright,
    )
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
    settings = Settings(
        db_path=tmp_path_factory.mktemp("browser") / "scimlite.db",
        webhook_allow_private=True,  # the Webhooks test's receiver address is 127.0.0.1
    )
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

    _nav(page, "Users")
    page.get_by_label("Search").fill("lovelace")
    page.get_by_label("Search").press("Enter")
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada@example.com")
    page.get_by_label("Search").fill("")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(4)

    page.get_by_role("link", name="ada@example.com").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ada Lovelace")
    page.get_by_role("region", name="Teams").get_by_role("link", name="Engineering").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Engineering")
    expect(page.locator("table.members tbody tr")).to_have_count(2)

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
    for section in ("Users", "Teams", "Journal", "Events", "Tokens", "Webhooks", "Dashboard"):
        _nav(page, section)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, section
    _nav(page, "Journal")
    page.screenshot(path=shots / "journal-narrow.png", full_page=True)
    page.keyboard.press("Tab")  # the first stop is the skip link, visible when focused
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


@pytest.mark.parametrize(
    ("section", "rows"),
    [("Journal", "table.journal tbody tr"), ("Events", "table.events tbody tr")],
)
def test_pages_show_provisioning_live(page: Page, live: Live, section: str, rows: str) -> None:
    """Issue #18 item 4: a user the IdP creates appears on top without a reload."""
    store = live.app[STORE]
    _, admin = live.run(store.create_token(f"live-{section.lower()}", "admin"))
    _, idp = live.run(store.create_token(f"idp-{section.lower()}", "scim"))
    _sign_in(page, live, admin)
    _nav(page, section)
    page.evaluate("window.notReloaded = true")
    expect(page.locator(f"{rows}.arrived")).to_have_count(0)
    name = f"live-{section.lower()}@example.com"
    status, user = live.scim(idp, "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": name})
    assert status == 201, user
    newest = page.locator(rows).first
    expect(newest).to_contain_text(name)
    expect(newest).to_have_class(re.compile(r"\barrived\b"))
    assert page.evaluate("window.notReloaded") is True


def _streams(live: Live, count: int) -> None:
    """Wait until the server serves `count` live streams."""
    streams = live.app[LIVE_STREAMS]
    for _ in range(100):
        if len(streams) == count:
            return
        time.sleep(0.05)
    assert len(streams) == count


def _set_hidden(page: Page, hidden: bool) -> None:
    """What a browser does when its tab goes to the background (or comes back)."""
    page.evaluate(
        "hidden => { Object.defineProperty(document, 'hidden', {value: hidden, configurable: "
        "true}); document.dispatchEvent(new Event('visibilitychange')); }",
        hidden,
    )


def test_a_hidden_tab_closes_its_stream_and_catches_up(page: Page, live: Live) -> None:
    """Over HTTP/1.1 a browser opens 6 connections to a site: background tabs must not keep
    theirs. Shown again, the page resumes from the last row it had."""
    store = live.app[STORE]
    _, admin = live.run(store.create_token("live-hidden", "admin"))
    _, idp = live.run(store.create_token("idp-hidden", "scim"))
    _sign_in(page, live, admin)
    _nav(page, "Events")
    _streams(live, 1)
    _set_hidden(page, True)
    _streams(live, 0)
    name = "while-hidden@example.com"
    status, user = live.scim(idp, "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": name})
    assert status == 201, user
    _set_hidden(page, False)
    expect(page.locator("table.events tbody tr").first).to_contain_text(name)
    _streams(live, 1)


def test_webhooks_page(page: Page, live: Live, shots: Path) -> None:
    """Add an endpoint (its secret shown once), open it, rotate its secret."""
    _, admin = live.run(live.app[STORE].create_token("hooks", "admin"))
    _sign_in(page, live, admin)
    _nav(page, "Webhooks")
    page.get_by_label("URL").fill("http://127.0.0.1:9/hook")
    page.get_by_label("Event types").fill("user.deactivated")
    page.get_by_role("button", name="Add endpoint").click()
    first = page.get_by_label("The new signing secret").input_value()
    assert first.startswith("whsec_")
    page.screenshot(path=shots / "webhooks.png", full_page=True)
    page.get_by_role("link", name="127.0.0.1:9/hook").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Webhook \d+$"))
    expect(page.locator("body")).not_to_contain_text(first)
    page.get_by_role("button", name="Rotate secret").click()  # the confirm is accepted
    rotated = page.get_by_label("The new signing secret").input_value()
    assert rotated.startswith("whsec_") and rotated != first


# --- the demo directory: what `scimlite demo` shows (issue #16, items 10-14) ---------------

REPO = Path(__file__).resolve().parents[3]
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, str]]:
    """A server on a copy of scimlite.db.example, as `scimlite demo` runs, and an admin token."""
    copy = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copyfile(REPO / EXAMPLE_DB, copy)
    with ThreadedApp(Settings(db_path=copy)) as server:
        live = Live(server)
        _, admin = live.run(live.app[STORE].create_token("admin", "admin"))
        yield live, admin


def _row(page: Page, text: str) -> Locator:
    """The journal row whose request is `text` (e.g. `DELETE /scim/v2/Users/…`)."""
    return page.locator("table.journal tbody tr", has_text=text)


def test_demo_dashboard(page: Page, demo: tuple[Live, str], shots: Path) -> None:
    live, admin = demo
    _sign_in(page, live, admin)
    writes = page.get_by_role("region", name="Last write per token")
    expect(writes.locator("tbody tr")).to_have_count(2)
    expect(writes).to_contain_text("okta")
    expect(writes).to_contain_text("entra")
    errors = page.get_by_role("region", name="Recent errors")
    expect(errors.locator("thead th").last).to_have_text("Error")
    refused = errors.locator("tbody tr", has_text="must be a boolean")
    expect(refused.get_by_role("link")).to_have_text("evelyn.berezin@example.com")
    page.screenshot(path=shots / "dashboard.png", full_page=True)


def test_demo_histories_tell_both_sides(page: Page, demo: tuple[Live, str], shots: Path) -> None:
    live, admin = demo
    _sign_in(page, live, admin)
    _nav(page, "Teams")
    page.get_by_role("link", name="Engineering").click()
    left = _row(page, "DELETE /scim/v2/Users/")
    expect(left).to_contain_text("members removed: charles.babbage@example.com (user deleted)")
    swap = _row(page, "PATCH /scim/v2/Groups/")
    expect(swap).to_contain_text("members removed: donald.knuth@example.com")
    expect(swap).to_contain_text("members added: tony.hoare@example.com")
    page.screenshot(path=shots / "team.png", full_page=True)

    _nav(page, "Users")
    page.get_by_label("Search").fill("alan")
    page.get_by_label("Search").press("Enter")
    page.get_by_role("link", name="alan.turing@example.com").click()
    moved = _row(page, "PUT /scim/v2/Users/")
    expect(moved).to_contain_text("groups added: Infrastructure")
    expect(moved).to_contain_text("groups removed: Research")
    page.screenshot(path=shots / "user.png", full_page=True)

    _nav(page, "Users")
    page.get_by_label("Search").fill("stroustrup")
    page.get_by_label("Search").press("Enter")
    page.get_by_role("link", name="bjarne.stroustrup@example.com").click()
    fields = page.get_by_role("region", name="Attributes")
    expect(fields.locator("dt:text-is('Manager') + dd")).to_have_text("Grace Hopper")
    manager = _row(page, "PATCH /scim/v2/Users/")
    expect(manager).to_contain_text("manager.value grace.hopper@example.com")
    expect(manager).to_contain_text('manager" given as a bare id')


def test_demo_journal(page: Page, demo: tuple[Live, str], shots: Path) -> None:
    live, admin = demo
    _sign_in(page, live, admin)
    _nav(page, "Users")
    page.screenshot(path=shots / "users.png", full_page=True)
    _nav(page, "Journal")
    rows = page.locator("table.journal tbody tr")
    expect(rows).to_have_count(25)  # a page; "Older →" leads on
    expect(page.get_by_role("link", name="Older →")).to_be_visible()
    expect(rows.filter(has_text="no change")).to_have_count(1)  # Okta deactivating twice
    created = rows.filter(has_text="POST /scim/v2/Users").last
    expect(created.locator("details.more summary")).to_have_text(re.compile(r"\d+ more changes"))
    # Long diffs fold: no row of the journal is taller than a few lines.
    tallest = max(box["height"] for box in _boxes(rows))
    assert tallest < 200, tallest
    page.screenshot(path=shots / "journal.png", full_page=True)


def _boxes(rows: Locator) -> list[Any]:
    return [b for b in (rows.nth(i).bounding_box() for i in range(rows.count())) if b]


@pytest.mark.parametrize("section", ["Dashboard", "Users", "Teams", "Journal", "Events", "Tokens"])
def test_demo_on_a_phone(page: Page, demo: tuple[Live, str], shots: Path, section: str) -> None:
    """390 px wide: no page scrolls sideways, and every table cell is on screen."""
    live, admin = demo
    page.set_viewport_size(PHONE)
    _sign_in(page, live, admin)
    _nav(page, section)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, section
    cells = page.locator("main table td")
    assert cells.count() > 0
    for box in _boxes(cells):  # every column of every row, the Status one included
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (section, box)
    if section == "Dashboard":
        page.screenshot(path=shots / "dashboard-phone.png", full_page=True)
    if section == "Journal":  # one screen of it, from the table on
        page.locator("table.journal caption").evaluate("e => e.scrollIntoView()")
        page.screenshot(path=shots / "journal-phone.png")
