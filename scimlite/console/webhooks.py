"""The console's Webhooks pages (docs/webhooks.md): endpoints with their status, add (the
secret shown once), remove, rotate the secret, re-enable, and each delivery with a resend.
The worker (api/webhooks.py) picks up every change within a second."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from scimlite import timeutil
from scimlite.api.webhooks import check_receiver
from scimlite.console.middleware import SESSION, redirect
from scimlite.console.params import read_form
from scimlite.console.views import page
from scimlite.keys import SETTINGS, STORE
from scimlite.store import Store, Webhook
from scimlite.store.errors import NotFound
from scimlite.store.events import EVENT_TYPES, split_types, unknown_types

DELIVERIES = 50  # the latest attempts a detail page shows


def _store(request: web.Request) -> Store:
    return request.app[STORE]


async def _flash(request: web.Request, message: str) -> None:
    await _store(request).add_flash(request[SESSION].id, message)


def _webhook_id(request: web.Request) -> int:
    """The endpoint id in the path (the route admits digits only)."""
    raw = request.match_info["id"]
    if len(raw) > 18:
        raise NotFound(f"no webhook with id {raw[:20]}")
    return int(raw)


def unix_time(seconds: float | None) -> str | None:
    """Unix seconds as the console's other times are (RFC 3339), for `short_time`."""
    return None if seconds is None else timeutil.from_unix(seconds)


async def _list_page(
    request: web.Request,
    created: tuple[Webhook, str] | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> web.Response:
    context = {
        "webhooks": await _store(request).list_webhooks(),
        "event_types": EVENT_TYPES,
        "created": created,
        "error": error,
        "form": form or {},
        "unix_time": unix_time,
    }
    return page(request, "webhooks.html", context, 400 if error else 200)


async def webhooks(request: web.Request) -> web.Response:
    return await _list_page(request)


async def add_webhook(request: web.Request) -> web.Response:
    """Add an endpoint starting at "now"; its secret is in this response only."""
    form = await read_form(request)
    url = form.get("url", "").strip()
    types = tuple(t for t in split_types(form.get("types", "")) if t)
    unknown = unknown_types(types)
    problem = f"Unknown event type {unknown[0]!r}." if unknown else None
    allow = request.app[SETTINGS].webhook_allow_private
    problem = problem or await check_receiver(url, allow)
    if problem is not None:
        return await _list_page(request, error=problem[0].upper() + problem[1:], form=form)
    store = _store(request)
    created = await store.add_webhook(url, types, await store.events_now(), timeutil.now())
    return await _list_page(request, created=created)


async def _detail_page(request: web.Request, secret: str | None = None) -> web.Response:
    store = _store(request)
    hook = await store.webhook(_webhook_id(request))
    deliveries = await store.webhook_deliveries(hook.id, DELIVERIES)
    context: dict[str, Any] = {
        "hook": hook,
        "deliveries": deliveries,
        "secret": secret,
        "unix_time": unix_time,
        "pretty": _pretty,
    }
    return page(request, "webhook.html", context)


def _pretty(body: str) -> str:
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return body


async def webhook(request: web.Request) -> web.Response:
    return await _detail_page(request)


async def rotate_secret(request: web.Request) -> web.Response:
    """The new secret is in this response only."""
    secret = await _store(request).rotate_webhook_secret(_webhook_id(request))
    return await _detail_page(request, secret=secret)


async def remove_webhook(request: web.Request) -> web.Response:
    webhook_id = _webhook_id(request)
    await _store(request).remove_webhook(webhook_id)
    await _flash(request, f"Removed webhook {webhook_id}; nothing more is delivered to it.")
    return redirect("/webhooks")


async def enable_webhook(request: web.Request) -> web.Response:
    webhook_id = _webhook_id(request)
    await _store(request).enable_webhook(webhook_id)
    await _flash(request, f"Re-enabled webhook {webhook_id}: it resumes at once.")
    return redirect(f"/webhooks/{webhook_id}")


async def resend(request: web.Request) -> web.Response:
    """Deliver a delivery's event, and every later one, again (docs/webhooks.md)."""
    webhook_id = _webhook_id(request)
    raw = (await read_form(request)).get("delivery", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 19):
        raise NotFound(f"no delivery {raw[:20]!r} of webhook {webhook_id}")
    event_id = await _store(request).resend_webhook(webhook_id, int(raw))
    await _flash(request, f"Resending from event {event_id}: it and every later event again.")
    return redirect(f"/webhooks/{webhook_id}")


def add_routes(router: web.UrlDispatcher) -> None:
    hooks = router.add_resource("/webhooks", name="webhooks")
    hooks.add_route("GET", webhooks)
    hooks.add_route("POST", add_webhook)
    router.add_get(r"/webhooks/{id:\d+}", webhook, name="webhook")
    router.add_post(r"/webhooks/{id:\d+}/remove", remove_webhook, name="webhook-remove")
    router.add_post(r"/webhooks/{id:\d+}/rotate", rotate_secret, name="webhook-rotate")
    router.add_post(r"/webhooks/{id:\d+}/enable", enable_webhook, name="webhook-enable")
    router.add_post(r"/webhooks/{id:\d+}/resend", resend, name="webhook-resend")
