"""The store's records: plain dataclasses, no SQL. What callers pass in and get back."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scimlite import tokens
from scimlite.scim.filter import AttrPath, Filter
from scimlite.scim.records import MembershipChange, Ref, Resource, Update

__all__ = [
    "DirectoryCounts",
    "Event",
    "JournalEntry",
    "JournalQuery",
    "ListQuery",
    "MemberSummary",
    "MembershipChange",
    "Page",
    "Ref",
    "Resource",
    "TeamSummary",
    "TokenActivity",
    "TokenInfo",
    "Update",
    "Webhook",
    "WebhookDelivery",
    "WriteContext",
]


@dataclass(slots=True)
class WriteContext:
    """Who is writing and how, for the journal row written with the change."""

    token_name: str | None
    method: str
    path: str
    started: float = field(default_factory=time.monotonic)
    quirks: list[str] = field(default_factory=list)
    # Membership ids naming nothing are skipped (and noted in quirks) instead of refusing
    # the write: SCIMLITE_UNKNOWN_MEMBERS=skip.
    skip_unknown_members: bool = False
    # The status the client is answered with when it is not the write's own (a console form
    # answers 303 See Other), so the journal and the access log agree.
    answered: int | None = None


@dataclass(frozen=True, slots=True)
class ListQuery:
    filter: Filter | None = None
    start_index: int = 1  # RFC 7644 §3.4.2.4: 1-based
    count: int = 100
    sort_by: AttrPath | None = None
    descending: bool = False
    load_refs: bool = True
    # Keyset paging: only rows after this position (default order only; RFC 9865 cursors).
    after: int | None = None
    # Team members a page may carry, summed over its teams (None: no bound); see list_page().
    max_members: int | None = None


@dataclass(slots=True)
class Page:
    total: int
    items: Sequence[Resource]  # kinds.Rows from list_page: parsed as read
    more: bool = False  # rows remain after this page
    last_position: int | None = None  # keyset position of the last item


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    scope: tokens.Scope
    created: str
    last_used: str | None
    revoked: str | None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    at: str
    token_name: str | None
    method: str
    path: str
    resource_type: str | None
    resource_id: str | None
    status: int
    latency_ms: float | None
    changes: list[dict[str, Any]]
    quirks: list[str]
    detail: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """An event for applications (store/events.py): `position` is its opaque id; `user`
    and `team` are snapshots after the change (a team's without its members)."""

    position: str
    type: str
    at: str
    token_name: str | None
    user: Resource | None
    team: Resource | None
    changes: list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class TokenActivity:
    """A token and its latest write (None: it never wrote)."""

    token_name: str
    last_write: JournalEntry | None


@dataclass(frozen=True, slots=True)
class DirectoryCounts:
    users_active: int
    users_inactive: int
    teams: int
    memberships: int


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """Journal search criteria; None means "any". Times compare as RFC 3339 text."""

    resource_type: str | None = None
    resource_id: str | None = None
    token_name: str | None = None
    status_min: int | None = None
    status_max: int | None = None
    since: str | None = None
    until: str | None = None
    before_id: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class TeamSummary:
    id: str
    display_name: str
    external_id: str | None
    last_modified: str
    members: int


@dataclass(frozen=True, slots=True)
class MemberSummary:
    id: str
    user_name: str
    display_name: str | None
    email: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook endpoint (store/webhooks.py): where events go and how far they went.

    `position`: the last event delivered (or skipped by the types filter); `types`: the
    event types it receives, empty for all; `disabled`: when it was auto-disabled, with
    `disabled_reason`; `failing_since`, `next_attempt`, `leased_until`: unix seconds.
    """

    id: int
    url: str
    types: tuple[str, ...]
    secret: str
    created: str
    position: str
    disabled: str | None
    disabled_reason: str | None
    failures: int
    failing_since: float | None
    last_success: str | None
    next_attempt: float | None
    leased_by: str | None
    leased_until: float | None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One attempt to deliver an event: the request sent (headers hold a signature, never
    the secret) and what came back (`status` None when no response arrived)."""

    id: int
    webhook_id: int
    event_id: str
    event_type: str
    at: str
    request_headers: dict[str, str]
    request_body: str
    body_bytes: int
    status: int | None
    latency_ms: float
    error: str | None
