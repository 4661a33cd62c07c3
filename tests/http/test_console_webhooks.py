"""The console's Webhooks pages (issue #18, items 3 and 4): add (the secret shown once),
status, each delivery with its request and answer, rotate, remove, re-enable, resend, the
banner while an endpoint is auto-disabled, and the refusals."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scimlite import timeutil
from scimlite.api.webhooks import DELIVERER
from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store import Store
from tests.support.console import get_page, post, sign_in
from tests.support.scim import Scim
from tests.support.webhooks import Receiver, receiving

Client = TestClient[Any, Any]


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(
        db_path=tmp_path / "scimlite.db", database_url=database_url, webhook_allow_private=True
    )


@pytest.fixture
async def receiver(console: Client) -> AsyncIterator[Receiver]:
    console.app[DELIVERER].poll = 0.05
    async with receiving() as got:
        yield got


async def add(console: Client, url: str, types: str = "", status: int = 200) -> str:
    """Add through the form; the page it answers with (entities decoded)."""
    form = (await get_page(console, "/webhooks")).form("/webhooks")
    resp = await post(console, "/webhooks", {**form, "url": url, "types": types}, status)
    return html.unescape(await resp.text())


async def test_add_shows_the_secret_once_and_lists_the_endpoint(
    console: Client, receiver: Receiver
) -> None:
    text = await add(console, receiver.url, "user.created")
    hook = (await console.app[STORE].list_webhooks())[0]
    assert hook.secret in text and "shown once" in text
    listing = await get_page(console, "/webhooks")
    assert hook.secret not in listing.all_text and receiver.url in listing.all_text
    assert "user.created" in listing.all_text and "enabled" in listing.all_text
    nav = await get_page(console, "/")
    assert "/webhooks" in nav.links


@pytest.mark.parametrize(
    ("url", "types", "message"),
    [
        ("ftp://example.com/", "", "A webhook URL is http:// or https://"),
        ("http://127.0.0.1:9/", "user.gone", "Unknown event type 'user.gone'"),
    ],
)
async def test_add_refuses_a_bad_url_or_type(
    console: Client, url: str, types: str, message: str
) -> None:
    text = await add(console, url, types, status=400)
    assert message in text
    assert await console.app[STORE].list_webhooks() == []


async def test_add_refuses_a_private_receiver_unless_allowed(
    aiohttp_client: Any, settings: Settings, admin: str
) -> None:
    strict = await aiohttp_client(
        create_app(settings.model_copy(update={"webhook_allow_private": False}))
    )
    _, secret = await strict.app[STORE].create_token("boss", "admin")
    await sign_in(strict, secret)
    text = await add(strict, "http://10.0.0.7/hook", status=400)
    assert "Refused: the receiver's address 10.0.0.7 is private" in text


async def test_the_detail_shows_each_delivery_and_resend_sends_again(
    console: Client, scim: Scim, receiver: Receiver
) -> None:
    await add(console, receiver.url)
    hook = (await console.app[STORE].list_webhooks())[0]
    await scim.create_user("ada")
    await receiver.wait_for(1)
    doc = await get_page(console, f"/webhooks/{hook.id}")
    text = doc.all_text
    assert "webhook-signature: v1," in text and "user.created" in text and '"ada"' in text
    assert "204" in text and hook.secret not in text
    form = doc.form(f"/webhooks/{hook.id}/resend")
    await post(console, f"/webhooks/{hook.id}/resend", form)
    got = await receiver.wait_for(2)
    assert got[0] == got[1]


async def test_rotate_shows_a_new_secret_once_and_remove_ends_it(
    console: Client, receiver: Receiver
) -> None:
    await add(console, receiver.url)
    store: Store = console.app[STORE]
    hook = (await store.list_webhooks())[0]
    doc = await get_page(console, f"/webhooks/{hook.id}")
    resp = await post(
        console, f"/webhooks/{hook.id}/rotate", doc.form(f"/webhooks/{hook.id}/rotate"), 200
    )
    rotated = (await store.webhook(hook.id)).secret
    assert rotated != hook.secret and rotated in await resp.text()
    assert rotated not in (await get_page(console, f"/webhooks/{hook.id}")).all_text
    await post(console, f"/webhooks/{hook.id}/remove", doc.form(f"/webhooks/{hook.id}/remove"))
    assert await store.list_webhooks() == []
    await get_page(console, f"/webhooks/{hook.id}", status=404)


async def test_a_disabled_endpoint_shows_a_banner_until_re_enabled(
    console: Client, receiver: Receiver
) -> None:
    await add(console, receiver.url)
    store: Store = console.app[STORE]
    hook = (await store.list_webhooks())[0]
    assert "auto-disabled" not in (await get_page(console, "/")).all_text
    reason = "auto-disabled: 40 deliveries in a row failed over 24.0 h; the last: HTTP 500"
    await store.disable_webhook(hook.id, timeutil.now(), reason)
    for path in ("/", "/users", f"/webhooks/{hook.id}"):
        assert "1 webhook endpoint is auto-disabled" in (await get_page(console, path)).all_text
    doc = await get_page(console, f"/webhooks/{hook.id}")
    assert reason in doc.all_text
    await post(console, f"/webhooks/{hook.id}/enable", doc.form(f"/webhooks/{hook.id}/enable"))
    assert "auto-disabled" not in (await get_page(console, "/")).all_text
    assert (await store.webhook(hook.id)).disabled is None


@pytest.mark.parametrize("action", ["remove", "rotate", "enable", "resend"])
async def test_every_form_needs_the_csrf_token(
    console: Client, receiver: Receiver, action: str
) -> None:
    await add(console, receiver.url)
    hook = (await console.app[STORE].list_webhooks())[0]
    await post(console, f"/webhooks/{hook.id}/{action}", {"delivery": "1"}, status=403)
    assert (await console.app[STORE].webhook(hook.id)).secret == hook.secret
    await post(console, "/webhooks", {"url": receiver.url}, status=403)
    assert len(await console.app[STORE].list_webhooks()) == 1
