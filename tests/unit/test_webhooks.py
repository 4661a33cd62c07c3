"""The pure webhook rules (scimlite/webhooks.py): which receivers are refused, signatures,
and the retry schedule's waits."""

from __future__ import annotations

import asyncio
import base64

import pytest

from scimlite import webhooks
from scimlite.store.events import Commits


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("127.0.0.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("::ffff:127.0.0.1", True),  # IPv4-mapped loopback
        ("::", True),
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
    ],
)
def test_refused_addresses(address: str, refused: bool) -> None:
    assert webhooks.refused_address(address) is refused


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/scim", None),
        ("http://hooks.example.com:8080/x?y=1", None),
        ("ftp://hooks.example.com/", "a webhook URL is http:// or https://"),
        ("hooks.example.com/x", "a webhook URL is http:// or https://"),
        ("https:///x", "a webhook URL is http:// or https://"),
        ("https://u:p@hooks.example.com/", "a webhook URL must not carry"),
        ("http://hooks.example.com:99999/", "not a URL"),
        ("https://hooks.example.com/" + "x" * 2000, "a webhook URL is at most 2000"),
    ],
)
def test_check_url(url: str, problem: str | None) -> None:
    got = webhooks.check_url(url)
    assert (got is None) if problem is None else (got is not None and got.startswith(problem))


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    one, two = webhooks.new_secret(), webhooks.new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32


def test_the_signature_is_over_id_timestamp_and_body() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    signed = webhooks.sign(secret, "42", 1_700_000_000, b'{"a":1}')
    assert signed.startswith("v1,")
    assert signed != webhooks.sign(secret, "43", 1_700_000_000, b'{"a":1}')
    assert signed != webhooks.sign(secret, "42", 1_700_000_001, b'{"a":1}')
    assert signed != webhooks.sign(secret, "42", 1_700_000_000, b'{"a":2}')


def test_the_schedule_doubles_up_to_its_cap_with_full_jitter() -> None:
    schedule = webhooks.Schedule(base=5, max_delay=3600, window=86400)
    assert [schedule.cap(n) for n in range(1, 12)] == [
        5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600,
    ]  # fmt: skip
    assert schedule.cap(10_000) == 3600
    assert schedule.delay(3, lambda: 0.5) == 10 and schedule.delay(3, lambda: 0.0) == 0
    assert not schedule.exhausted(100.0, 100.0 + 86399) and schedule.exhausted(100.0, 86500.0)


async def test_a_commit_during_a_read_is_not_missed() -> None:
    """The worker takes `pending()` before reading the feed and waits on it after: a commit
    in between wakes it at once instead of after its poll interval."""
    commits = Commits()
    before_read = commits.pending()
    commits.notify()  # a write commits while the feed is being read
    await asyncio.wait_for(commits.wait(3600, since=before_read), 1)
    assert before_read.is_set() and not commits.pending().is_set()
