"""PATCH values checked against their attribute, and team members read from them: pure.

`scimlite.scim.patch` calls these with a `Site`: where the value comes from (its operation,
`Operations[0]`, for messages) and where the quirks it normalises are noted. The leniency
rules themselves are in `scimlite.scim.leniency`, shared with POST and PUT.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from scimlite.scim import leniency
from scimlite.scim.errors import InvalidFilter, InvalidValue
from scimlite.scim.filter import And, Compare, Filter, Or, operands
from scimlite.scim.models import prune
from scimlite.scim.schema import Attribute


class Site(Protocol):
    """The operation a value belongs to: its place for messages, and its quirk notes."""

    @property
    def where(self) -> str: ...

    def note(self, text: str) -> None: ...


def kind(value: object) -> str:
    """How a JSON value is named in messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def coerce(site: Site, attr: Attribute, value: Any, label: str) -> Any:
    """Check a value against the attribute's schema and canonicalise its keys."""
    if not attr.multi_valued:
        return coerce_one(site, attr, value, label)
    # RFC 7644 §3.5.2.1: a single value may be given for a multi-valued attribute.
    items = value if isinstance(value, list) else [value]
    coerced = (prune(coerce_one(site, attr, i, label)) for i in items if i is not None)
    return [v for v in coerced if v != {}]


def coerce_one(site: Site, attr: Attribute, value: Any, label: str) -> Any:
    if attr.type != "complex":
        return coerce_simple(site, attr, value, label)
    if not attr.multi_valued and attr.sub("value") is not None:
        value = reference_shorthand(site, value, label)
    value = leniency.value_from_text(attr, value, label, site.note)
    if not isinstance(value, dict):
        raise InvalidValue(
            f'{site.where}: "{label}" takes an object of sub-attributes, not {kind(value)}'
        )
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = leniency.sub_attribute(attr, key, label, site.note)
        if sub is None:
            raise InvalidValue(f'{site.where}: "{label}" has no sub-attribute "{key}"')
        if sub.mutability == "readOnly":
            if item is not None:
                site.note(f'ignored readOnly "{label}.{sub.name}"')
            continue
        out[sub.name] = coerce_simple(site, sub, item, f"{label}.{sub.name}")
    return out


def reference_shorthand(site: Site, value: Any, label: str) -> Any:
    """A single reference (manager) as a bare id or a one-element array (Entra ID)."""
    value = leniency.reference_from_id(value, label, site.note)
    return leniency.reference_from_list(value, label, site.note)


def coerce_simple(site: Site, attr: Attribute, value: Any, label: str) -> Any:
    if value is None:
        return None
    if attr.type == "boolean":
        value = leniency.boolean_from_text(value, label, site.note)
        if not isinstance(value, bool):
            raise InvalidValue(f'{site.where}: "{label}" must be a boolean, not {kind(value)}')
        return value
    if attr.type in ("integer", "decimal"):
        number = isinstance(value, int) or (attr.type == "decimal" and isinstance(value, float))
        if not number or isinstance(value, bool):
            raise InvalidValue(f'{site.where}: "{label}" must be a number, not {kind(value)}')
        return value
    if not isinstance(value, str):
        raise InvalidValue(f'{site.where}: "{label}" must be a string, not {kind(value)}')
    return value


def member_ids(site: Site, value: Any, attr: Attribute) -> tuple[str, ...]:
    """Ids from `[{"value": id}, …]` for a membership attribute (Group.members, User.groups);
    a single object or null is accepted too. A bare string is refused: an id without its
    object could as well be a display name, so reading it would guess."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    type_attr = attr.sub("type")
    allowed = type_attr.canonical_values if type_attr else ()
    ids: dict[str, None] = {}
    for n, item in enumerate(items):
        where = f'{site.where}: "{attr.name}" value {n}'
        if not isinstance(item, dict):
            raise InvalidValue(f'{where} must be an object like {{"value": "<id>"}}')
        fields = {k.lower(): v for k, v in item.items()}
        kind = fields.get("type")
        if kind is not None and (
            not isinstance(kind, str) or kind.lower() not in {a.lower() for a in allowed}
        ):
            raise InvalidValue(f"{where} has type {kind!r}; expected {' or '.join(allowed)}")
        ref_id = fields.get("value")
        if not isinstance(ref_id, str) or not ref_id:
            raise InvalidValue(f'{where} needs "value": the id')
        ids[ref_id] = None
    return tuple(ids)


def member_ids_from_filter(site: Site, f: Filter, name: str) -> tuple[str, ...]:
    """`members[value eq "a" or value eq "b"]` → ("a", "b"); nothing else selects ids."""
    ids: dict[str, None] = {}
    for part in operands(f) if isinstance(f, Or) else [f]:
        if not (
            isinstance(part, Compare)
            and part.op == "eq"
            and part.path.attr == "value"
            and isinstance(part.value, str)
        ):
            raise InvalidFilter(
                f'{site.where}: {name} are selected by id only: {name}[value eq "<id>"], '
                'several joined with "or"'
            )
        ids[part.value] = None
    return tuple(ids)


def value_key(value: Any) -> bytes:
    """A hashable identity for a JSON value: equal values, equal keys (key order ignored)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def eq_literal(f: Filter) -> tuple[str, str] | None:
    """(sub-attribute, text) of an `eq` with a string literal that `f` requires, if any."""
    for part in operands(f) if isinstance(f, And) else [f]:
        if isinstance(part, Compare) and part.op == "eq" and isinstance(part.value, str):
            return part.path.attr, part.value
    return None


def merge(current: Any, new: dict[str, Any]) -> dict[str, Any]:
    """Sub-attributes of `new` over `current`; a null sub-attribute is removed.

    RFC 7644 §3.5.2.3: sub-attributes that are not given are left unchanged.
    """
    base = dict(current) if isinstance(current, dict) else {}
    base.update(new)
    return {k: v for k, v in base.items() if v is not None}


def seed_value(f: Filter) -> dict[str, Any] | None:
    """The value a filter of `sub eq literal [and …]` describes, or None for other filters."""
    seed: dict[str, Any] = {}
    for part in operands(f) if isinstance(f, And) else [f]:
        if not isinstance(part, Compare) or part.op != "eq" or part.value is None:
            return None
        seed[part.path.attr] = part.value
    return seed
