"""The console's live view (issue #18, item 4; docs/console.md): /journal/live and
/events/live stream rows as writes commit, only to a signed-in session, resumable with
Last-Event-ID, with heartbeats, an end, and a cap; and the Events page they feed."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from aiohttp import ClientPayloadError, ClientResponse
from aiohttp.test_utils import TestClient

from scimlite.console import live
from scimlite.keys import STORE
from scimlite.store.errors import ReadersBusy
from tests.support.console import Doc, get_page
from tests.support.scim import Scim

Client = TestClient[Any, Any]
STREAMS = ("/journal/live", "/events/live")


async def message(resp: ClientResponse, seconds: float = 15) -> dict[str, str]:
    """The next SSE message's fields (WHATWG HTML §9.2.6), or {"comment": …} for a comment
    line; {} at the end of the stream."""
    fields: dict[str, str] = {}
    while True:
        raw = await asyncio.wait_for(resp.content.readline(), seconds)
        if not raw:
            return fields
        line = raw.decode().rstrip("\n")
        if line == "":
            if fields:
                return fields
            continue
        name, _, value = line.partition(":")
        if name == "":
            return {"comment": value.strip()}
        fields[name] = value.removeprefix(" ")


async def rows(resp: ClientResponse) -> tuple[str, str]:
    """The next message of rows: (its id, its HTML), skipping the retry field and comments."""
    while True:
        fields = await message(resp)
        assert fields, "the stream ended"
        if fields.get("event") == "rows":
            html: str = orjson.loads(fields["data"])
            return fields["id"], html


def types(html: str) -> list[str]:
    """The event types of the rows, in order."""
    return re.findall(r'class="event-type">([a-z._]+)<', html)


async def open_stream(
    client: Client, path: str, last_event_id: str | None = None
) -> ClientResponse:
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    resp = await client.get(path, headers=headers, allow_redirects=False)
    assert resp.status == 200, await resp.text()
    return resp


def names(html: str) -> list[str]:
    """The userName each row names first, in the order sent (users created as `u-…`)."""
    found = (re.search(r"\bu-[a-z0-9]+", row) for row in html.split("<tr")[1:])
    return [m.group(0) for m in found if m]


@pytest.mark.parametrize("path", STREAMS)
async def test_a_stream_needs_a_session(client: Client, path: str) -> None:
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/signin?next=")
    assert not resp.headers.get("Content-Type", "").startswith("text/event-stream")


@pytest.mark.parametrize("path", STREAMS)
async def test_a_write_after_connecting_is_streamed(console: Client, scim: Scim, path: str) -> None:
    resp = await open_stream(console, path)
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers.getall("Server") == ["scimlite"]  # prepared by the view itself
    await scim.create_user("u-ada")
    _, html = await rows(resp)
    assert names(html) == ["u-ada"]
    assert html.lstrip().startswith("<tr id=")
    resp.close()


@pytest.mark.parametrize("path", STREAMS)
async def test_a_reconnect_resumes_from_last_event_id(
    console: Client, scim: Scim, path: str
) -> None:
    first = await open_stream(console, path)
    await scim.create_user("u-one")
    position, html = await rows(first)
    assert names(html) == ["u-one"]
    first.close()
    for name in ("u-two", "u-three", "u-four"):
        await scim.create_user(name)
    again = await open_stream(console, path, position)
    seen: list[str] = []
    while len(seen) < 3:
        _, html = await rows(again)
        seen += names(html)
    assert seen == ["u-two", "u-three", "u-four"]  # none again, none missing, in commit order
    again.close()


@pytest.mark.parametrize("path", STREAMS)
async def test_the_page_position_starts_the_stream(console: Client, scim: Scim, path: str) -> None:
    page = "/journal" if path == "/journal/live" else "/events"
    href = _live_href(await get_page(console, page), page)
    await scim.create_user("u-afterpage")
    resp = await open_stream(console, href)
    _, html = await rows(resp)
    assert names(html) == ["u-afterpage"]
    resp.close()


def _live_href(doc: Doc, page: str) -> str:
    found = re.search(r'data-live="([^"]+)"', doc.raw)
    assert found, f"{page} is not live"
    return found.group(1).replace("&amp;", "&")


async def test_heartbeats_keep_an_idle_stream_open(
    console: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.2)
    resp = await open_stream(console, "/events/live")
    assert await message(resp) == {"retry": str(live.RETRY_MS)}
    assert await message(resp, seconds=5) == {"comment": "heartbeat"}
    assert await message(resp, seconds=5) == {"comment": "heartbeat"}
    resp.close()


async def test_a_stream_ends_after_its_time(
    console: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "STREAM_SECONDS", 0.3)
    resp = await open_stream(console, "/events/live")
    fields = await message(resp)
    while fields:
        fields = await message(resp, seconds=5)
    assert resp.content.at_eof()


async def test_a_busy_database_ends_the_stream_cleanly(
    console: Client, scim: Scim, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Mid-stream the response is already sent: a store error must end it (the browser
    resumes from its last id), not become an error page written into the stream."""
    store = console.app[STORE]
    read = store.events_after

    async def busy(*args: Any) -> Any:
        found = await read(*args)
        if found[0]:  # the read that would stream the new user fails instead
            raise ReadersBusy("every reader stayed busy")
        return found

    monkeypatch.setattr(store, "events_after", busy)
    resp = await open_stream(console, "/events/live")
    assert await message(resp) == {"retry": str(live.RETRY_MS)}
    await scim.create_user("u-unseen")
    assert await message(resp, seconds=5) == {}  # the end, cleanly
    assert "a live view ended early" in caplog.text
    assert "unhandled error" not in caplog.text


async def test_the_events_stream_sends_only_its_type(console: Client, scim: Scim) -> None:
    resp = await open_stream(console, "/events/live?type=user.deleted")
    created = await scim.create_user("u-gone")
    await scim.call("DELETE", f"/Users/{created['id']}", status=204)
    _, html = await rows(resp)
    assert types(html) == ["user.deleted"]
    resp.close()


@pytest.mark.parametrize(
    "path", ["/events/live?type=user.exploded", "/events/live?after=x1", "/journal/live?after=1.x"]
)
async def test_a_bad_parameter_is_a_400_page(console: Client, path: str) -> None:
    resp = await console.get(path)
    assert resp.status == 400
    assert resp.content_type == "text/html"


async def test_streams_past_the_cap_are_refused(
    console: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "MAX_STREAMS", 2)
    held = [await open_stream(console, path) for path in STREAMS]
    refused = await console.get("/events/live")
    assert refused.status == 503
    assert refused.headers["Retry-After"] == str(live.RETRY_MS // 1000)
    held.pop().close()  # a browser leaving frees its place
    for _ in range(50):
        again = await console.get("/events/live")
        if again.status == 200:
            break
        await asyncio.sleep(0.1)
    assert again.status == 200
    for resp in [*held, again]:
        resp.close()


async def test_shutdown_ends_the_streams(console: Client) -> None:
    """Else a stream holds a graceful shutdown for its whole duration."""
    resp = await open_stream(console, "/events/live")
    assert await message(resp) == {"retry": str(live.RETRY_MS)}
    await console.app.shutdown()  # on_shutdown, as the runner calls it before waiting
    with pytest.raises(ClientPayloadError):  # cut off, well before the next heartbeat
        while await message(resp, seconds=5):
            pass


async def test_streamed_rows_are_escaped(console: Client, scim: Scim) -> None:
    resp = await open_stream(console, "/events/live")
    await scim.create_user("u-x<script>alert(1)</script>", displayName="a\rb\nc")
    _, html = await rows(resp)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    resp.close()


# --- the Events page ----------------------------------------------------------------


async def test_events_page_lists_newest_first_with_links(console: Client, scim: Scim) -> None:
    ada = await scim.create_user("u-ada")
    team = await scim.create_group("Team-One", [ada["id"]])
    doc = await get_page(console, "/events")
    assert doc.h1 == ["Events"]
    assert types(doc.raw) == ["team.member_added", "team.created", "user.created"]
    assert f"/users/{ada['id']}" in doc.links
    assert f"/teams/{team['id']}" in doc.links
    assert "/events" in doc.links  # the nav entry
    assert "&#34;userName&#34;: &#34;u-ada&#34;" in doc.raw or '"userName": "u-ada"' in doc.raw


async def test_events_page_filters_by_type_and_pages(
    console: Client, scim: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "EVENTS_PAGE", 2)
    for name in ("u-a", "u-b", "u-c"):
        await scim.create_user(name)
    await scim.create_group("Team-Two")
    first = await get_page(console, "/events?type=user.created")
    assert names(first.raw) == ["u-c", "u-b"]
    assert types(first.raw) == ["user.created"] * 2
    older = next(link for link in first.links if "before=" in link)
    second = await get_page(console, older.replace("&amp;", "&"))
    assert names(second.raw) == ["u-a"]
    assert "data-live" not in second.raw  # an older page does not grow


async def test_events_page_refuses_an_unknown_type(console: Client) -> None:
    await get_page(console, "/events?type=nope", status=400)


async def test_an_empty_events_page_is_ready_for_live_rows(console: Client) -> None:
    doc = await get_page(console, "/events")
    assert "No events yet." in doc.all_text
    assert re.search(r'<div class="scroll" data-live="[^"]+" hidden>', doc.raw)


async def test_a_filtered_journal_is_not_live(console: Client) -> None:
    assert "data-live" in (await get_page(console, "/journal")).raw
    assert "data-live" not in (await get_page(console, "/journal?status=error")).raw
