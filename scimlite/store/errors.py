"""What the store refuses, in domain terms: no HTTP status, no SCIM type.

The store raises only these (and DatabaseError for a database it cannot open). The API maps
each class to its SCIM error in one table (`scimlite.api.errors.STORE_ERRORS`), which the
console uses too, so a refusal reads the same on every surface.
"""

from __future__ import annotations


class StoreError(Exception):
    """A request the store refuses; `detail` says why, in words a person can act on."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(StoreError):
    """No resource (or live token) with this id or name."""


class Conflict(StoreError):
    """Another resource or token already holds this unique value."""


class StaleVersion(StoreError):
    """The caller expected a version of the resource that is no longer current."""


class UnknownMembers(StoreError):
    """A membership change names ids that are not resources of the other side."""


class UnsupportedFilter(StoreError):
    """The filter names an attribute the store cannot answer exactly."""


class UnsupportedSort(StoreError):
    """The sort key names an attribute the store cannot order by."""


class ReadTooLong(StoreError):
    """A read ran past its time budget and was interrupted; the same read would again."""


class ReadersBusy(StoreError):
    """No reader became free within the read budget; the same read may succeed later."""


class Unavailable(StoreError):
    """The database could not be reached (a restart, a failover); retrying may succeed."""
