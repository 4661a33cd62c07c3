"""The document as filters compare it: every case-insensitive string folded.

RFC 7643 §2.2 makes most string attributes case-insensitive (caseExact=false); scimlite
compares them by `text.fold()` (NFC, then Python's casefold). SQLite calls fold() inside a
query; PostgreSQL cannot call Python, and its own lower() is not casefold (ß, ſ, ﬁ), so
the PostgreSQL store keeps this folded copy beside each document and filters and sorts read
it (store/sqlfilter.py). Keys, numbers, booleans and case-exact strings stay as they are.
"""

from __future__ import annotations

from typing import Any

from scimlite.scim.filter import folds
from scimlite.scim.paths import attribute_of
from scimlite.scim.schema import Attribute, ResourceType
from scimlite.text import fold


def comparable(doc: dict[str, Any], resource: ResourceType) -> dict[str, Any]:
    """`doc` with the string values of case-insensitive attributes folded."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        extension = resource.extension(key)
        if extension is not None and isinstance(value, dict):
            out[key] = {
                name: _fold(inner, attribute_of(resource, key, name))
                for name, inner in value.items()
            }
        else:
            out[key] = _fold(value, attribute_of(resource, None, key))
    return out


def _fold(value: Any, attribute: Attribute | None) -> Any:
    if attribute is None:
        return value
    if isinstance(value, list):
        return [_fold(item, attribute) for item in value]
    if isinstance(value, dict):
        if attribute.type != "complex":
            return value
        return {name: _fold(inner, attribute.sub(name)) for name, inner in value.items()}
    if isinstance(value, str) and folds(attribute):
        return fold(value)
    return value
