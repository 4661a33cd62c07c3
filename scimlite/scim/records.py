"""The records the protocol and the store exchange: a stored resource and a change to one.

Plain dataclasses with no I/O, so `scim/` (rendering, PATCH) can use them without
importing the store; `scimlite.store.records` re-exports them beside the store's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(slots=True)
class Ref:
    """One side of a membership as shown on the other: a team on a user, a user on a team."""

    id: str
    display: str | None


@dataclass(slots=True)
class Resource:
    """A stored User or Group: its document plus server-owned metadata."""

    id: str
    version: int
    created: str
    last_modified: str
    doc: dict[str, Any]
    refs: list[Ref] | None  # User.groups / Group.members; None when not loaded


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """A delta to a resource's memberships, O(changed ids) to apply: add these ids, remove
    these, or replace all (a PATCH of a team's `members` produces them, by user id)."""

    kind: Literal["add", "remove", "replace"]
    ids: tuple[str, ...]


@dataclass(slots=True)
class Update:
    """What a read-modify-write (PATCH) produced: the new document and membership deltas."""

    doc: dict[str, Any]
    membership: list[MembershipChange] = field(default_factory=list)
    quirks: list[str] = field(default_factory=list)
