"""POST/PUT parsing and the one validation of a PATCH result (scim/models.py)."""

from __future__ import annotations

from typing import Any

import pytest

from scimlite.scim.models import parse_resource, validate_patched
from scimlite.scim.patch import apply_patch, parse_patch
from scimlite.scim.schema import (
    ENTERPRISE_USER_SCHEMA,
    PATCH_OP_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
)
from tests.support import SAMPLES, sample

ENT = ENTERPRISE_USER_SCHEMA
USER = parse_resource(
    USER_RESOURCE,
    {
        "schemas": [USER_SCHEMA, ENT],
        "userName": "bjensen",
        "name": {"givenName": "Barbara"},
        "emails": [{"value": f"e{i}@example.com", "type": "work"} for i in range(50)],
        ENT: {"department": "Tour", "manager": {"value": "m-1"}},
    },
).doc


def _ops(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_SCHEMA], "Operations": list(ops)}


PATCHES = [
    _ops({"op": "add", "path": "emails", "value": [{"value": "new@x", "primary": "True"}]}),
    _ops({"op": "remove", "path": "emails"}, {"op": "remove", "path": "name.givenName"}),
    _ops({"op": "replace", "path": "manager", "value": "m-2"}),
    _ops({"op": "Replace", "value": {"active": "False", "name.familyName": "Jensen"}}),
    _ops({"op": "remove", "path": f"{ENT}"}),
    *(
        sample(p.relative_to(SAMPLES).as_posix())
        for p in sorted(SAMPLES.glob("entra/*.json"))
        if "group" not in p.name
    ),
]


@pytest.mark.parametrize("body", PATCHES)
def test_validate_patched_equals_a_full_parse_of_the_patched_document(body: Any) -> None:
    # validate_patched skips canonicalising and pruning again: the patcher already did both.
    ops, _ = parse_patch(body)
    result = apply_patch(USER_RESOURCE, USER, ops)
    full = parse_resource(USER_RESOURCE, {"schemas": [USER_SCHEMA], **result.doc})
    assert validate_patched(USER_RESOURCE, result.doc) == full.doc
