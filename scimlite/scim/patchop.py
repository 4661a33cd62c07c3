"""The PatchOp message (RFC 7644 §3.5.2) validated into operations: pure, no I/O.

`scimlite.scim.patch` applies the operations; this module only reads the message, lenient
where clients deviate (Entra ID's capitalised `op`, members the message does not define;
noted as quirks) and strict elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from scimlite.scim import leniency
from scimlite.scim.errors import InvalidSyntax, NoTarget
from scimlite.scim.schema import PATCH_OP_SCHEMA
from scimlite.text import clip

OpName = Literal["add", "remove", "replace"]

# A bound on the work one request can ask for.
MAX_OPERATIONS = 1000

_OPS: tuple[OpName, ...] = ("add", "remove", "replace")


@dataclass(frozen=True, slots=True)
class PatchOperation:
    """One validated operation. `path` stays text: it is resolved against the resource type
    when applied, because attribute names depend on the schema."""

    index: int
    op: OpName
    path: str | None
    value: Any  # the JSON value; None for JSON null or when absent
    has_value: bool = True  # False: the operation had no "value" member


def _fields(
    obj: dict[str, Any], names: tuple[str, ...], where: str, quirks: list[str]
) -> dict[str, Any]:
    """Read a message object's members by name, case-insensitively (RFC 7643 §2.1).

    A member the message does not define is ignored and noted: Microsoft's SCIMReferenceCode
    collections send `"name": "addMember"` beside `op`, and an `"id"` beside `Operations`.
    Neither changes what the operation means, so refusing them would only fail the client.
    """
    known = {n.lower(): n for n in names}
    out: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in obj.items():
        name = known.get(key.lower())
        if name is None:
            ignored.append(f'"{key}"')
            continue
        if name in out:
            raise InvalidSyntax(f'{where}: "{name}" appears more than once')
        out[name] = value
    if ignored:
        members = "members" if len(ignored) > 1 else "member"
        quirks.append(clip(f"{where}: ignored unknown {members} {', '.join(ignored)}"))
    return out


def missing_value(where: str, op: str) -> InvalidSyntax:
    """RFC 7644 §3.5.2.1/§3.5.2.3: add and replace MUST contain a value."""
    return InvalidSyntax(f'{where}: "{op}" needs a "value"')


def parse_patch(body: object) -> tuple[list[PatchOperation], list[str]]:
    """Validate a PatchOp request body into operations plus notes on what was normalised.

    Lenient where Entra ID deviates (capitalised `op`), strict elsewhere: the PatchOp URN,
    a non-empty `Operations` array and a known `op` are required.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax("the PATCH body must be a JSON object")
    quirks: list[str] = []
    fields = _fields(body, ("schemas", "Operations"), "PATCH body", quirks)
    schemas = fields.get("schemas")
    # RFC 7644 §3.5.2: the body MUST carry the PatchOp schema URI.
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise InvalidSyntax(f'"schemas" must be an array containing "{PATCH_OP_SCHEMA}"')
    if PATCH_OP_SCHEMA.lower() not in {s.lower() for s in schemas}:
        raise InvalidSyntax(f'"schemas" must contain "{PATCH_OP_SCHEMA}"')
    quirks.extend(
        f'ignored "{s}" in "schemas" of a PATCH body'
        for s in schemas
        if s.lower() != PATCH_OP_SCHEMA.lower()
    )
    raw_ops = fields.get("Operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax('"Operations" must be a non-empty array')
    if len(raw_ops) > MAX_OPERATIONS:
        raise InvalidSyntax(
            f'"Operations" has {len(raw_ops)} operations; at most {MAX_OPERATIONS} are accepted'
        )
    ops = [_parse_operation(i, raw, quirks) for i, raw in enumerate(raw_ops)]
    return ops, quirks


def _parse_operation(index: int, raw: object, quirks: list[str]) -> PatchOperation:
    where = f"Operations[{index}]"
    if not isinstance(raw, dict):
        raise InvalidSyntax(f"{where} must be an object")
    fields = _fields(raw, ("op", "path", "value"), where, quirks)
    op_text = fields.get("op")
    noted: list[str] = []
    op = leniency.op_name(op_text, noted.append)
    if op not in _OPS:
        raise InvalidSyntax(f'{where}: "op" must be "add", "remove" or "replace", not {op_text!r}')
    quirks.extend(f"{where}: {text}" for text in noted)
    path = fields.get("path")
    if path is not None and not isinstance(path, str):
        raise InvalidSyntax(f'{where}: "path" must be a string')
    if op == "remove" and path is None:
        # RFC 7644 §3.5.2.2: remove without a path fails with noTarget.
        raise NoTarget(f'{where}: "remove" needs a "path" naming what to remove')
    has_value = "value" in fields
    if op != "remove" and not has_value and not (op == "add" and path and "[" in path):
        # RFC 7644 §3.5.2.1/§3.5.2.3: add and replace MUST contain a value. An add whose
        # path filters values may leave it out when the filter names the value (LiteLLM's
        # `groups[value eq "t"]`); the patcher allows that only where it is unambiguous.
        raise missing_value(where, op)
    return PatchOperation(
        index=index, op=op, path=path, value=fields.get("value"), has_value=has_value
    )
