"""What a write changed, as journal records a person can read (pure)."""

from __future__ import annotations

from typing import Any

from scimlite.text import clip


def clipped(value: Any) -> Any:
    """`value` with every string cut to `errors.VALUE_CHARS`: the journal keeps what changed,
    not a second copy of a megabyte title."""
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, list):
        return [clipped(v) for v in value]
    if isinstance(value, dict):
        return {k: clipped(v) for k, v in value.items()}
    return value


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value


def diff_docs(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Per attribute path: `{"path", "op": add|replace|remove, "old", "new"}`.

    Complex attributes are flattened to dotted paths; multi-valued attributes are compared
    as whole lists, which is how an administrator reads them. Recorded values are clipped.
    """
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _flatten(old, "", before)
    _flatten(new, "", after)
    changes: list[dict[str, Any]] = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            changes.append({"path": path, "op": "remove", "old": clipped(before[path])})
        elif path not in before:
            changes.append({"path": path, "op": "add", "new": clipped(after[path])})
        elif before[path] != after[path]:
            old, new = clipped(before[path]), clipped(after[path])
            changes.append({"path": path, "op": "replace", "old": old, "new": new})
    return changes
