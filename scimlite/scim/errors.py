"""SCIM errors (RFC 7644 §3.12): every failure a client can cause is one of these.

Raise the most specific class; the SCIM error middleware renders it as an Error body
with `status` as a string, `scimType` where one applies and a `detail` a person can act on.
"""

from __future__ import annotations

from typing import Any

from scimlite.scim.schema import ERROR_SCHEMA
from scimlite.text import DETAIL_CHARS, clip


class ScimError(Exception):
    """A SCIM error response: HTTP status, optional scimType and a human detail."""

    status: int = 400
    scim_type: str | None = None

    def __init__(
        self, detail: str, *, headers: dict[str, str] | None = None, status: int | None = None
    ) -> None:
        detail = clip(detail, DETAIL_CHARS)
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body


class InvalidSyntax(ScimError):
    """RFC 7644 §3.12: the request body is not parsable or violates the message schema."""

    scim_type = "invalidSyntax"


class InvalidValue(ScimError):
    """RFC 7644 §3.12: a required value is missing or a value is not compatible."""

    scim_type = "invalidValue"


class InvalidFilter(ScimError):
    """RFC 7644 §3.12: the filter syntax is invalid or names an unsupported attribute."""

    scim_type = "invalidFilter"


class InvalidPath(ScimError):
    """RFC 7644 §3.12: the PATCH path is invalid or names an unsupported attribute."""

    scim_type = "invalidPath"


class InvalidCursor(ScimError):
    """RFC 9865 §2.1: the cursor value is not one this server issued."""

    scim_type = "invalidCursor"


class NoTarget(ScimError):
    """RFC 7644 §3.12: the PATCH path did not yield an attribute that could be operated on."""

    scim_type = "noTarget"


class Mutability(ScimError):
    """RFC 7644 §3.12: the request tries to modify an immutable or readOnly attribute."""

    scim_type = "mutability"


class TooMany(ScimError):
    """RFC 7644 §3.12: the filter would return more results than the server allows."""

    scim_type = "tooMany"


class Unauthorized(ScimError):
    """401: no, malformed, unknown or revoked bearer token (RFC 7644 §2)."""

    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scimlite"'})


class Forbidden(ScimError):
    """403: authenticated, but not allowed to do this."""

    status = 403


class NotFound(ScimError):
    """404: the resource or endpoint does not exist."""

    status = 404


class MethodNotAllowed(ScimError):
    """405: the endpoint does not support this HTTP method."""

    status = 405


class Conflict(ScimError):
    """409 uniqueness: another resource already holds this unique value."""

    status = 409
    scim_type = "uniqueness"


class PreconditionFailed(ScimError):
    """412: If-Match named a version that is no longer current (RFC 7644 §3.14)."""

    status = 412


class PayloadTooLarge(ScimError):
    """413: the request body exceeds the configured limit (RFC 7644 §3.12)."""

    status = 413


class UnsupportedMediaType(ScimError):
    """415: the request body is not JSON."""

    status = 415


class TooManyRequests(ScimError):
    """429: too many failed authentication attempts from this client."""

    status = 429


class InternalError(ScimError):
    """500: a fault on our side; the detail never carries internals."""

    status = 500


class NotImplementedScim(ScimError):
    """501: the endpoint is part of SCIM but not offered by this server."""

    status = 501
