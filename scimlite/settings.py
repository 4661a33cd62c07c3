"""Configuration: command-line flags over `SCIMLITE_*` environment variables over defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SettingsError(Exception):
    """A setting has a value scimlite cannot use; the message names it."""


class Settings(BaseModel):
    """Every knob scimlite has; docs/configuration.md lists them with their variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    db_path: Path = Path("scimlite.db")
    # A PostgreSQL database instead of the SQLite file (docs/scale-out.md): several
    # scimlite processes may share it. postgresql://user:password@host:port/dbname
    database_url: str | None = Field(default=None, pattern=r"^postgres(ql)?://")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Base URL clients see (behind a reverse proxy); used for meta.location and Location.
    public_url: str | None = None
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    default_count: int = Field(default=100, ge=0)
    max_count: int = Field(default=1000, ge=1)
    readers: int = Field(default=3, ge=1, le=64)
    # Time budget of one read, in milliseconds: a read still running past it is interrupted
    # (400 tooMany), and one that cannot get a reader within it is refused (503 Retry-After).
    read_timeout_ms: int = Field(default=3000, ge=1)
    # Team members one list page may carry, summed over its teams: a page of teams ends
    # early (itemsPerPage < count) before the next team would exceed it (docs/scim.md).
    max_page_members: int = Field(default=10_000, ge=1)
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # Writes one SQLite COMMIT (one fsync) may hold: writes that arrive while one commits
    # share the next (group commit). 1 commits every write on its own (docs/benchmarks.md).
    write_batch: int = Field(default=64, ge=1, le=1000)
    log_format: Literal["text", "json"] = "text"
    # Processes serving the port (`serve` only; api/workers.py): auto = one per core.
    workers: Annotated[int, Field(ge=1, le=256)] | Literal["auto"] = 1
    # Failed bearer-token attempts per client address within the window before further
    # failures get 429 + Retry-After; a valid token is always served (docs/security.md).
    auth_failure_limit: int = Field(default=20, ge=1)
    auth_failure_window: float = Field(default=60.0, gt=0)
    # Seconds a connection may take to send a complete request head, counted from when it
    # opens or from the previous response (so also the idle keep-alive limit): slowloris.
    header_timeout: float = Field(default=30.0, gt=0)
    # Seconds a request body may take to arrive in full; past it the answer is 408.
    body_timeout: float = Field(default=60.0, gt=0)
    # Connections open at once; past it new ones are closed at once (one warning is logged).
    max_connections: int = Field(default=1000, ge=1)
    # Journal rows older than this many days are deleted (hourly); 0 keeps them forever.
    journal_retention_days: int = Field(default=90, ge=0)
    # Membership ids that name no user (or team): refuse the whole write (reject), or apply
    # the rest and journal the skipped ids (skip), so an IdP's batch naming a user deleted a
    # moment ago is not retried forever (docs/scim.md).
    unknown_members: Literal["reject", "skip"] = "reject"
    # Webhook receivers on private, loopback, link-local, multicast or unspecified addresses
    # are refused (SSRF) unless this is on: for a receiver on the same host or network.
    webhook_allow_private: bool = False
    # Seconds one delivery may take in all (connect, send, response); longer is a failure.
    webhook_timeout: float = Field(default=10.0, gt=0, le=300)
    # Retries (docs/webhooks.md): after the n-th failure in a row the next attempt waits a
    # random time up to min(base·2^(n-1), max delay) seconds; a streak that has lasted the
    # window (seconds; 24 h) disables the endpoint.
    webhook_retry_base: float = Field(default=5.0, gt=0)
    webhook_retry_max_delay: float = Field(default=3600.0, gt=0)
    webhook_retry_window: float = Field(default=86400.0, gt=0)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `SCIMLITE_<NAME>` variables, then explicit overrides (flags)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            key = f"SCIMLITE_{name.upper()}"
            if key in env:
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "settings"
            raise SettingsError(
                f"invalid setting {name} (SCIMLITE_{name.upper()}): {err['msg']}"
            ) from None
