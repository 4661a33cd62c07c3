"""The in-Python evaluator of filter ASTs (`scimlite.scim.filter`) over wire-form documents.

PATCH value filters (`emails[type eq "work"]`) and the property tests use it;
`scimlite.store.sqlfilter` compiles the same AST to SQL and must agree with `matches()` on
every document. The semantics both share are described in `scimlite.scim.filter`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from scimlite.scim.filter import (
    SUBSTRING_OPS,
    And,
    AttrPath,
    Compare,
    CompValue,
    Filter,
    Not,
    Op,
    Or,
    Present,
    ValueFilter,
    datetime_key,
    folds,
    lookup,
    operands,
    positive,
)
from scimlite.scim.schema import Attribute, ResourceType
from scimlite.text import fold

# path → (top attribute, leaf attribute, candidate values); for a path without a
# sub-attribute on a multi-valued attribute the candidates are its elements.
_Resolver = Callable[[AttrPath], tuple[Attribute, Attribute, list[Any]]]


def matches(f: Filter, resource_doc: dict[str, Any], resource: ResourceType) -> bool:
    """Whether a wire-form document satisfies the filter (canonical names, extensions
    under their URN key, `groups`/`members` present when the caller wants them matched)."""

    def resolve(path: AttrPath) -> tuple[Attribute, Attribute, list[Any]]:
        top, leaf = lookup(path, resource)
        container = resource_doc if path.urn is None else resource_doc.get(path.urn)
        raw = container.get(top.name) if isinstance(container, dict) else None
        # A multi-valued attribute that is not a list has no values (like json_each).
        items = (raw if isinstance(raw, list) else []) if top.multi_valued else [raw]
        if path.sub_attr is None:
            return top, leaf, items
        return top, leaf, [item.get(leaf.name) for item in items if isinstance(item, dict)]

    return _evaluate(f, resolve)


def matches_item(f: Filter, item: dict[str, Any], attribute: Attribute) -> bool:
    """Whether one element of a complex attribute satisfies a value filter's inner filter
    (paths relative to `attribute`, as parse_filter and parse_path produce them)."""
    return _evaluate(f, _item_resolver(item, attribute))


def _item_resolver(item: dict[str, Any], attribute: Attribute) -> _Resolver:
    def resolve(path: AttrPath) -> tuple[Attribute, Attribute, list[Any]]:
        sub = attribute.sub(path.attr)
        if sub is None:
            raise ValueError(f"{attribute.name} has no sub-attribute {path.attr}")
        return attribute, sub, [item.get(sub.name)]

    return resolve


def _evaluate(f: Filter, resolve: _Resolver) -> bool:
    if isinstance(f, And):
        return all(_evaluate(x, resolve) for x in operands(f))
    if isinstance(f, Or):
        return any(_evaluate(x, resolve) for x in operands(f))
    if isinstance(f, Not):
        return not _evaluate(f.inner, resolve)
    if isinstance(f, ValueFilter):
        top, _, items = resolve(f.path)
        return any(
            _evaluate(f.filter, _item_resolver(item, top))
            for item in items
            if isinstance(item, dict)
        )
    negate, leaf = positive(f)
    _, attribute, values = resolve(leaf.path)
    if isinstance(leaf, Present):
        hit = any(_present(v) for v in values)
    else:
        hit = any(_compare(leaf.op, v, leaf.value, attribute) for v in values)
    return hit != negate


def _present(value: Any) -> bool:
    """RFC 7644 §3.4.2.2 `pr`: a non-empty value, or a complex value with a non-empty node."""
    if value is None or value == "":
        return False
    if isinstance(value, list):
        return any(_present(v) for v in value)
    if isinstance(value, dict):
        return any(_present(v) for v in value.values())
    return True


def _compare(op: Op, value: Any, literal: CompValue, attribute: Attribute) -> bool:
    """One value against a literal already checked against the attribute's type."""
    if attribute.type == "dateTime":
        value = datetime_key(value) if isinstance(value, str) else None
    elif folds(attribute) and isinstance(value, str) and isinstance(literal, str):
        value, literal = fold(value), fold(literal)
    if value is None or isinstance(value, dict | list):
        return False
    if op == "eq":
        return bool(value == literal)
    if op in SUBSTRING_OPS:
        if not (isinstance(value, str) and isinstance(literal, str)):
            return False
        if op == "co":
            return literal in value
        return value.startswith(literal) if op == "sw" else value.endswith(literal)
    both_text = isinstance(value, str) and isinstance(literal, str)
    both_numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (value, literal)
    )
    if not (both_text or both_numbers):
        return False
    if op == "gt":
        return bool(value > literal)
    if op == "ge":
        return bool(value >= literal)
    if op == "lt":
        return bool(value < literal)
    return bool(value <= literal)


_RESOURCE_TYPE = AttrPath(None, "meta", "resourceType")


def for_resource_type(f: Filter, resource: ResourceType) -> Filter | bool:
    """`f` with each `meta.resourceType` test answered for `resource`; True or False when
    that decides the whole filter.

    A root query (RFC 7644 §3.4.2.1) spans resource types, and clients narrow it with
    `meta.resourceType eq "Group"`: a value no row stores, since a table holds one type.
    """
    if isinstance(f, Compare | Present) and f.path == _RESOURCE_TYPE:
        return matches(f, {"meta": {"resourceType": resource.id}}, resource)
    if isinstance(f, Not):
        inner = for_resource_type(f.inner, resource)
        return (not inner) if isinstance(inner, bool) else Not(inner)
    if isinstance(f, And | Or):
        left, right = for_resource_type(f.left, resource), for_resource_type(f.right, resource)
        decides = isinstance(f, Or)  # True decides an or, False an and
        for one, other in ((left, right), (right, left)):
            if isinstance(one, bool):
                return decides if one is decides else other
        return type(f)(cast(Filter, left), cast(Filter, right))
    return f
