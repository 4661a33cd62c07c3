"""Attribute paths (RFC 7644 §3.10) resolved against the schema: the one resolver.

`resolve_path()` turns text such as `name.givenName`, `EMAILS.value`, `meta.version` or
`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` into canonical
attributes. The filter and PATCH path parser, projection (`attributes`) and POST/PUT key
canonicalisation all call it; they differ only in which answers they accept and how they
word a failure (each keeps its own error type, so `PathError` carries a neutral message and
the character offset it refers to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scimlite.scim.schema import COMMON_ATTRIBUTES, RESOURCE_TYPES, Attribute, ResourceType

_COMMON = {a.name.lower(): a for a in COMMON_ATTRIBUTES}


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    """What a path names, in canonical spelling.

    `urn` is None for core-schema and common attributes (id, externalId, meta), else the
    canonical extension URN. `attribute` is None only when the text names a whole extension.
    `qualifier` is the core schema URN (or an alias of it) the text began with, as spelled;
    None when the text was not qualified or was qualified with an extension URN.
    """

    urn: str | None
    attribute: Attribute | None
    sub: Attribute | None = None
    qualifier: str | None = None

    @property
    def leaf(self) -> Attribute | None:
        """The attribute the path ends at: the sub-attribute, else the attribute."""
        return self.sub or self.attribute

    def names(self) -> tuple[str, ...]:
        """(urn?, attribute?, sub?) in canonical spelling."""
        head = (self.urn,) if self.urn else ()
        if self.attribute is None:
            return head
        tail = (self.sub.name,) if self.sub else ()
        return (*head, self.attribute.name, *tail)


class PathError(ValueError):
    """A path that names nothing: a caller-neutral message and the 0-based offset it means."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def schema_urn(resource: ResourceType, text: str) -> str | Literal[False] | None:
    """None for the core schema (or an alias), an extension's URN, or False if unknown."""
    return _tables(resource).urns.get(text.lower(), False)


@dataclass(frozen=True, slots=True)
class _Tables:
    """A resource type's names, lower-cased, for lookups that run for every path and key."""

    urns: dict[str, str | None]  # schema URN → None (core, aliases) or the extension's URN
    plain: dict[str, ResolvedPath]  # core and common attribute name → its ResolvedPath

    @staticmethod
    def build(resource: ResourceType) -> _Tables:
        core = (resource.schema.id, *resource.schema_aliases)
        urns: dict[str, str | None] = {urn.lower(): None for urn in core}
        urns.update({ext.id.lower(): ext.id for ext in resource.extensions})
        attrs = (*COMMON_ATTRIBUTES, *resource.schema.attributes)  # the schema's win
        return _Tables(urns, {a.name.lower(): ResolvedPath(None, a) for a in attrs})


def _tables(resource: ResourceType) -> _Tables:
    return _TABLES.get(id(resource)) or _Tables.build(resource)


def attribute_of(resource: ResourceType, urn: str | None, name: str) -> Attribute | None:
    """A top-level attribute by name, case-insensitively (RFC 7643 §2.1): of the core schema
    or the common attributes when `urn` is None, else of that extension."""
    if urn is None:
        return resource.schema.attribute(name) or _COMMON.get(name.lower())
    extension = resource.extension(urn)
    return extension.attribute(name) if extension else None


def resolve_path(resource: ResourceType, text: str) -> ResolvedPath:
    """attrPath = [URI ":"] ATTRNAME *1subAttr (RFC 7644 §3.10), or a whole extension's URN.

    Raises PathError for text that names no attribute of `resource`; a core schema URN on
    its own is such a text (it is a schema, not an attribute).
    """
    if text and ":" not in text and "." not in text:  # a plain name: most paths and keys
        plain = _tables(resource).plain.get(text.lower())
        if plain is None:
            raise PathError(f'unknown attribute "{text}"')
        return plain
    found = schema_urn(resource, text)
    if isinstance(found, str):
        return ResolvedPath(found, None)
    if found is None:
        raise PathError(f'"{text}" is a schema, not an attribute')
    urn: str | None = None
    qualifier: str | None = None
    word, offset = text, 0
    if ":" in text:
        prefix, _, word = text.rpartition(":")
        offset = len(prefix) + 1
        found = schema_urn(resource, prefix)
        if found is False:
            raise PathError(f'unknown schema "{prefix}"')
        urn, qualifier = found, (prefix if found is None else None)
    names = word.split(".")
    if len(names) > 2 or not all(names):
        raise PathError(f'invalid attribute path "{text}"')
    top = attribute_of(resource, urn, names[0])
    if top is None:
        raise PathError(f'unknown attribute "{names[0]}"', offset)
    if len(names) == 1:
        return ResolvedPath(urn, top, None, qualifier)
    sub = top.sub(names[1])
    if sub is None:
        what = "sub-attribute" if top.sub_attributes else "sub-attribute (it has none)"
        raise PathError(f'"{top.name}" has no {what} "{names[1]}"', offset + len(names[0]) + 1)
    return ResolvedPath(urn, top, sub, qualifier)


def resolve_sub(scope: Attribute, text: str) -> Attribute:
    """A name relative to a complex attribute, as inside `emails[type eq "work"]`."""
    sub = scope.sub(text)
    if sub is None:
        raise PathError(f'"{scope.name}" has no sub-attribute "{text}"')
    return sub


def qualify_extension(resource: ResourceType, text: str) -> str | None:
    """Entra ID leaves the URN off extension attributes (PATCH path `manager`): for a text
    that did not resolve as given, the text qualified with the one extension that has its
    first name (None when no extension, or more than one, has it)."""
    head = text.split("[", 1)[0].split(".", 1)[0]
    if ":" in head:
        return None
    found = [ext for ext in resource.extensions if ext.attribute(head)]
    return f"{found[0].id}:{text}" if len(found) == 1 else None


def dotted_extension(resource: ResourceType, text: str) -> str | None:
    """Microsoft's inbound provisioning collection writes an extension attribute with a dot
    after the URN (`urn:…:enterprise:2.0:User.manager`); RFC 7644 §3.10 wants a colon. The
    text with the colon, for a text that did not resolve as given (None when no extension
    URN is followed by a dot)."""
    lowered = text.lower()
    for ext in resource.extensions:
        if lowered.startswith(ext.id.lower() + "."):
            return f"{ext.id}:{text[len(ext.id) + 1 :]}"
    return None


# Built once from the schema for the resource types scimlite serves.
_TABLES: dict[int, _Tables] = {id(r): _Tables.build(r) for r in RESOURCE_TYPES}
