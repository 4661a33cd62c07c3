"""What a write changed, as journal records a person can read (pure)."""

from __future__ import annotations

from typing import Any


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value


def diff_docs(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Per attribute path: `{"path", "op": add|replace|remove, "old", "new"}`.

    Complex attributes are flattened to dotted paths; multi-valued attributes are compared
    as whole lists, which is how an administrator reads them.
    """
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _flatten(old, "", before)
    _flatten(new, "", after)
    changes: list[dict[str, Any]] = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            changes.append({"path": path, "op": "remove", "old": before[path]})
        elif path not in before:
            changes.append({"path": path, "op": "add", "new": after[path]})
        elif before[path] != after[path]:
            changes.append({"path": path, "op": "replace", "old": before[path], "new": after[path]})
    return changes
