"""What scimlite accepts from identity providers beyond RFC 7643/7644, in one place.

Each rule accepts one unambiguous deviation, returns the RFC form and notes what it did, in
the same words whichever path the value came by: POST and PUT bodies (`scim/models.py`),
PATCH operations (`scim/patch.py`) and the same requests inside /Bulk. PATCH prefixes each
note with the operation it belongs to (`Operations[0]: `); the rest of the text is the same,
so the journal reads alike for a POST and a PATCH that sent the same quirk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from scimlite.scim.schema import GROUP_MEMBERS, USER_GROUPS, Attribute

Note = Callable[[str], None]  # records one quirk for the journal


def boolean_from_text(value: Any, label: str, note: Note) -> Any:
    """Entra ID sends booleans as "True"/"False": read exactly those spellings (any case) as
    booleans. Other values are returned unchanged, for the caller to accept or refuse."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        note(f'"{label}" string "{value}" read as boolean {value.lower()}')
        return value.lower() == "true"
    return value


def reference_from_id(value: Any, label: str, note: Note) -> Any:
    """Entra ID sends a single reference such as `manager` as a bare id; RFC 7643 §4.3 wants
    an object: `"id"` is read as `{"value": "id"}`."""
    if isinstance(value, str):
        note(f'"{label}" given as a bare id, read as {{"value": id}}')
        return {"value": value}
    return value


def reference_from_list(value: Any, label: str, note: Note) -> Any:
    """Entra ID sends a single reference as a one-element array `[{"$ref": …, "value": id}]`
    in PATCH; it is unwrapped. (POST and PUT refuse an array there, as they always have.)"""
    if isinstance(value, list) and len(value) == 1:
        note(f'"{label}" given as a one-element array, unwrapped')
        return value[0]
    return value


def value_from_text(attr: Attribute, value: Any, label: str, note: Note) -> Any:
    """LiteLLM's tests send a bare string among the values of a multi-valued complex
    attribute (`"entitlements": ["premium", {"value": "x"}]`): read as `{"value": "premium"}`
    where the attribute has a `value` sub-attribute (RFC 7643 §2.4). Not for memberships
    (`members`, `groups`): there a string could be an id or a name, and reading it would
    guess. Other values are returned unchanged."""
    if (
        isinstance(value, str)
        and attr.multi_valued
        and attr.sub("value") is not None
        and attr not in (GROUP_MEMBERS, USER_GROUPS)
    ):
        note(f'"{label}" value "{value}" read as {{"value": "{value}"}}')
        return {"value": value}
    return value


def sub_attribute(attr: Attribute, key: str, label: str, note: Note) -> Attribute | None:
    """A sub-attribute named in any case (RFC 7643 §2.1); a spelling other than the schema's
    is noted. None when `attr` has no such sub-attribute."""
    sub = attr.sub(key)
    if sub is not None and sub.name != key:
        note(f'"{label}.{key}" read as "{label}.{sub.name}"')
    return sub


def op_name(op_text: object, note: Note) -> str | None:
    """A PATCH `op` in any case (Entra ID sends "Add", "Replace"): lower-cased and noted.
    None when it is not a string."""
    if not isinstance(op_text, str):
        return None
    op = op_text.lower()
    if op != op_text:
        note(f'op "{op_text}" normalised to "{op}"')
    return op


# What kind of deviation a note records, for counting (GET /metrics): the first pattern
# that matches the note (without a PATCH's `Operations[i]: ` prefix) names it. A new note
# wording needs a line here; tests/unit/test_leniency.py produces every note and checks
# that none is "other".
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("op_case", r'^op ".*" normalised to '),
        ("boolean_string", r'" string ".*" read as boolean '),
        ("bare_reference", r"given as a bare id"),
        ("reference_array", r"given as a one-element array"),
        ("password_discarded", r"accepted and discarded \(scimlite stores no passwords\)"),
        ("unknown_attribute", r"^ignored unknown attribute "),
        ("read_only_ignored", r"^ignored readOnly "),
        ("own_id_ignored", r'^ignored "id" equal to'),
        ("extra_schema_ignored", r'^ignored "schemas" inside |" in "schemas" of a PATCH body$'),
        ("empty_groups", r'^empty "groups" on a User PUT'),
        ("schema_alias", r"^schema .* read as "),
        ("urn_prefixed_attribute", r'^attribute "urn:.*" read as '),
        ("path_alias", r'^path ".*" read as '),
        ("no_path_key", r"of a no-path value read as path"),
        ("filter_path_created", r"matched no value; created one"),
        ("members_value_remove", r'^"remove" of "members" with a value list'),
        ("attribute_case", r'^"[^"]*" read as "'),
    )
)
_OPERATION = re.compile(r"^Operations\[\d+\]: ")


def kind(note: str) -> str:
    """A short stable name for the kind of quirk `note` records, or "other"."""
    text = _OPERATION.sub("", note, count=1)
    return next((name for name, pattern in _KINDS if pattern.search(text)), "other")
