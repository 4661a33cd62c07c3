"""resolve_path (scim/paths.py): the one resolver for filters, PATCH, projection, POST keys."""

from __future__ import annotations

import pytest

from scimlite.scim.paths import PathError, qualify_extension, resolve_path
from scimlite.scim.schema import (
    ADSCIM_GROUP_SCHEMA,
    ENTERPRISE_USER_SCHEMA,
    GROUP_RESOURCE,
    USER_RESOURCE,
    USER_SCHEMA,
)

ENT = ENTERPRISE_USER_SCHEMA


@pytest.mark.parametrize(
    ("text", "names", "qualifier"),
    [
        ("userName", ("userName",), None),
        ("USERNAME", ("userName",), None),
        ("name.GIVENNAME", ("name", "givenName"), None),
        ("emails.value", ("emails", "value"), None),
        ("meta.lastModified", ("meta", "lastModified"), None),
        ("id", ("id",), None),
        (f"{USER_SCHEMA}:userName", ("userName",), USER_SCHEMA),
        (f"{ENT}:manager.value", (ENT, "manager", "value"), None),
        (f"{ENT.upper()}:department", (ENT, "department"), None),
        (ENT, (ENT,), None),
    ],
)
def test_resolves_to_canonical_names(
    text: str, names: tuple[str, ...], qualifier: str | None
) -> None:
    found = resolve_path(USER_RESOURCE, text)
    assert found.names() == names
    assert found.qualifier == qualifier


def test_an_alias_of_the_core_schema_qualifies_and_is_reported() -> None:
    found = resolve_path(GROUP_RESOURCE, f"{ADSCIM_GROUP_SCHEMA}:displayName")
    assert (found.names(), found.qualifier) == (("displayName",), ADSCIM_GROUP_SCHEMA)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (USER_SCHEMA, f'"{USER_SCHEMA}" is a schema, not an attribute', 0),
        ("urn:x:y:title", 'unknown schema "urn:x:y"', 0),
        ("name.givenName.x", 'invalid attribute path "name.givenName.x"', 0),
        ("name.", 'invalid attribute path "name."', 0),
        ("nope", 'unknown attribute "nope"', 0),
        (f"{ENT}:nope", 'unknown attribute "nope"', len(ENT) + 1),
        ("name.nope", '"name" has no sub-attribute "nope"', 5),
        ("title.x", '"title" has no sub-attribute (it has none) "x"', 6),
    ],
)
def test_failures_say_what_and_where(text: str, message: str, offset: int) -> None:
    with pytest.raises(PathError) as caught:
        resolve_path(USER_RESOURCE, text)
    assert (caught.value.message, caught.value.offset) == (message, offset)


def test_an_unqualified_extension_name_is_qualified_for_patch() -> None:
    assert qualify_extension(USER_RESOURCE, "manager.value") == f"{ENT}:manager.value"
    assert qualify_extension(USER_RESOURCE, "nope") is None
    assert qualify_extension(USER_RESOURCE, f"{ENT}:manager") is None
