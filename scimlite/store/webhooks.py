"""Webhook endpoints and their delivery log (docs/webhooks.md; the worker: api/webhooks.py).

The queue is durable without a queue table: an endpoint's `position` is the last event it
was delivered, and the next one is read from the events table after it. A delivery that
succeeded advances the position in the same transaction as its log row, so a crash at any
moment re-delivers at most the event in flight. One process at a time delivers to an
endpoint: it holds a lease (`leased_by`, `leased_until`) taken in a write transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from scimlite import webhooks
from scimlite.store.database import Conn, Database
from scimlite.store.errors import NotFound
from scimlite.store.events import parse_position, position_before
from scimlite.store.records import Webhook, WebhookDelivery
from scimlite.store.rows import fetch_all, fetch_one_sync

_COLUMNS = (
    "id, url, types, secret, created, position, disabled, disabled_reason, failures, "
    "failing_since, last_success, next_attempt, leased_by, leased_until"
)
_DELIVERY_COLUMNS = (
    "id, webhook_id, event_id, event_type, at, request_headers, request_body, body_bytes, "
    "status, latency_ms, error"
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A delivery attempt as the worker made it, for the log."""

    event_id: str
    event_type: str
    at: str
    request_headers: dict[str, str]
    request_body: str
    body_bytes: int
    status: int | None
    latency_ms: float
    error: str | None


class WebhookQueries:
    """The Store's webhook methods (a mixin: `Store` provides `db`)."""

    db: Database

    async def add_webhook(
        self, url: str, types: Sequence[str], position: str, created: str
    ) -> tuple[Webhook, str]:
        """A new endpoint receiving the events after `position`; returns it and its secret.
        ValueError for a position this database never gave out."""
        parse_position(position, self.db.dialect.journal_txid, "an event")
        secret = webhooks.new_secret()
        joined = ",".join(types) or None

        def write(conn: Conn) -> Any:
            return fetch_one_sync(
                conn,
                "INSERT INTO webhooks (url, types, secret, created, position) "  # noqa: S608
                f"VALUES (?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                (url, joined, secret, created, position),
            )

        return _webhook(await self.db.write(write)), secret

    async def list_webhooks(self) -> list[Webhook]:
        """Every endpoint. The worker asks every second, so on the lookup lane: a handful
        of rows, never queued behind (or counted against) a long read."""
        async with self.db.read(lookup=True) as conn:
            rows = await fetch_all(conn, f"SELECT {_COLUMNS} FROM webhooks ORDER BY id")  # noqa: S608
        return [_webhook(r) for r in rows]

    async def webhook(self, webhook_id: int) -> Webhook:
        """The endpoint `webhook_id`; NotFound if there is none."""
        sql = f"SELECT {_COLUMNS} FROM webhooks WHERE id = ?"  # noqa: S608
        async with self.db.read(lookup=True) as conn:
            rows = await fetch_all(conn, sql, (webhook_id,))
        if not rows:
            raise NotFound(f"no webhook with id {webhook_id}")
        return _webhook(rows[0])

    async def remove_webhook(self, webhook_id: int) -> None:
        """Delete the endpoint and its log; NotFound if there is none."""

        def write(conn: Conn) -> int:
            conn.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
            return conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount

        if not await self.db.write(write):
            raise NotFound(f"no webhook with id {webhook_id}")

    async def rotate_webhook_secret(self, webhook_id: int) -> str:
        """A new secret for the endpoint, used from its next delivery on; NotFound."""
        secret = webhooks.new_secret()
        await self._update(webhook_id, "secret = ?", (secret,))
        return secret

    async def enable_webhook(self, webhook_id: int) -> None:
        """Re-enable an auto-disabled endpoint: it resumes from its position at once."""
        await self._update(
            webhook_id,
            "disabled = NULL, disabled_reason = NULL, failures = 0, failing_since = NULL, "
            "next_attempt = NULL",
        )

    async def resend_webhook(self, webhook_id: int, delivery_id: int) -> str:
        """Move the endpoint back to just before the event of one of its deliveries, so
        that event and every later one are delivered again, in order; re-enables it.
        Returns the event's id; NotFound."""
        txid = self.db.dialect.journal_txid

        def write(conn: Conn) -> str:
            row = fetch_one_sync(
                conn,
                "SELECT event_id FROM webhook_deliveries WHERE id = ? AND webhook_id = ?",
                (delivery_id, webhook_id),
            )
            if row is None:
                raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
            event_id = str(row[0])
            conn.execute(
                "UPDATE webhooks SET position = ?, disabled = NULL, disabled_reason = NULL, "
                "failures = 0, failing_since = NULL, next_attempt = NULL WHERE id = ?",
                (position_before(event_id, txid), webhook_id),
            )
            return event_id

        return await self.db.write(write)

    async def disable_webhook(self, webhook_id: int, at: str, reason: str) -> None:
        await self._update(webhook_id, "disabled = ?, disabled_reason = ?", (at, reason))

    async def _update(self, webhook_id: int, assignments: str, params: Sequence[Any] = ()) -> None:
        sql = f"UPDATE webhooks SET {assignments} WHERE id = ?"  # noqa: S608
        done = await self.db.write(lambda conn: conn.execute(sql, (*params, webhook_id)).rowcount)
        if not done:
            raise NotFound(f"no webhook with id {webhook_id}")

    async def claim_webhook(
        self, webhook_id: int, owner: str, now: float, until: float
    ) -> Webhook | None:
        """Lease the enabled endpoint to `owner` until `until` (unix seconds), unless
        another owner's lease is still running; the endpoint, or None when it is gone,
        disabled or another process delivers to it."""

        def write(conn: Conn) -> Any:
            return fetch_one_sync(
                conn,
                "UPDATE webhooks SET leased_by = ?, leased_until = ? "  # noqa: S608
                "WHERE id = ? AND disabled IS NULL "
                "AND (leased_by IS NULL OR leased_by = ? OR leased_until < ?) "
                f"RETURNING {_COLUMNS}",
                (owner, until, webhook_id, owner, now),
            )

        row = await self.db.write(write)
        return None if row is None else _webhook(row)

    async def release_webhooks(self, owner: str) -> None:
        """End `owner`'s leases (a clean shutdown), so another process takes over at once."""
        await self.db.write(
            lambda conn: conn.execute(
                "UPDATE webhooks SET leased_by = NULL, leased_until = NULL WHERE leased_by = ?",
                (owner,),
            )
        )

    async def skip_webhook(self, webhook_id: int, old: str, new: str) -> None:
        """Advance past events the endpoint's types filter leaves out (so its position does
        not fall behind retention); nothing if the position moved meanwhile (a resend)."""
        await self.db.write(
            lambda conn: conn.execute(
                "UPDATE webhooks SET position = ? WHERE id = ? AND position = ?",
                (new, webhook_id, old),
            )
        )

    async def webhook_delivered(self, webhook: Webhook, attempt: Attempt) -> None:
        """Log a successful delivery and advance the endpoint past its event, in one
        transaction (unless a resend moved the endpoint meanwhile)."""

        def write(conn: Conn) -> None:
            conn.execute(
                "UPDATE webhooks SET position = ?, failures = 0, failing_since = NULL, "
                "next_attempt = NULL, last_success = ? WHERE id = ? AND position = ?",
                (attempt.event_id, attempt.at, webhook.id, webhook.position),
            )
            _log(conn, webhook.id, attempt)

        await self.db.write(write)

    async def webhook_failed(
        self,
        webhook: Webhook,
        attempt: Attempt,
        failing_since: float,
        next_attempt: float,
        disabled_reason: str | None,
    ) -> None:
        """Log a failed delivery and schedule the retry, or disable the endpoint."""

        def write(conn: Conn) -> None:
            conn.execute(
                "UPDATE webhooks SET failures = failures + 1, failing_since = ?, "
                "next_attempt = ?, disabled = ?, disabled_reason = ? "
                "WHERE id = ? AND position = ?",
                (
                    failing_since,
                    next_attempt,
                    None if disabled_reason is None else attempt.at,
                    disabled_reason,
                    webhook.id,
                    webhook.position,
                ),
            )
            _log(conn, webhook.id, attempt)

        await self.db.write(write)

    async def webhook_deliveries(self, webhook_id: int, limit: int = 100) -> list[WebhookDelivery]:
        """The endpoint's latest delivery attempts, newest first."""
        sql = (
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries "  # noqa: S608
            "WHERE webhook_id = ? ORDER BY id DESC LIMIT ?"
        )
        async with self.db.read() as conn:
            rows = await fetch_all(conn, sql, (webhook_id, limit))
        return [_delivery(r) for r in rows]

    async def disabled_webhooks(self) -> int:
        """How many endpoints are auto-disabled (the console's banner, every page)."""
        async with self.db.read(lookup=True) as conn:
            rows = await fetch_all(conn, "SELECT count(*) FROM webhooks WHERE disabled IS NOT NULL")
        return int(rows[0][0])

    async def prune_webhook_deliveries(self, before: str) -> int:
        """Delete delivery log rows older than `before` (journal retention)."""
        return await self.db.write(
            lambda conn: (
                conn.execute("DELETE FROM webhook_deliveries WHERE at < ?", (before,)).rowcount
            )
        )


def _log(conn: Conn, webhook_id: int, a: Attempt) -> None:
    conn.execute(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, at, request_headers, "
        "request_body, body_bytes, status, latency_ms, error) "
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?)",
        (
            webhook_id,
            a.event_id,
            a.event_type,
            a.at,
            orjson.dumps(a.request_headers).decode(),
            a.request_body,
            a.body_bytes,
            a.status,
            a.latency_ms,
            a.error,
            webhook_id,
        ),
    )


def _webhook(r: Any) -> Webhook:
    return Webhook(
        id=int(r["id"]),
        url=r["url"],
        types=tuple(r["types"].split(",")) if r["types"] else (),
        secret=r["secret"],
        created=r["created"],
        position=r["position"],
        disabled=r["disabled"],
        disabled_reason=r["disabled_reason"],
        failures=int(r["failures"]),
        failing_since=r["failing_since"],
        last_success=r["last_success"],
        next_attempt=r["next_attempt"],
        leased_by=r["leased_by"],
        leased_until=r["leased_until"],
    )


def _delivery(r: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=int(r["id"]),
        webhook_id=int(r["webhook_id"]),
        event_id=r["event_id"],
        event_type=r["event_type"],
        at=r["at"],
        request_headers=orjson.loads(r["request_headers"]),
        request_body=r["request_body"],
        body_bytes=int(r["body_bytes"]),
        status=r["status"],
        latency_ms=float(r["latency_ms"]),
        error=r["error"],
    )
