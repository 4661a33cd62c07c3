"""GET /metrics: what an operator's Prometheus scrapes, in its text format (prometheus-client).

Fed without a middleware of its own: the access-log middleware, which already times every
request, hands each outcome to `Metrics.request_done` (a cached child per route, method and
status, so the hot path is a dict lookup, an increment and an observation). The writer's
queue wait and the writes each commit held come from the database
(`SQLiteDatabase(on_write_wait=…, on_commit=…)`), failed-token
throttling from the limiter (`on_throttled`). What only changes slowly (database size,
journal rows, tokens' last use) is read when scraped. With `serve --workers N` every
worker's counters and histograms are shared through prometheus-client's multiprocess files,
so a scrape answered by any worker counts the requests of all of them.

Only `metrics` and `admin` tokens read it (docs/operations.md): a scraper's token can do
nothing else, and the numbers (token names, traffic) are not for everyone who can reach the
port. Token names are the only label values taken from data, and tokens are few.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from scimlite.api import SCIM_PREFIX
from scimlite.api.ratelimit import FailureLimiter
from scimlite.scim import leniency
from scimlite.store import Store, TokenInfo

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Request latencies: a GET by id takes ~0.3 ms, a write ~1 ms, a read is stopped at 3 s.
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)
_WAIT = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def outcome(status: int) -> str:
    """A SCIM write's outcome as the alerts group it."""
    if status < 400:
        return "success"
    return "client_error" if status < 500 else "server_error"


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


class _Directory(Collector):
    """What is read when scraped (database size, journal rows, tokens' last use), exposed
    as read: never kept in a gauge of this process, so a revoked token leaves the series
    and, with several workers, no worker's stale copy outlives its scrape."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.journal_rows = 0
        self.last_used: list[tuple[str, str, float]] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        sizes = GaugeMetricFamily(
            "scimlite_database_bytes",
            "Size of the database (SQLite: the file and its WAL; PostgreSQL: the database)",
            labels=["file"],
        )
        for name, size in self.sizes.items():
            sizes.add_metric([name], size)
        yield sizes
        yield GaugeMetricFamily(
            "scimlite_journal_rows", "Rows in the journal", value=self.journal_rows
        )
        used = GaugeMetricFamily(
            "scimlite_token_last_used_timestamp_seconds",
            "When each live token was last used (its creation time if never), Unix time",
            labels=["token", "scope"],
        )
        for name, scope, at in self.last_used:
            used.add_metric([name, scope], at)
        yield used


class Metrics:
    """One registry per app (tests run many apps in one process), and its instruments."""

    def __init__(self, limiter: FailureLimiter) -> None:
        # Workers of one `serve --workers N` share counters and histograms through files
        # in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode; the
        # supervisor sets it, api/workers.py), so any worker's scrape shows them all.
        self._shared = MULTIPROC_DIR in os.environ
        self._registry = registry = CollectorRegistry()
        if not self._shared:  # one process's memory and CPU: meaningless summed
            ProcessCollector(registry=registry)
        self._directory = _Directory()
        self._throttled = Counter(
            "scimlite_rate_limited_requests",
            "Requests answered 429 because their address failed authentication too often",
            registry=registry,
        )
        limiter.on_throttled = self._throttled.inc
        self._requests = Counter(
            "scimlite_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "scimlite_http_request_duration_seconds",
            "Time from the request's arrival at the app to its answer, by route and method",
            ["route", "method"],
            buckets=_LATENCY,
            registry=registry,
        )
        self._writes = Counter(
            "scimlite_scim_writes",
            "SCIM write requests (POST, PUT, PATCH, DELETE; /Bulk counts once) by token ('-' "
            "without a valid one) and outcome (success, client_error, server_error)",
            ["token", "outcome"],
            registry=registry,
        )
        self._quirks = Counter(
            "scimlite_idp_quirks_normalised",
            "IdP deviations from RFC 7643/7644 accepted and normalised, by kind",
            ["kind"],
            registry=registry,
        )
        self.writer_wait = Histogram(
            "scimlite_writer_wait_seconds",
            "Time a write transaction waited for the single writer before it began",
            buckets=_WAIT,
            registry=registry,
        )
        self.writes_per_commit = Histogram(
            "scimlite_writes_per_commit",
            "Writes each SQLite COMMIT held (group commit: they shared one fsync)",
            buckets=_BATCH,
            registry=registry,
        )
        # Label children by their label values: labels() takes a lock and builds a tuple.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._write_children: dict[tuple[str, str], Counter] = {}

    def request_done(
        self,
        route: str,
        method: str,
        status: int,
        seconds: float,
        token: str | None,
        quirks: Iterable[str],
    ) -> None:
        """Count one answered request: called by the access log for every request."""
        method = method if method in _METHODS else "OTHER"
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self._requests.labels(route, method, str(status)),
                self._latency.labels(route, method),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if method in _WRITES and route.startswith(SCIM_PREFIX) and not route.endswith(".search"):
            write_key = (token or "-", outcome(status))
            writes = self._write_children.get(write_key)
            if writes is None:
                writes = self._write_children[write_key] = self._writes.labels(*write_key)
            writes.inc()
        for note in quirks:
            self._quirks.labels(leniency.kind(note)).inc()

    async def refresh(self, store: Store) -> None:
        """Read what is measured when scraped: database size, journal rows, token use."""
        self._directory.sizes = await store.db.sizes()
        self._directory.journal_rows = await store.journal_rows()
        live: list[TokenInfo] = [t for t in await store.list_tokens() if t.revoked is None]
        self._directory.last_used = [
            (t.name, t.scope, _epoch(t.last_used or t.created)) for t in live
        ]

    def exposition(self) -> web.Response:
        registry = self._registry
        if self._shared:  # every worker's counters, read from their files
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self._directory)
        try:
            body = generate_latest(registry)
        finally:
            registry.unregister(self._directory)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
