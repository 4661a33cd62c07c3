"""`attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9), applied to wire documents.

Paths are resolved against the schema once per request, so applying a projection to many
resources of a page is a plain walk over dictionaries.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from scimlite.scim.errors import InvalidPath, InvalidValue
from scimlite.scim.evaluate import matches_item
from scimlite.scim.filter import Filter, lookup, parse_path
from scimlite.scim.paths import PathError, resolve_path
from scimlite.scim.schema import Attribute, ResourceType

# RFC 7643 §7: returned "always" — never removed by a projection.
_ALWAYS = frozenset({"id", "schemas"})

Path = tuple[str, ...]  # (attr,) | (attr, sub) | (urn,) | (urn, attr) | (urn, attr, sub)


@dataclass(frozen=True, slots=True)
class ValueSelection:
    """`attributes=emails[type eq "work"]`: only the values of `attr` the filter selects."""

    attr: Attribute
    filter: Filter


@dataclass(frozen=True, slots=True)
class Projection:
    include: frozenset[Path] | None = None
    exclude: frozenset[Path] = frozenset()
    # Core attributes named with a value filter in `attributes`, by name.
    selections: tuple[tuple[str, ValueSelection], ...] = ()

    def wants(self, attr: str) -> bool:
        """Whether the top-level attribute `attr` will be in the output (to skip loading it)."""
        if self.include is not None and not any(p[0] == attr for p in self.include):
            return attr in _ALWAYS
        return (attr,) not in self.exclude

    def requests(self, *path: str) -> bool:
        """Whether `attributes` names this path: how returned="request" values are asked for."""
        return self.include is not None and tuple(path) in self.include


ALL = Projection()


def _resolve(resource: ResourceType, text: str) -> Path:
    """A projection path through `resolve_path`; "schemas" (not an attribute) is one too.

    Only the core schema URN qualifies a core attribute here (not its aliases).
    """
    raw = text.strip()
    core = resource.schema.id.lower() + ":"
    bare = raw[len(core) :] if raw.lower().startswith(core) else raw
    if bare.split(".")[0].lower() == "schemas":
        return ("schemas",)
    try:
        found = resolve_path(resource, raw)
    except PathError:
        found = None
    if found is None or (found.qualifier or core[:-1]).lower() != core[:-1]:
        raise InvalidValue(f'unknown attribute "{raw}" in attributes/excludedAttributes')
    return found.names()


def _select(resource: ResourceType, text: str) -> tuple[Path, ValueSelection]:
    """`emails[type eq "work"]` or `emails[type eq "work"].value` in `attributes`.

    RFC 7644 §3.9 names attributes only, but clients send the PATCH path form (issue #15);
    returning the values it selects is what they ask for, and nothing else could be meant.
    """
    try:
        parsed = parse_path(text.strip(), resource)
    except InvalidPath as exc:
        raise InvalidValue(f"attributes: {exc.detail}") from None
    path = parsed.path
    top, _ = lookup(path, resource)
    if path.urn is not None or path.sub_attr is not None or parsed.value_filter is None:
        raise InvalidValue(f'attributes: "{text.strip()}" cannot select values')
    names: Path = (top.name, parsed.sub_attr) if parsed.sub_attr else (top.name,)
    return names, ValueSelection(top, parsed.value_filter)


def _split_names(text: str) -> list[str]:
    """Comma-separated names; a comma inside a value filter (`[…]`) or a string is kept."""
    names, depth, quoted, start = [], 0, False, 0
    for i, c in enumerate(text):
        if c == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and c in "[]":
            depth += 1 if c == "[" else -1
        elif c == "," and not quoted and depth == 0:
            names.append(text[start:i])
            start = i + 1
    return [*names, text[start:]]


def _paths(
    resource: ResourceType,
    text: str,
    lenient: bool,
    selections: dict[str, ValueSelection] | None = None,
) -> frozenset[Path]:
    """The paths of a parameter; value filters only where `selections` collects them."""
    paths: set[Path] = set()
    for name in _split_names(text):
        if not name.strip():
            continue
        try:
            if "[" in name and selections is not None:
                path, selection = _select(resource, name)
                selections[path[0]] = selection
                paths.add(path)
            else:
                paths.add(_resolve(resource, name))
        except InvalidValue:
            if not lenient:
                raise
    return frozenset(paths)


def parse_projection(
    resource: ResourceType, attributes: str | None, excluded: str | None, *, lenient: bool = False
) -> Projection:
    """Both parameters are comma-separated attribute paths; at most one may be given.

    `lenient` skips names the resource type does not have (root /.search spans types).
    Cached: a client sends the same few projections with every request (an IdP's
    `excludedAttributes=members` on each team change), and a Projection is immutable.
    """
    if not attributes and not excluded:
        return ALL  # most requests: no lookup (hashing a ResourceType walks its schema)
    return _parse_projection(resource, attributes, excluded, lenient)


@functools.lru_cache(maxsize=256)
def _parse_projection(
    resource: ResourceType, attributes: str | None, excluded: str | None, lenient: bool
) -> Projection:
    if attributes and excluded:
        raise InvalidValue("give either attributes or excludedAttributes, not both")
    if attributes:
        selections: dict[str, ValueSelection] = {}
        include = _paths(resource, attributes, lenient, selections)
        return Projection(include=include, selections=tuple(selections.items()))
    if excluded:
        return Projection(exclude=_paths(resource, excluded, lenient))
    return ALL


def _keep_subs(value: Any, subs: set[str]) -> Any:
    if isinstance(value, list):
        kept = [_keep_subs(item, subs) for item in value]
        return [k for k in kept if k]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in subs}
    return value


def _drop_subs(value: Any, subs: set[str]) -> Any:
    if isinstance(value, list):
        return [_drop_subs(item, subs) for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in subs}
    return value


def _split(paths: frozenset[Path]) -> tuple[set[str], dict[str, set[str]]]:
    """Whole attributes, and sub-attributes per attribute, at one level of nesting."""
    whole = {p[0] for p in paths if len(p) == 1}
    subs: dict[str, set[str]] = {}
    for p in paths:
        if len(p) > 1:
            subs.setdefault(p[0], set()).add(".".join(p[1:]) if len(p) == 2 else p[1])
    return whole, subs


def _nested(paths: frozenset[Path], urn: str) -> frozenset[Path]:
    return frozenset(p[1:] for p in paths if p[0] == urn and len(p) > 1)


def _selected(selection: ValueSelection, value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [
        v
        for v in value
        if isinstance(v, dict) and matches_item(selection.filter, v, selection.attr)
    ]


def apply(projection: Projection, resource: ResourceType, doc: dict[str, Any]) -> dict[str, Any]:
    """The wire document with only the requested attributes (id and schemas always stay)."""
    if projection is ALL or (projection.include is None and not projection.exclude):
        return doc
    urns = {e.id for e in resource.extensions}
    if projection.include is not None:
        whole, subs = _split(projection.include)
        out: dict[str, Any] = {}
        selections = dict(projection.selections)
        for key, value in doc.items():
            if key in selections:
                value = _selected(selections[key], value)
                if not value:
                    continue
            if key in _ALWAYS or key in whole:
                out[key] = value
            elif key in urns and key in subs:
                inner = Projection(include=_nested(projection.include, key))
                kept = apply(inner, resource, value)
                if kept:
                    out[key] = kept
            elif key in subs:
                kept = _keep_subs(value, subs[key])
                if kept:
                    out[key] = kept
        return out
    whole, subs = _split(projection.exclude)
    out = {}
    for key, value in doc.items():
        if key in whole and key not in _ALWAYS:
            continue
        if key in urns and key in subs:
            out[key] = apply(Projection(exclude=_nested(projection.exclude, key)), resource, value)
        elif key in subs:
            out[key] = _drop_subs(value, subs[key])
        else:
            out[key] = value
    return out
