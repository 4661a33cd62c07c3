"""Timestamps: UTC, RFC 3339 with milliseconds and `Z`, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_unix(seconds: float) -> str:
    """Unix seconds (webhook schedules and leases) as the other timestamps are written."""
    return format_time(datetime.fromtimestamp(seconds, UTC))
