"""The webhook worker (docs/webhooks.md): delivers each endpoint's events in order, at
least once, signed by the Standard Webhooks convention (scimlite/webhooks.py).

One task per enabled endpoint, started by `Deliverer.run` (a cleanup context in app.py),
which looks for endpoints every `poll` seconds, so one added by the CLI is picked up
without a restart. A task holds its endpoint's lease while it delivers (store/webhooks.py),
so processes sharing a PostgreSQL database never deliver to one endpoint in parallel. The
clock and the sleeping between retries are injected: tests drive the retry schedule with
a fake clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from scimlite import __version__, timeutil, webhooks
from scimlite.api.events import configured_base, render
from scimlite.settings import Settings
from scimlite.store import Event, Store, Webhook
from scimlite.store.errors import NotFound
from scimlite.store.events import FellBehind
from scimlite.store.webhooks import Attempt

log = logging.getLogger("scimlite.webhooks")
MAX_RESPONSE_BYTES = 64 * 1024  # read of a receiver's answer; the rest is discarded
POLL_SECONDS = 1.0  # how soon an endpoint added elsewhere, or another process's event, is seen
LEASE_MARGIN = 5.0  # seconds a lease outlasts the delivery it covers


class Clock(Protocol):
    """Time as the worker reads and waits for it (a fake one in tests)."""

    def time(self) -> float:
        """Unix seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _refused(address: str) -> str:
    return (
        f"refused: the receiver's address {address} is private, loopback, link-local, "
        "multicast or unspecified (SSRF); set SCIMLITE_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    )


async def check_receiver(url: str, allow_private: bool) -> str | None:
    """Why `url` cannot receive webhooks (one line), or None: a bad URL, a host that does
    not resolve, or (unless `allow_private`) one that resolves to an address refused as
    SSRF. Checked when an endpoint is added; the worker checks again at each delivery."""
    problem = webhooks.check_url(url)
    if problem is not None or allow_private:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host!r}: {exc}"
    for info in infos:
        if webhooks.refused_address(str(info[4][0])):
            return _refused(str(info[4][0]))
    return None


class _GuardedResolver(AbstractResolver):
    """Resolution at connect time that leaves out refused addresses, so a name that
    resolved to a public address when checked cannot connect to a private one later
    (DNS rebinding)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if not webhooks.refused_address(r["host"])]
        if not allowed:
            # (errno, strerror): aiohttp quotes strerror in the error it raises.
            raise OSError(errno.EHOSTUNREACH, _refused(found[0]["host"] if found else host))
        return allowed

    async def close(self) -> None:
        await self._inner.close()


class Deliverer:
    """Delivers events to every enabled endpoint until cancelled."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock | None = None,
        rand: Callable[[], float] = random.random,
        poll: float = POLL_SECONDS,
        recheck: float = POLL_SECONDS,
    ) -> None:
        """`poll`: real seconds between looks for new endpoints and new events (a commit
        of this process wakes a look at once); `recheck`: the longest a retry's wait lasts
        before the endpoint is read again (a resend from the console), on `clock`."""
        self.store = store
        self.owner = uuid.uuid4().hex  # this process's name on its leases
        self.clock: Clock = clock or SystemClock()
        self.rand = rand
        self.poll = poll
        self.recheck = recheck
        self.allow_private = settings.webhook_allow_private
        self.timeout = settings.webhook_timeout
        self.lease = 2 * settings.webhook_timeout + LEASE_MARGIN
        self.schedule = webhooks.Schedule(
            settings.webhook_retry_base,
            settings.webhook_retry_max_delay,
            settings.webhook_retry_window,
        )
        self.base = configured_base(settings)
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=None if self.allow_private else _GuardedResolver(), limit=100
        )
        # No cookie jar: one receiver's Set-Cookie must never travel to another.
        jar = aiohttp.DummyCookieJar()
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
            try:
                while True:
                    try:
                        await self._start_tasks(session)
                    except Exception:
                        log.exception("looking for webhook endpoints failed; retrying")
                    await asyncio.sleep(self.poll)
            finally:
                for task in self._tasks.values():
                    task.cancel()
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
                with suppress(Exception):
                    await self.store.release_webhooks(self.owner)

    async def _start_tasks(self, session: aiohttp.ClientSession) -> None:
        now = self.clock.time()
        hooks = await self.store.list_webhooks()
        for gone in {i for i, t in self._tasks.items() if t.done()} - {h.id for h in hooks}:
            del self._tasks[gone]
        for hook in hooks:
            running = self._tasks.get(hook.id)
            if running is not None and not running.done():
                continue
            if hook.disabled or (hook.leased_by not in (None, self.owner) and _leased(hook, now)):
                continue
            self._tasks[hook.id] = asyncio.create_task(self._follow(hook.id, session))

    async def _follow(self, webhook_id: int, session: aiohttp.ClientSession) -> None:
        try:
            await self._deliver_in_order(webhook_id, session)
        except Exception:  # the next look restarts it
            log.exception("delivering to webhook %s failed", webhook_id)

    async def _deliver_in_order(self, webhook_id: int, session: aiohttp.ClientSession) -> None:
        """Deliver the endpoint's events one after the other while this process holds its
        lease; returns when the endpoint is gone or disabled or another process has it."""
        lease_until = 0.0
        while True:
            now = self.clock.time()
            if lease_until - now < self.timeout + LEASE_MARGIN:
                hook = await self.store.claim_webhook(webhook_id, self.owner, now, now + self.lease)
                if hook is None:
                    return
                lease_until = now + self.lease
            else:
                try:
                    hook = await self.store.webhook(webhook_id)
                except NotFound:
                    return
                if hook.disabled or hook.leased_by != self.owner:
                    return
            if hook.next_attempt is not None and hook.next_attempt > now:
                await self.clock.sleep(min(hook.next_attempt - now, self.recheck))
                continue
            woken = self.store.commits.pending()
            try:
                found, after = await self.store.events_after(hook.position, 1, hook.types)
            except FellBehind as exc:
                await self.store.disable_webhook(hook.id, self._stamp(), str(exc))
                return
            if not found:
                if after != hook.position:
                    await self.store.skip_webhook(hook.id, hook.position, after)
                await self.store.commits.wait(self.poll, since=woken)
                continue
            await self.deliver(session, hook, found[0])

    async def deliver(self, session: aiohttp.ClientSession, hook: Webhook, event: Event) -> None:
        """One attempt: POST the event, log it, and advance or schedule the retry."""
        body = orjson.dumps(render(event, self.base))
        stamp = int(self.clock.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"scimlite/{__version__}",
            "webhook-id": event.position,
            "webhook-timestamp": str(stamp),
            "webhook-signature": webhooks.sign(hook.secret, event.position, stamp, body),
        }
        started = time.monotonic()
        status, error = await self._post(session, hook.url, body, headers)
        attempt = Attempt(
            event_id=event.position,
            event_type=event.type,
            at=self._stamp(),
            request_headers=headers,
            request_body=body.decode(),
            body_bytes=len(body),
            status=status,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            error=error,
        )
        if error is None:
            await self.store.webhook_delivered(hook, attempt)
            return
        now = self.clock.time()
        failures = hook.failures + 1
        since = now if hook.failing_since is None else hook.failing_since
        reason = None
        if self.schedule.exhausted(since, now):
            reason = (
                f"auto-disabled: {failures} deliveries in a row failed over "
                f"{(now - since) / 3600:.1f} h; the last: {error}"
            )
            log.warning("webhook %s to %s %s", hook.id, hook.url, reason)
        delay = self.schedule.delay(failures, self.rand)
        await self.store.webhook_failed(hook, attempt, since, now + delay, reason)

    async def _post(
        self, session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """(status, why it failed) of one POST: redirects are not followed, the answer is
        read up to MAX_RESPONSE_BYTES, the whole exchange has `timeout` seconds."""
        host = urlsplit(url).hostname or ""
        if not self.allow_private and _is_ip(host) and webhooks.refused_address(host):
            return None, _refused(host)
        try:
            async with asyncio.timeout(self.timeout):
                async with session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    answer = await _read_capped(resp)
        except TimeoutError:
            return None, f"no response within {self.timeout:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= resp.status < 300:
            return resp.status, None
        excerpt = answer[:200].decode(errors="replace")
        return resp.status, f"HTTP {resp.status}" + (f": {excerpt}" if excerpt else "")

    def _stamp(self) -> str:
        return timeutil.from_unix(self.clock.time())


DELIVERER = web.AppKey("deliverer", Deliverer)


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    """Up to MAX_RESPONSE_BYTES of the answer; the connection is closed on the rest."""
    parts: list[bytes] = []
    left = MAX_RESPONSE_BYTES
    while left > 0:
        chunk = await resp.content.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _leased(hook: Webhook, now: float) -> bool:
    return hook.leased_until is not None and hook.leased_until >= now


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
