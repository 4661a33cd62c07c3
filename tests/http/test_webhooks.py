"""Webhooks (issue #18, item 3; docs/webhooks.md): signed deliveries of the events feed, in
order, at least once, retried on the documented schedule (driven by a fake clock), to
endpoints added by the CLI while the server runs, never to private addresses unless
allowed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import standardwebhooks
from aiohttp.test_utils import TestClient

from scimlite import timeutil
from scimlite.api.events import configured_base
from scimlite.api.webhooks import DELIVERER, Deliverer
from scimlite.app import create_app
from scimlite.cli import _with_store, main
from scimlite.keys import STORE
from scimlite.settings import Settings
from scimlite.store import Store, Webhook, WebhookDelivery
from scimlite.store.webhooks import Attempt
from tests.support import free_port
from tests.support.events import settled
from tests.support.scim import Scim
from tests.support.webhooks import Receiver, receiving

Client = TestClient[Any, Any]
BASE, MAX_DELAY, WINDOW = 10.0, 3600.0, 86400.0


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(
        db_path=tmp_path / "scimlite.db",
        database_url=database_url,
        webhook_allow_private=True,  # the receiver listens on 127.0.0.1
        webhook_timeout=0.5,
        webhook_retry_base=BASE,
        webhook_retry_max_delay=MAX_DELAY,
        webhook_retry_window=WINDOW,
        # No background pruning: a test that prunes must not race the server's own
        # start-up pruning for the same rows (seen once as a count of 0 instead of 1).
        journal_retention_days=0,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as got:
        yield got


class FakeClock:
    """Time that passes only when the worker sleeps: a day of retries takes no time."""

    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def deliverer(client: Client) -> Deliverer:
    """The app's worker, looking for endpoints and events often."""
    worker: Deliverer = client.app[DELIVERER]
    worker.poll = 0.05
    return worker


@pytest.fixture
def fake_clock(deliverer: Deliverer) -> FakeClock:
    clock = FakeClock()
    deliverer.clock = clock
    deliverer.recheck = 10 * WINDOW  # a retry's wait is slept in one go
    deliverer.rand = lambda: 1.0  # the longest wait the schedule allows
    return clock


async def add(
    client: Client, url: str, types: tuple[str, ...] = (), position: str | None = None
) -> tuple[Webhook, str]:
    store: Store = client.app[STORE]
    start = position if position is not None else await store.events_now()
    return await store.add_webhook(url, types, start, timeutil.now())


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def deliveries(client: Client, hook: Webhook, count: int) -> list[WebhookDelivery]:
    """The endpoint's first `count` delivery attempts, oldest first, once logged."""
    store: Store = client.app[STORE]

    async def logged() -> bool:
        return len(await store.webhook_deliveries(hook.id)) >= count

    await until(logged)
    return list(reversed(await store.webhook_deliveries(hook.id)))[:count]


async def test_a_delivery_verifies_with_standard_webhooks_and_is_the_feed_event(
    scim: Scim, admin: str, receiver: Receiver, deliverer: Deliverer, settings: Settings
) -> None:
    _, secret = await add(scim.client, receiver.url)
    await scim.create_user("ada")
    await receiver.wait_for(1)
    headers, body = receiver.got[0]
    assert headers["Content-Type"] == "application/json"
    verified = standardwebhooks.Webhook(secret).verify(body, headers)
    shown, _ = await settled(scim, admin, None)
    as_fed = orjson.loads(
        orjson.dumps(shown[-1]).replace(
            str(scim.client.make_url("/scim/v2")).encode(), configured_base(settings).encode()
        )
    )
    assert verified == as_fed and headers["webhook-id"] == as_fed["id"]
    assert verified["type"] == "user.created"


async def test_a_tampered_body_or_old_secret_fails_verification(
    scim: Scim, receiver: Receiver, deliverer: Deliverer
) -> None:
    """The check above can fail: the independent verifier refuses what was not signed."""
    hook, secret = await add(scim.client, receiver.url)
    rotated = await scim.client.app[STORE].rotate_webhook_secret(hook.id)
    await scim.create_user("ada")
    await receiver.wait_for(1)
    headers, body = receiver.got[0]
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(rotated).verify(body.replace(b"ada", b"eve"), headers)
    standardwebhooks.Webhook(rotated).verify(body, headers)


async def test_events_arrive_in_commit_order_and_each_once(
    scim: Scim, receiver: Receiver, deliverer: Deliverer
) -> None:
    hook, _ = await add(scim.client, receiver.url)
    names = [f"user{i}" for i in range(8)]
    for name in names:
        await scim.create_user(name)
    got = await receiver.wait_for(len(names))
    await asyncio.sleep(0.3)
    assert len(receiver.got) == len(names)
    assert [e["data"]["user"]["userName"] for e in got] == names
    store: Store = scim.client.app[STORE]
    assert (await store.webhook(hook.id)).position == got[-1]["id"]


async def test_two_workers_never_deliver_to_one_endpoint_in_parallel(
    scim: Scim, receiver: Receiver, deliverer: Deliverer, settings: Settings
) -> None:
    """As two processes on one PostgreSQL database: the endpoint's lease lets one deliver."""
    other = Deliverer(scim.client.app[STORE], settings, poll=0.05)
    running = asyncio.create_task(other.run())
    try:
        receiver.delay = 0.05  # long enough for a second worker's request to overlap
        await add(scim.client, receiver.url)
        names = [f"user{i}" for i in range(10)]
        for name in names:
            await scim.create_user(name)
        got = await receiver.wait_for(len(names))
        await asyncio.sleep(0.3)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert [e["data"]["user"]["userName"] for e in got] == names
    assert len(receiver.got) == len(names) and receiver.most_in_flight == 1


async def test_a_lease_goes_to_one_owner_until_it_ends(client: Client) -> None:
    """The claim both workers race for (store/webhooks.py): one wins, the other gets None
    until the lease has ended; a disabled or removed endpoint is nobody's."""
    store: Store = client.app[STORE]
    hook, _ = await add(client, "http://127.0.0.1:9/")
    assert await store.claim_webhook(hook.id, "a", 100.0, 110.0) is not None
    assert await store.claim_webhook(hook.id, "b", 105.0, 115.0) is None
    assert await store.claim_webhook(hook.id, "a", 105.0, 115.0) is not None  # renewed
    assert await store.claim_webhook(hook.id, "b", 114.0, 124.0) is None
    claimed = await store.claim_webhook(hook.id, "b", 115.5, 125.0)
    assert claimed is not None and claimed.leased_by == "b"
    await store.release_webhooks("b")
    assert await store.claim_webhook(hook.id, "a", 116.0, 126.0) is not None
    await store.disable_webhook(hook.id, timeutil.now(), "test")
    assert await store.claim_webhook(hook.id, "a", 116.0, 126.0) is None
    await store.remove_webhook(hook.id)
    assert await store.claim_webhook(hook.id, "a", 200.0, 210.0) is None


async def test_an_endpoint_behind_retention_is_disabled_with_how_to_resync(
    scim: Scim, receiver: Receiver, deliverer: Deliverer
) -> None:
    await scim.create_user("ada")
    store: Store = scim.client.app[STORE]
    await store.prune_journal("9999-12-31T00:00:00.000Z")  # retention took every event
    oldest = "0.0" if store.db.dialect.journal_txid else "0"
    hook, _ = await add(scim.client, receiver.url, position=oldest)

    async def disabled() -> bool:
        return (await store.webhook(hook.id)).disabled is not None

    await until(disabled)
    reason = (await store.webhook(hook.id)).disabled_reason
    assert reason is not None and "deleted by retention" in reason and "resync" in reason
    assert receiver.got == []


async def test_the_types_filter_sends_only_those_types(
    scim: Scim, receiver: Receiver, deliverer: Deliverer
) -> None:
    await add(scim.client, receiver.url, ("team.created", "team.member_added"))
    ada = await scim.create_user("ada")
    await scim.create_group("One", [ada["id"]])
    await scim.create_user("bob")
    await scim.create_group("Two")
    got = await receiver.wait_for(3)
    assert [e["type"] for e in got] == ["team.created", "team.member_added", "team.created"]
    await asyncio.sleep(0.3)
    assert len(receiver.got) == 3


async def test_a_new_endpoint_starts_now_and_from_replays(
    scim: Scim, admin: str, receiver: Receiver, deliverer: Deliverer
) -> None:
    _, position = await settled(scim, admin, None)
    await scim.create_user("old")
    await add(scim.client, receiver.url, ("user.created",))
    await add(scim.client, receiver.url, ("user.created",), position=position)
    await scim.create_user("new")
    await receiver.wait_for(3)
    await asyncio.sleep(0.3)
    names = sorted(orjson.loads(body)["data"]["user"]["userName"] for _, body in receiver.got)
    assert names == ["new", "new", "old"]


def _schedule(rand: float) -> list[float]:
    """The attempt times (seconds after the first) the documented schedule gives, until
    the endpoint is disabled: the n-th failure waits min(BASE·2^(n-1), MAX_DELAY)·rand."""
    times, n = [0.0], 1
    while times[-1] < WINDOW:
        times.append(times[-1] + min(BASE * 2 ** (n - 1), MAX_DELAY) * rand)
        n += 1
    return times


async def test_a_failing_receiver_is_retried_on_the_schedule_then_disabled(
    scim: Scim, receiver: Receiver, fake_clock: FakeClock
) -> None:
    receiver.status = 500
    start = fake_clock.now
    hook, _ = await add(scim.client, receiver.url)
    await scim.create_user("ada")
    store: Store = scim.client.app[STORE]

    async def disabled() -> bool:
        return (await store.webhook(hook.id)).disabled is not None

    await until(disabled)
    expected = _schedule(1.0)
    stamps = [int(h["webhook-timestamp"]) - int(start) for h, _ in receiver.got]
    assert stamps == [int(t) for t in expected]
    assert len({h["webhook-id"] for h, _ in receiver.got}) == 1
    gone = await store.webhook(hook.id)
    assert gone.failures == len(expected) and gone.disabled_reason is not None
    assert gone.disabled_reason.startswith(f"auto-disabled: {len(expected)} deliveries")
    assert "HTTP 500: no" in gone.disabled_reason
    assert len(expected) > 20 and expected[-1] >= 24 * 3600  # at least a day of retries


async def test_a_receiver_that_times_out_is_retried_with_jittered_waits(
    scim: Scim, receiver: Receiver, fake_clock: FakeClock, deliverer: Deliverer
) -> None:
    receiver.delay = 2.0  # past webhook_timeout (0.5 s)
    deliverer.rand = lambda: 0.25
    hook, _ = await add(scim.client, receiver.url)
    await scim.create_user("ada")
    attempts = await deliveries(scim.client, hook, 3)
    assert [a.error for a in attempts] == ["no response within 0.5 s"] * 3
    assert [a.status for a in attempts] == [None] * 3
    stamps = [int(h["webhook-timestamp"]) for h, _ in receiver.got[:3]]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [2, 5]  # 10·¼, 20·¼


async def test_an_unreachable_receiver_is_retried_on_the_schedule(
    scim: Scim, fake_clock: FakeClock
) -> None:
    hook, _ = await add(scim.client, f"http://127.0.0.1:{free_port()}/hook")
    await scim.create_user("ada")
    attempts = await deliveries(scim.client, hook, 4)
    assert all(a.status is None and a.error and "Connect" in a.error for a in attempts)
    store: Store = scim.client.app[STORE]
    now = await store.webhook(hook.id)
    assert now.failures >= 4
    expected = _schedule(1.0)
    assert now.failing_since == 2_000_000_000.0
    assert now.next_attempt == 2_000_000_000.0 + expected[now.failures]


async def test_a_delivery_after_failures_resets_the_streak(
    scim: Scim, receiver: Receiver, fake_clock: FakeClock
) -> None:
    receiver.status = 503
    hook, _ = await add(scim.client, receiver.url)
    await scim.create_user("ada")
    await receiver.wait_for(2)
    receiver.status = 200
    failed = len(receiver.got)  # or one more: an attempt may be in flight
    await scim.create_user("bob")
    got = await receiver.wait_for(failed + 2)
    await asyncio.sleep(0.3)
    got = await receiver.wait_for(len(receiver.got))
    assert [e["data"]["user"]["userName"] for e in got[-2:]] == ["ada", "bob"]
    store: Store = scim.client.app[STORE]

    async def recovered() -> bool:
        now = await store.webhook(hook.id)
        return now.failures == 0 and now.last_success is not None

    await until(recovered)


async def test_resend_delivers_that_event_and_the_later_ones_again(
    scim: Scim, receiver: Receiver, deliverer: Deliverer
) -> None:
    hook, _ = await add(scim.client, receiver.url)
    await scim.create_user("ada")
    await scim.create_user("bob")
    await receiver.wait_for(2)
    first = (await deliveries(scim.client, hook, 2))[0]
    store: Store = scim.client.app[STORE]
    assert await store.resend_webhook(hook.id, first.id) == first.event_id
    got = await receiver.wait_for(4)
    assert [e["data"]["user"]["userName"] for e in got] == ["ada", "bob", "ada", "bob"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_private_receiver_is_refused_at_delivery_unless_allowed(
    aiohttp_client: Callable[..., Awaitable[Client]],
    settings: Settings,
    receiver: Receiver,
    host: str,
) -> None:
    """SSRF: checked when an endpoint is added (the CLI's test) and again at each delivery,
    as DNS may have changed since (here: an endpoint stored before the setting changed)."""
    strict = settings.model_copy(update={"webhook_allow_private": False})
    client = await aiohttp_client(create_app(strict))
    client.app[DELIVERER].poll = 0.05
    store: Store = client.app[STORE]
    _, token = await store.create_token("idp", "scim")
    hook, _ = await add(client, receiver.url.replace("127.0.0.1", host))
    await Scim(client, token).create_user("ada")
    (attempt,) = await deliveries(client, hook, 1)
    assert attempt.status is None and attempt.error and "refused:" in attempt.error
    assert ("127.0.0.1" in attempt.error or "::1" in attempt.error) and receiver.got == []


@pytest.fixture
def cli_db(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The `--db`/`--database-url` arguments naming the test's database."""
    monkeypatch.delenv("SCIMLITE_WEBHOOK_ALLOW_PRIVATE", raising=False)
    if settings.database_url is not None:
        yield ["--database-url", settings.database_url]
    else:
        yield ["--db", str(settings.db_path)]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_adds_lists_rotates_and_removes(
    cli_db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "token", "create", "okta", "--create", *cli_db)[0] == 0
    add = ["webhook", "add", "http://127.0.0.1:9/in", "--allow-private", *cli_db]
    code, out, _ = _run(capsys, *add, "--types", "user.deleted,team.renamed")
    secret = out.splitlines()[-1]
    assert code == 0 and secret.startswith("whsec_") and len(secret) >= 6 + 32
    code, listing, _ = _run(capsys, "webhook", "list", *cli_db)
    assert code == 0 and "http://127.0.0.1:9/in" in listing and secret not in listing
    assert "user.deleted,team.renamed" in listing and "enabled" in listing
    code, out, _ = _run(capsys, "webhook", "rotate-secret", "1", *cli_db)
    assert code == 0 and out.splitlines()[-1].startswith("whsec_")
    assert out.splitlines()[-1] != secret
    code, out, _ = _run(capsys, "webhook", "remove", "1", *cli_db)
    assert code == 0 and "Removed webhook 1" in out
    assert "127.0.0.1:9" not in _run(capsys, "webhook", "list", *cli_db)[1]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["add", "ftp://example.com/x"], 2, "error: a webhook URL is http:// or https://"),
        (["add", "http://127.0.0.1:9/", "--allow-private", "--types", "user.gone"], 2,
         "error: unknown event type 'user.gone'"),
        (["add", "http://127.0.0.1:9/", "--allow-private", "--from", "soon"], 2,
         "error: --from: not an event position"),
        (["add", "http://127.0.0.1:9/"], 2, "error: refused: the receiver's address 127.0.0.1"),
        (["add", "http://[::1]:9/"], 2, "error: refused: the receiver's address ::1"),
        (["remove", "7"], 1, "error: no webhook with id 7"),
        (["rotate-secret", "x"], 1, "error: no webhook with id 'x'"),
    ],
)  # fmt: skip
def test_cli_errors_are_one_line(
    cli_db: list[str],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    assert _run(capsys, "token", "create", "okta", "--create", *cli_db)[0] == 0
    got, out, err = _run(capsys, "webhook", *args, *cli_db)
    assert got == code and err.count("\n") == 1 and err.startswith(message), err
    assert "Traceback" not in err and out == ""


async def test_cli_from_replays_what_committed_before(
    scim: Scim, receiver: Receiver, deliverer: Deliverer, cli_db: list[str]
) -> None:
    await scim.create_user("before")
    oldest = "0.0" if scim.client.app[STORE].db.dialect.journal_txid else "0"
    argv = ["webhook", "add", receiver.url, "--allow-private", "--from", oldest, *cli_db]
    assert await asyncio.to_thread(main, argv) == 0
    (got,) = await receiver.wait_for(1)
    assert got["data"]["user"]["userName"] == "before"


def test_cli_list_shows_why_an_endpoint_is_disabled_and_the_next_attempt(
    cli_db: list[str], capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    assert _run(capsys, "token", "create", "okta", "--create", *cli_db)[0] == 0
    assert _run(capsys, "webhook", "add", "http://127.0.0.1:9/", "--allow-private", *cli_db)[0] == 0

    async def fail_then_disable(store: Store) -> int:
        (hook,) = await store.list_webhooks()
        attempt = Attempt(
            "1", "user.created", "2026-01-01T00:00:00.000Z", {}, "{}", 2, 500, 1.0, "HTTP 500"
        )
        await store.webhook_failed(hook, attempt, 1_800_000_000.0, 1_800_000_060.0, None)
        await store.disable_webhook(hook.id, timeutil.now(), "auto-disabled: 30 deliveries")
        return 0

    assert asyncio.run(_with_store(settings, fail_then_disable)) == 0
    code, listing, _ = _run(capsys, "webhook", "list", *cli_db)
    assert code == 0 and "disabled (auto-disabled: 30 deliveries)" in listing
    assert "2027-01-15T08:01:00.000Z" in listing and "NEXT ATTEMPT" in listing


async def test_a_running_server_picks_up_an_endpoint_added_by_the_cli(
    scim: Scim, receiver: Receiver, deliverer: Deliverer, cli_db: list[str]
) -> None:
    argv = ["webhook", "add", receiver.url, "--allow-private", *cli_db]
    assert await asyncio.to_thread(main, argv) == 0
    await scim.create_user("ada")
    (got,) = await receiver.wait_for(1)
    assert got["data"]["user"]["userName"] == "ada"


async def test_the_delivery_log_is_pruned_with_the_journal(client: Client) -> None:
    store: Store = client.app[STORE]
    hook, _ = await add(client, "http://127.0.0.1:9/")
    for at in ("2020-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z"):
        attempt = Attempt("1", "user.created", at, {}, "{}", 2, 500, 1.0, "HTTP 500")
        await store.webhook_failed(hook, attempt, 1.0, 2.0, None)
    assert await store.prune_webhook_deliveries("2026-01-01T00:00:00.000Z") == 1
    assert [d.at for d in await store.webhook_deliveries(hook.id)] == ["2099-01-01T00:00:00.000Z"]
