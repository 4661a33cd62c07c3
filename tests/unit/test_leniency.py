"""Every quirk note has a kind (scim/leniency.kind): what GET /metrics counts them by.

The notes are produced by the real parsers, from what IdPs send, so a reworded note that no
pattern matches any more shows up here as "other"."""

from __future__ import annotations

from typing import Any

import pytest

from scimlite.scim.leniency import kind
from scimlite.scim.models import parse_resource
from scimlite.scim.patch import apply_patch
from scimlite.scim.patchop import parse_patch
from scimlite.scim.schema import ADSCIM_GROUP_SCHEMA, GROUP_RESOURCE, USER_RESOURCE
from tests.support import ENTERPRISE_SCHEMA, PATCH_SCHEMA, USER_SCHEMA

USER_ID = "2819c223-7f76-453a-919d-413861904646"


def post_notes(body: dict[str, Any]) -> list[str]:
    return parse_resource(USER_RESOURCE, {"userName": "ada", **body}).quirks


def put_notes(body: dict[str, Any]) -> list[str]:
    parsed = parse_resource(USER_RESOURCE, {"schemas": [USER_SCHEMA], "userName": "a", **body})
    parsed.replace_refs(USER_RESOURCE)
    return parsed.quirks


def patch_notes(*operations: dict[str, Any], group: bool = False, **extra: Any) -> list[str]:
    resource = GROUP_RESOURCE if group else USER_RESOURCE
    ops, notes = parse_patch(
        {"schemas": [PATCH_SCHEMA, *extra.get("schemas", [])], "Operations": list(operations)}
    )
    doc: dict[str, Any] = (
        {"displayName": "T"}
        if group
        else {"userName": "ada", "emails": [{"value": "a@x", "type": "work"}]}
    )
    return notes + apply_patch(resource, doc, ops, resource_id=USER_ID).quirks


CASES = [
    ("op_case", lambda: patch_notes({"op": "Replace", "path": "active", "value": False})),
    ("boolean_string", lambda: post_notes({"schemas": [USER_SCHEMA], "active": "False"})),
    (
        "bare_reference",
        lambda: post_notes({"schemas": [USER_SCHEMA], ENTERPRISE_SCHEMA: {"manager": "m-1"}}),
    ),
    (
        "reference_array",
        lambda: patch_notes(
            {"op": "replace", "path": f"{ENTERPRISE_SCHEMA}:manager", "value": [{"value": "m"}]}
        ),
    ),
    ("password_discarded", lambda: post_notes({"schemas": [USER_SCHEMA], "password": "pw"})),
    ("unknown_attribute", lambda: post_notes({"schemas": [USER_SCHEMA], "favouriteColour": 1})),
    (
        "read_only_ignored",
        lambda: patch_notes(
            {
                "op": "replace",
                "path": f"{ENTERPRISE_SCHEMA}:manager",
                "value": {"value": "m", "displayName": "Boss"},
            }
        ),
    ),
    ("own_id_ignored", lambda: patch_notes({"op": "replace", "value": {"id": USER_ID}})),
    (
        "extra_schema_ignored",
        lambda: patch_notes(
            {"op": "replace", "path": "active", "value": False}, schemas=["urn:example:extra"]
        ),
    ),
    ("empty_groups", lambda: put_notes({"groups": []})),
    (
        "schema_alias",
        lambda: (
            parse_resource(
                GROUP_RESOURCE, {"schemas": [ADSCIM_GROUP_SCHEMA], "displayName": "T"}
            ).quirks
        ),
    ),
    (
        "urn_prefixed_attribute",
        lambda: post_notes({"schemas": [USER_SCHEMA], f"{USER_SCHEMA}:displayName": "Ada"}),
    ),
    ("path_alias", lambda: patch_notes({"op": "replace", "path": "employeeNumber", "value": "7"})),
    ("no_path_key", lambda: patch_notes({"op": "replace", "value": {"name.givenName": "Ada"}})),
    (
        "filter_path_created",
        lambda: patch_notes(
            {"op": "replace", "path": 'emails[type eq "home"].value', "value": "h@x"}
        ),
    ),
    (
        "members_value_remove",
        lambda: patch_notes(
            {"op": "remove", "path": "members", "value": [{"value": USER_ID}]}, group=True
        ),
    ),
    ("attribute_case", lambda: post_notes({"schemas": [USER_SCHEMA], "name": {"GivenName": "A"}})),
]


@pytest.mark.parametrize(("expected", "produce"), [pytest.param(k, p, id=k) for k, p in CASES])
def test_every_note_has_its_kind(expected: str, produce: Any) -> None:
    notes = produce()
    assert notes, "the input produced no note"
    assert {note: kind(note) for note in notes} == {note: expected for note in notes}


def test_an_unknown_note_is_other() -> None:
    assert kind("Operations[3]: something new") == "other"
