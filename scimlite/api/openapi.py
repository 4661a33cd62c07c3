"""The OpenAPI 3.1 description of the SCIM API, served at `GET /openapi.json` without a token;
and of the events feed (`/api/v1/events`, its own server URL: it is not SCIM).

Why generate it: resource schemas come from `scim/schema.py`, the same attribute definitions
that drive parsing, filtering, PATCH and /Schemas, so this document cannot promise an
attribute the server does not keep. Limits come from `Settings`. It is written for two
readers: a person wiring up an IdP or a script (summaries, descriptions, examples), and a
fuzzer (schemathesis reads it in tests/http/test_schemathesis.py). Pure: no I/O.
"""

from __future__ import annotations

from scimlite import __version__
from scimlite.api import SCIM_PREFIX
from scimlite.api.events import MAX_LIMIT, MAX_WAIT_SECONDS
from scimlite.api.openapi_parts import PATCH_EXAMPLES, SCIM_JSON, Json, components
from scimlite.scim.schema import (
    GROUP_RESOURCE,
    USER_RESOURCE,
    ResourceType,
)
from scimlite.settings import Settings
from scimlite.store.events import EVENT_TYPES

_DESCRIPTION = """\
A SCIM 2.0 service provider (RFC 7643, RFC 7644) for **users and teams** (SCIM Groups).

**Authentication.** Every endpoint except discovery (`/ServiceProviderConfig`,
`/ResourceTypes`, `/Schemas`) needs `Authorization: Bearer <token>`; create one with
`scimlite token create NAME`. Repeated failures from one address are answered with 429 and
`Retry-After`; a valid token is always served.

**Media type.** Responses are `application/scim+json`; requests may be `application/scim+json`
or `application/json`.

**Errors.** Every 4xx and 5xx is an RFC 7644 §3.12 Error: `status` as a string, `scimType`
where one applies, and a `detail` that says what to fix.

**Versions.** `meta.version` is a weak ETag (`W/"3"`), sent as `ETag`. Send it back in
`If-Match` on PUT, PATCH and DELETE to get 412 instead of overwriting a newer write; send
it in `If-None-Match` on GET to get 304 when nothing changed.

**Memberships.** `Group.members` and `User.groups` are computed from one membership table
and always agree. `groups` on POST/PUT /Users sets the user's teams (an extension of RFC 7643,
where it is read-only); a PUT without it leaves them alone.
"""


def _ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _errors(*statuses: int) -> Json:
    return {str(s): _ref("responses", str(s)) for s in (*statuses, 401, 429)}


def _body(schema: str, description: str, examples: Json | None = None) -> Json:
    media: Json = {"schema": _ref("schemas", schema)}
    if examples:
        media["examples"] = examples
    return {
        "required": True,
        "description": description,
        "content": {SCIM_JSON: media, "application/json": media},
    }


def _ok(schema: str, description: str, status: str = "200", *, etag: bool = False) -> Json:
    response: Json = {
        "description": description,
        "content": {SCIM_JSON: {"schema": _ref("schemas", schema)}},
    }
    if etag:
        response["headers"] = {"ETag": _ref("headers", "ETag")}
        if status == "201":
            response["headers"]["Location"] = _ref("headers", "Location")
    return {status: response}


def _query_params() -> list[Json]:
    names = ("filter", "startIndex", "count", "cursor", "sortBy", "sortOrder")
    return [_ref("parameters", n) for n in (*names, "attributes", "excludedAttributes")]


def _resource_paths(resource: ResourceType, noun: str) -> Json:
    """The operations of one resource endpoint, with examples: long because it is data."""
    name = resource.name
    tag = "Users" if resource is USER_RESOURCE else "Groups (teams)"
    patch_examples = {
        k: v for k, v in PATCH_EXAMPLES.items() if (k == "deactivate") == (name == "User")
    }
    projection = [_ref("parameters", "attributes"), _ref("parameters", "excludedAttributes")]
    base = resource.endpoint
    return {
        base: {
            "get": {
                "tags": [tag],
                "operationId": f"list{name}s",
                "summary": f"List or filter {noun}s",
                "description": "RFC 7644 §3.4.2: a page of results in a stable order.",
                "parameters": _query_params(),
                "responses": {**_ok("ListResponse", "One page."), **_errors(400, 403)},
            },
            "post": {
                "tags": [tag],
                "operationId": f"create{name}",
                "summary": f"Create a {noun}",
                "description": "RFC 7644 §3.3: 201 with `Location` and `ETag`.",
                "requestBody": _body(name, f"The new {noun}."),
                "responses": {
                    **_ok(name, "Created.", "201", etag=True),
                    **_errors(400, 409, 413),
                },
            },
        },
        f"{base}/.search": {
            "post": {
                "tags": [tag],
                "operationId": f"search{name}s",
                "summary": f"Search {noun}s with a body",
                "description": "RFC 7644 §3.4.3: keeps filters out of URLs and logs.",
                "requestBody": _body("SearchRequest", "The query."),
                "responses": {**_ok("ListResponse", "One page."), **_errors(400, 413)},
            }
        },
        f"{base}/{{id}}": {
            "parameters": [_ref("parameters", "id")],
            "get": {
                "tags": [tag],
                "operationId": f"get{name}",
                "summary": f"Get one {noun}",
                "parameters": [*projection, _ref("parameters", "If-None-Match")],
                "responses": {
                    **_ok(name, f"The {noun}.", etag=True),
                    "304": {"description": "Not modified since the ETag in If-None-Match."},
                    **_errors(400, 404),
                },
            },
            "put": {
                "tags": [tag],
                "operationId": f"replace{name}",
                "summary": f"Replace a {noun}",
                "description": (
                    "RFC 7644 §3.5.1: readOnly attributes are ignored. "
                    + (
                        "Without `members` the team is emptied."
                        if name == "Group"
                        else "Without `groups` the user's teams are left alone."
                    )
                ),
                "parameters": [_ref("parameters", "If-Match")],
                "requestBody": _body(name, f"The whole {noun}."),
                "responses": {
                    **_ok(name, f"The {noun} as stored.", etag=True),
                    **_errors(400, 404, 409, 412, 413),
                },
            },
            "patch": {
                "tags": [tag],
                "operationId": f"patch{name}",
                "summary": f"Modify a {noun}",
                "description": "RFC 7644 §3.5.2: all operations apply, or none do.",
                "parameters": [_ref("parameters", "If-Match")],
                "requestBody": _body("PatchOp", "The operations.", patch_examples),
                "responses": {
                    **_ok(name, f"The {noun} as stored.", etag=True),
                    **_errors(400, 404, 409, 412, 413),
                },
            },
            "delete": {
                "tags": [tag],
                "operationId": f"delete{name}",
                "summary": f"Delete a {noun}",
                "description": "RFC 7644 §3.6: memberships go with it.",
                "parameters": [_ref("parameters", "If-Match")],
                "responses": {"204": {"description": "Deleted."}, **_errors(404, 412)},
            },
        },
    }


def _discovery(path: str, summary: str, operation_id: str) -> Json:
    operation: Json = {
        "tags": ["Discovery"],
        "operationId": operation_id,
        "summary": summary,
        "description": "RFC 7644 §4: readable without a token.",
        "security": [],
        "responses": {**_ok("Discovery", "The document."), "404": _ref("responses", "404")},
    }
    if "{" in path:
        name = path.split("{")[1].rstrip("}")
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        ]
    return {path: {"get": operation}}


def event_schema() -> Json:
    """An event as GET /api/v1/events (and a webhook) shows it; docs/events.md publishes the
    same schema (tests/http/test_openapi_events.py keeps the two equal)."""
    changes: Json = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["path", "old", "new"],
            "additionalProperties": False,
            "properties": {"path": {"type": "string"}, "old": {}, "new": {}},
        },
    }
    return {
        "type": "object",
        "required": ["id", "type", "occurred_at", "actor", "data"],
        "additionalProperties": False,
        "properties": {
            "id": {
                "type": "string",
                "pattern": "^[0-9]+(\\.[0-9]+)?$",
                "description": "The event's position: opaque; pass it as `after`.",
            },
            "type": {"enum": list(EVENT_TYPES)},
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "description": "When the write committed its journal row (RFC 3339, UTC).",
            },
            "actor": {
                "type": ["string", "null"],
                "description": "The name of the token that made the write (null: the server).",
            },
            "data": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "user": {
                        "type": "object",
                        "description": "The SCIM User as GET /Users/{id} returns it.",
                    },
                    "team": {
                        "type": "object",
                        "description": "The SCIM Group as GET /Groups/{id} returns it, "
                        "without members.",
                    },
                    "changes": changes,
                },
            },
        },
    }


def _events_paths() -> Json:
    """GET /api/v1/events (docs/events.md): not SCIM, so its own server URL and plain-JSON
    errors."""
    error = {
        "description": "What was wrong, for a person to read.",
        "content": {"application/json": {"schema": _ref("schemas", "FeedError")}},
    }

    def query(name: str, schema: Json, description: str) -> Json:
        return {"name": name, "in": "query", "schema": schema, "description": description}

    page = {
        "type": "object",
        "required": ["events", "next"],
        "additionalProperties": False,
        "properties": {
            "events": {"type": "array", "items": _ref("schemas", "Event")},
            "next": {"type": "string", "description": "Pass it as `after` on the next call."},
        },
    }
    operation: Json = {
        "tags": ["Events"],
        "operationId": "events",
        "summary": "Events for applications, in commit order",
        "description": (
            "Typed changes (`user.created`, `team.member_added` …) derived from the journal in "
            "the same transaction as each write, for a token of scope `events` or `admin`. "
            "Store `next` after acting on a page and resume from it: no event is missed or "
            "repeated. A 410 means retention deleted events after `after`: resync "
            "(docs/events.md)."
        ),
        "parameters": [
            query(
                "after",
                {"type": "string"},
                "An event's `id` or a `next`; `now`: only what commits from now on; "
                "absent: from the oldest retained event.",
            ),
            query(
                "types",
                {"type": "string", "examples": ["user.deleted,team.member_removed"]},
                f"Comma-separated event types, of: {', '.join(EVENT_TYPES)}.",
            ),
            query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
                "At most this many events.",
            ),
            query(
                "wait",
                {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "default": 0},
                "Seconds to hold the request while nothing is new (long poll).",
            ),
        ],
        "responses": {
            "200": {
                "description": "A page of events and the position to resume from.",
                "content": {"application/json": {"schema": page}},
            },
            **{str(status): error for status in (400, 401, 403, 410, 429, 503)},
        },
    }
    servers = [{"url": "/api/v1", "description": "the events feed (not SCIM)"}]
    return {"/events": {"servers": servers, "get": operation}}


def document(settings: Settings) -> Json:
    """The whole OpenAPI 3.1 document; server URLs are relative, so it holds behind a proxy."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scimlite SCIM 2.0 API",
            "version": __version__,
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": SCIM_PREFIX, "description": "this server"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": "Users"},
            {"name": "Groups (teams)", "description": "SCIM Groups are teams."},
            {"name": "Search and Bulk"},
            {"name": "Discovery", "description": "No token needed."},
            {"name": "Events", "description": "Not SCIM: `/api/v1`, errors as plain JSON."},
        ],
        "paths": {
            **_resource_paths(USER_RESOURCE, "user"),
            **_resource_paths(GROUP_RESOURCE, "team"),
            "/": {
                "get": {
                    "tags": ["Search and Bulk"],
                    "operationId": "listAll",
                    "summary": "Query users and teams at once",
                    "description": (
                        "RFC 7644 §3.4.2.1: the root query, users first, then teams, as one "
                        "list; `meta.resourceType` in the filter narrows it to one type. A "
                        "`Link` header points to the discovery documents."
                    ),
                    "parameters": _query_params(),
                    "responses": {**_ok("ListResponse", "One page."), **_errors(400)},
                }
            },
            "/.search": {
                "post": {
                    "tags": ["Search and Bulk"],
                    "operationId": "searchAll",
                    "summary": "Search users and teams at once",
                    "description": "RFC 7644 §3.4.3: users first, then teams, as one list.",
                    "requestBody": _body("SearchRequest", "The query."),
                    "responses": {**_ok("ListResponse", "One page."), **_errors(400, 413)},
                }
            },
            "/Bulk": {
                "post": {
                    "tags": ["Search and Bulk"],
                    "operationId": "bulk",
                    "summary": "Many writes in one request",
                    "description": "RFC 7644 §3.7: each operation's outcome is reported.",
                    "requestBody": _body("BulkRequest", "The operations."),
                    "responses": {
                        **_ok("Discovery", "A BulkResponse."),
                        **_errors(400, 413),
                    },
                }
            },
            **_discovery(
                "/ServiceProviderConfig", "What this server supports", "serviceProviderConfig"
            ),
            **_discovery(
                "/serviceConfiguration",
                "SCIM 1.1's name for /ServiceProviderConfig",
                "serviceConfiguration",
            ),
            **_discovery("/ResourceTypes", "Resource types", "resourceTypes"),
            **_discovery("/ResourceTypes/{id}", "One resource type", "resourceType"),
            **_discovery("/Schemas", "Attribute schemas", "schemas"),
            **_discovery("/Schemas/{urn}", "One attribute schema", "schema"),
            **_events_paths(),
        },
        "components": _with_events(components(settings)),
    }


def _with_events(parts: Json) -> Json:
    parts["schemas"]["Event"] = event_schema()
    parts["schemas"]["FeedError"] = {
        "type": "object",
        "description": "An error of the events feed: plain JSON, not a SCIM Error.",
        "required": ["status", "detail"],
        "properties": {"status": {"type": "integer"}, "detail": {"type": "string"}},
    }
    return parts
