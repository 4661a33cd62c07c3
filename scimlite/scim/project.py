"""`attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9), applied to wire documents.

Paths are resolved against the schema once per request, so applying a projection to many
resources of a page is a plain walk over dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scimlite.scim.errors import InvalidValue
from scimlite.scim.paths import PathError, resolve_path
from scimlite.scim.schema import ResourceType

# RFC 7643 §7: returned "always" — never removed by a projection.
_ALWAYS = frozenset({"id", "schemas"})

Path = tuple[str, ...]  # (attr,) | (attr, sub) | (urn,) | (urn, attr) | (urn, attr, sub)


@dataclass(frozen=True, slots=True)
class Projection:
    include: frozenset[Path] | None = None
    exclude: frozenset[Path] = frozenset()

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


def _paths(resource: ResourceType, text: str, lenient: bool) -> frozenset[Path]:
    paths: set[Path] = set()
    for name in text.split(","):
        if not name.strip():
            continue
        try:
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
    """
    if attributes and excluded:
        raise InvalidValue("give either attributes or excludedAttributes, not both")
    if attributes:
        return Projection(include=_paths(resource, attributes, lenient))
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


def apply(projection: Projection, resource: ResourceType, doc: dict[str, Any]) -> dict[str, Any]:
    """The wire document with only the requested attributes (id and schemas always stay)."""
    if projection is ALL or (projection.include is None and not projection.exclude):
        return doc
    urns = {e.id for e in resource.extensions}
    if projection.include is not None:
        whole, subs = _split(projection.include)
        out: dict[str, Any] = {}
        for key, value in doc.items():
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
