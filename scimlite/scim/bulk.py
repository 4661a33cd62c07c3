"""Bulk (RFC 7644 §3.7), the pure parts: parse a BulkRequest, order its operations so every
`bulkId:` reference is created before it is used, substitute created ids, assemble the
BulkResponse. The handler (`api/handlers/bulk.py`) runs the operations against the store.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from scimlite.scim.errors import InvalidSyntax, PayloadTooLarge, ScimError
from scimlite.scim.schema import BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA

Method = Literal["POST", "PUT", "PATCH", "DELETE"]

# Advertised as bulk.maxOperations (RFC 7643 §5); one initial sync of a large directory
# fits in a few requests of this size.
MAX_OPERATIONS = 1000

_METHODS: tuple[Method, ...] = ("POST", "PUT", "PATCH", "DELETE")
# RFC 7644 §3.7.2: a reference is the string "bulkId:" followed by the operation's bulkId.
_REFERENCE = re.compile(r"bulkId:([^\s\"'\]/]+)")
_PATH_KEYS = frozenset({"path"})  # PATCH operation paths may embed a reference in a filter


@dataclass(frozen=True, slots=True)
class BulkOperation:
    """One operation as requested; `refs` are the bulkIds its path or data refer to."""

    index: int
    method: Method
    path: str
    bulk_id: str | None
    version: str | None
    data: Any
    refs: frozenset[str]


@dataclass(frozen=True, slots=True)
class BulkRequest:
    operations: list[BulkOperation]
    fail_on_errors: int | None  # stop once this many operations have failed


@dataclass(slots=True)
class OperationResult:
    """RFC 7644 §3.7.3: the outcome of one operation, as the BulkResponse reports it."""

    operation: BulkOperation
    status: int
    location: str | None = None
    version: str | None = None
    error: ScimError | None = None

    def wire(self) -> dict[str, Any]:
        op = self.operation
        out: dict[str, Any] = {"method": op.method}
        if op.bulk_id is not None:
            out["bulkId"] = op.bulk_id
        if self.version is not None:
            out["version"] = self.version
        if self.location is not None:
            out["location"] = self.location
        out["status"] = str(self.status)  # RFC 7644 §3.7.3: status is a string
        if self.error is not None:
            out["response"] = self.error.body()
        return out


@dataclass(slots=True)
class Plan:
    """Operations in a runnable order, and those caught in a circular reference."""

    ordered: list[BulkOperation] = field(default_factory=list)
    circular: list[BulkOperation] = field(default_factory=list)


def _field(obj: dict[str, Any], name: str) -> Any:
    """Message members are matched case-insensitively (RFC 7643 §2.1)."""
    lowered = name.lower()
    return next((v for k, v in obj.items() if k.lower() == lowered), None)


def references(value: Any, *, in_path: bool = False) -> set[str]:
    """The bulkIds a value refers to: whole-string values, or anywhere inside a path."""
    if isinstance(value, str):
        if in_path:
            return set(_REFERENCE.findall(value))
        match = _REFERENCE.fullmatch(value)
        return {match.group(1)} if match else set()
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= references(item, in_path=key.lower() in _PATH_KEYS)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def substitute(value: Any, ids: Mapping[str, str], *, in_path: bool = False) -> Any:
    """`value` with every resolvable `bulkId:x` replaced by the id created for `x`."""

    def swap(match: re.Match[str]) -> str:
        return ids.get(match.group(1), match.group(0))

    if isinstance(value, str):
        if in_path:
            return _REFERENCE.sub(swap, value)
        return _REFERENCE.sub(swap, value) if _REFERENCE.fullmatch(value) else value
    if isinstance(value, dict):
        return {k: substitute(v, ids, in_path=k.lower() in _PATH_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    return value


def _parse_operation(index: int, raw: Any) -> BulkOperation:
    where = f"Operations[{index}]"
    if not isinstance(raw, dict):
        raise InvalidSyntax(f"{where} must be an object")
    method = _field(raw, "method")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise InvalidSyntax(f"{where}.method must be one of {', '.join(_METHODS)}, got {method!r}")
    method_name: Method = _METHODS[_METHODS.index(method.upper())]
    path = _field(raw, "path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidSyntax(f'{where}.path must be a path such as "/Users" or "/Groups/{{id}}"')
    bulk_id = _field(raw, "bulkId")
    if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
        raise InvalidSyntax(f"{where}.bulkId must be a non-empty string")
    # RFC 7644 §3.7: bulkId is REQUIRED for POST, so the new resource can be referred to.
    if method_name == "POST" and bulk_id is None:
        raise InvalidSyntax(f"{where}: a POST operation needs a bulkId")
    version = _field(raw, "version")
    if version is not None and not isinstance(version, str):
        raise InvalidSyntax(f"{where}.version must be an ETag string")
    data = _field(raw, "data")
    if method_name != "DELETE" and not isinstance(data, dict):
        raise InvalidSyntax(f"{where}: a {method_name} operation needs a data object")
    refs = references(path, in_path=True) | references(data)
    return BulkOperation(index, method_name, path, bulk_id, version, data, frozenset(refs))


def parse_bulk(body: Any, max_operations: int = MAX_OPERATIONS) -> BulkRequest:
    """Validate a BulkRequest (RFC 7644 §3.7); too many operations is 413 (§3.7.4)."""
    if not isinstance(body, dict):
        raise InvalidSyntax("a BulkRequest must be a JSON object")
    schemas = _field(body, "schemas")
    if not isinstance(schemas, list) or BULK_REQUEST_SCHEMA.lower() not in {
        s.lower() for s in schemas if isinstance(s, str)
    }:
        raise InvalidSyntax(f'"schemas" must contain "{BULK_REQUEST_SCHEMA}"')
    raw_ops = _field(body, "Operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax('"Operations" must be a non-empty array')
    if len(raw_ops) > max_operations:
        raise PayloadTooLarge(
            f"the BulkRequest has {len(raw_ops)} operations; the limit (bulk.maxOperations) "
            f"is {max_operations}: split it into several requests"
        )
    fail_on_errors = _field(body, "failOnErrors")
    positive = type(fail_on_errors) is int and fail_on_errors >= 1
    if fail_on_errors is not None and not positive:
        raise InvalidSyntax('"failOnErrors" must be a positive integer')
    operations = [_parse_operation(i, raw) for i, raw in enumerate(raw_ops)]
    seen: set[str] = set()
    for op in operations:
        if op.bulk_id is not None:
            if op.bulk_id in seen:
                raise InvalidSyntax(f'bulkId "{op.bulk_id}" is used by more than one operation')
            seen.add(op.bulk_id)
    return BulkRequest(operations, fail_on_errors)


def plan(operations: list[BulkOperation]) -> Plan:
    """Order operations so each runs after the operations whose bulkIds it refers to.

    RFC 7644 §3.7.2: references may point forward in the request. This is a topological sort
    that otherwise keeps request order; references to bulkIds no operation declares do not
    hold anything back (they fail when run). What cannot be ordered is circular (§3.7.1).
    """
    declared = {op.bulk_id: op for op in operations if op.bulk_id is not None}
    waiting: dict[int, set[str]] = {
        op.index: {r for r in op.refs if r in declared} for op in operations
    }
    dependents: dict[str, list[BulkOperation]] = {}
    for op in operations:
        for ref in waiting[op.index]:
            dependents.setdefault(ref, []).append(op)
    by_index = {op.index: op for op in operations}
    ready = [op.index for op in operations if not waiting[op.index]]
    heapq.heapify(ready)
    result = Plan()
    while ready:
        op = by_index[heapq.heappop(ready)]
        result.ordered.append(op)
        if op.bulk_id is None:
            continue
        for dependent in dependents.get(op.bulk_id, []):
            pending = waiting[dependent.index]
            pending.discard(op.bulk_id)
            if not pending:
                heapq.heappush(ready, dependent.index)
    done = {op.index for op in result.ordered}
    result.circular = [op for op in operations if op.index not in done]
    return result


def bulk_response(results: list[OperationResult]) -> dict[str, Any]:
    """RFC 7644 §3.7.3: results in request order (operations not run are left out)."""
    ordered = sorted(results, key=lambda r: r.operation.index)
    return {"schemas": [BULK_RESPONSE_SCHEMA], "Operations": [r.wire() for r in ordered]}
