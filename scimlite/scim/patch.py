"""PATCH (RFC 7644 §3.5.2) applied to a stored resource document: pure, no I/O.

`parse_patch` validates the PatchOp message (in `patchop`, re-exported here); `apply_patch`
applies its operations, in order, to a copy of the stored document. The result is the new
document, the team-membership changes and the identity-provider quirks that were normalised
on the way (for the journal). Values are checked by `patch_values`.

Application is linear in the size of the document plus the request: duplicate checks hash
values, and a value filter `attr[sub eq "x"]` is answered from an index built once per
attribute, so 1,000 filtered operations on 1,000 values do not compare a million pairs.

Team membership is never part of the document: an operation on a Group's `members` becomes
a `MembershipChange` naming only the users it touches, so a PATCH costs O(changed members)
and never needs the roster. Any failing operation raises before anything is returned
(RFC 7644 §3.5.2: a patch request "SHALL be treated as atomic").
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from scimlite.scim.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    Mutability,
    NoTarget,
)
from scimlite.scim.evaluate import matches_item
from scimlite.scim.filter import (
    TEXT_TYPES,
    Filter,
    PatchPath,
    lookup,
    parse_path,
)
from scimlite.scim.models import prune
from scimlite.scim.patch_values import (
    coerce,
    coerce_one,
    coerce_simple,
    eq_literal,
    kind,
    member_ids,
    member_ids_from_filter,
    merge,
    seed_value,
    value_key,
)

# The message half of PATCH lives in patchop; callers use this module for both halves.
from scimlite.scim.patchop import MAX_OPERATIONS as MAX_OPERATIONS
from scimlite.scim.patchop import OpName, missing_value
from scimlite.scim.patchop import PatchOperation as PatchOperation
from scimlite.scim.patchop import parse_patch as parse_patch
from scimlite.scim.paths import attribute_of, dotted_extension, qualify_extension
from scimlite.scim.records import MembershipChange
from scimlite.scim.schema import Attribute, ResourceType
from scimlite.text import fold


@dataclass(frozen=True, slots=True)
class PatchResult:
    """The patched document (a new dict), membership changes in order, and quirk notes."""

    doc: dict[str, Any]
    membership: list[MembershipChange]
    quirks: list[str]


# --- applying operations ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """A resolved path: where in the document an operation lands."""

    urn: str | None  # None: core schema or common attribute; else the extension's doc key
    attr: Attribute | None  # None: the whole extension object
    value_filter: Filter | None
    sub: Attribute | None
    label: str  # canonical path, for messages


@dataclass(slots=True)
class _Index:
    """The values of one multi-valued attribute by the folded text of one sub-attribute.

    Buckets may hold stale entries (a value since changed or removed): every candidate is
    checked again against the filter, so the index only has to never miss a value.
    """

    items: list[Any]  # held so the list's id() stays unique while the index lives
    sub: str
    buckets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, item: Any) -> None:
        if isinstance(item, dict) and isinstance(item.get(self.sub), str):
            self.buckets.setdefault(fold(item[self.sub]), []).append(item)


@dataclass(slots=True)
class _Patcher:
    """Applies operations, in order, to one private copy of the document."""

    resource: ResourceType
    doc: dict[str, Any]
    resource_id: str | None
    membership: list[MembershipChange] = field(default_factory=list)
    quirks: list[str] = field(default_factory=list)
    where: str = ""
    has_value: bool = True  # whether the current operation had a "value"
    indexes: dict[tuple[int, str], _Index] = field(default_factory=dict)
    removed: set[int] = field(default_factory=set)  # ids of values removed from a list
    graveyard: list[Any] = field(default_factory=list)  # keeps those ids unique

    def note(self, text: str) -> None:
        """Record a quirk of the current operation (leniency.Note)."""
        self.quirks.append(f"{self.where}: {text}")

    def apply(self, op: PatchOperation) -> None:
        self.where = f"Operations[{op.index}]"
        self.has_value = op.has_value
        if op.path is None:
            self._apply_no_path(op.op, op.value)
        else:
            self._apply(op.op, self._resolve(op.path), op.value)

    # -- paths

    def _resolve(self, text: str) -> _Target:
        try:
            parsed = parse_path(text, self.resource)
        except InvalidPath as exc:
            qualified = qualify_extension(self.resource, text) or dotted_extension(
                self.resource, text
            )
            if qualified is None:
                raise InvalidPath(f'{self.where}: path "{text}": {exc.detail}') from None
            parsed = self._parse_qualified(qualified, text)
        return self._target(parsed, text)

    def _parse_qualified(self, qualified: str, text: str) -> PatchPath:
        try:
            parsed = parse_path(qualified, self.resource)
        except InvalidPath as exc:
            raise InvalidPath(f'{self.where}: path "{text}": {exc.detail}') from None
        self.quirks.append(f'{self.where}: path "{text}" read as "{qualified}"')
        return parsed

    def _target(self, parsed: PatchPath, text: str) -> _Target:
        path = parsed.path
        if not path.attr:  # the whole extension object
            urn = str(path.urn)
            return _Target(urn, None, None, None, urn)
        top, _ = lookup(path, self.resource)
        sub_name = path.sub_attr or parsed.sub_attr
        sub = top.sub(sub_name) if sub_name else None
        if parsed.value_filter is not None:
            label = text.strip()
        else:
            label = f"{path.urn}:{top.name}" if path.urn else top.name
            label += f".{sub.name}" if sub else ""
        return _Target(path.urn, top, parsed.value_filter, sub, label)

    # -- dispatch

    def _apply_no_path(self, op: OpName, value: Any) -> None:
        """RFC 7644 §3.5.2.1/§3.5.2.3: without a path, the value holds attributes to add or
        replace. Entra ID also sends dotted (`name.givenName`) and URN-qualified keys here."""
        if not isinstance(value, dict):
            raise InvalidValue(
                f'{self.where}: without a "path", "value" must be an object of attributes, '
                f"not {kind(value)}"
            )
        for key, item in value.items():
            if key.lower() == "id" and self.resource_id is not None and item == self.resource_id:
                # Okta repeats the group's own id in a rename; it changes nothing.
                self.quirks.append(f'{self.where}: ignored "id" equal to the resource\'s own id')
                continue
            ext = self.resource.extension(key)
            if ext is not None:
                self._apply(op, _Target(ext.id, None, None, None, ext.id), item)
                continue
            target = self._resolve(key)
            plain = target.urn is None and target.sub is None and target.value_filter is None
            if not plain or key != target.label:
                self.quirks.append(
                    f'{self.where}: key "{key}" of a no-path value read as path "{target.label}"'
                )
            self._apply(op, target, item)

    def _apply(self, op: OpName, t: _Target, value: Any) -> None:
        if t.attr is None:
            self._apply_extension(op, t, value)
            return
        if t.urn is None and t.attr.name == self.resource.membership_attr:
            self._apply_members(op, t, value)  # Group.members, User.groups
            return
        if not self.has_value and op != "remove":
            raise missing_value(self.where, op)
        self._check_writable(t.attr, t)
        if t.attr.mutability == "writeOnly":
            self.quirks.append(
                f'{self.where}: "{t.label}" accepted and discarded (scimlite stores no passwords)'
            )
            return
        container = self._container(t.urn)
        if t.value_filter is not None:
            if not t.attr.multi_valued:
                raise InvalidPath(
                    f'{self.where}: "{t.label}": only multi-valued attributes take a filter'
                )
            self._apply_filtered(op, t, t.attr, container, value)
        elif t.sub is not None:
            self._apply_sub(op, t, t.attr, container, value)
        else:
            self._apply_attr(op, t, t.attr, container, value)

    def _check_writable(self, attr: Attribute, t: _Target) -> None:
        # RFC 7644 §3.5.2: a client MUST NOT modify readOnly or immutable attributes. (It
        # may add an unassigned immutable one, but the schema's only immutable attributes
        # are sub-attributes of members, which never reach here.)
        for a in (attr, t.sub):
            if a is not None and a.mutability in ("readOnly", "immutable"):
                raise Mutability(f'{self.where}: "{t.label}" is {a.mutability}')

    def _container(self, urn: str | None) -> dict[str, Any]:
        """The object holding the attribute: the document, or an extension's object in it."""
        if urn is None:
            return self.doc
        if not isinstance(self.doc.get(urn), dict):
            self.doc[urn] = {}  # pruned again if it stays empty
        return cast(dict[str, Any], self.doc[urn])

    # -- one attribute

    def _apply_extension(self, op: OpName, t: _Target, value: Any) -> None:
        """A whole extension object behaves as a complex attribute (RFC 7644 §3.5.2)."""
        urn = str(t.urn)
        if op == "remove":
            self.doc.pop(urn, None)
            return
        if not isinstance(value, dict):
            raise InvalidValue(f'{self.where}: "{urn}" takes an object, not {kind(value)}')
        for key, item in value.items():
            if key.lower() == "schemas":
                # A client echoing the resource's "schemas" inside the extension object;
                # POST and PUT ignore it too (it is not an attribute of the extension).
                self.quirks.append(f'{self.where}: ignored "schemas" inside "{urn}"')
                continue
            attr = attribute_of(self.resource, urn, key)
            if attr is None:
                raise InvalidPath(f'{self.where}: "{urn}" has no attribute "{key}"')
            self._apply(op, _Target(urn, attr, None, None, f"{urn}:{attr.name}"), item)

    def _unassign(self, t: _Target, attr: Attribute, container: dict[str, Any]) -> None:
        if attr.required:  # RFC 7644 §3.12 invalidValue: a required value is missing
            raise InvalidValue(f'{self.where}: "{t.label}" is required and cannot be removed')
        container.pop(attr.name, None)

    def _apply_attr(
        self, op: OpName, t: _Target, attr: Attribute, container: dict[str, Any], value: Any
    ) -> None:
        """`attr` with neither filter nor sub-attribute (RFC 7644 §3.5.2.1–3)."""
        if op == "remove" and value is not None:
            raise InvalidSyntax(
                f'{self.where}: "remove" of "{t.label}" takes no "value"; select values '
                f'with a filter, e.g. {attr.name}[value eq "..."]'
            )
        if value is None:  # remove, or RFC 7643 §2.5: null means unassigned
            self._unassign(t, attr, container)
            return
        new = coerce(self, attr, value, t.label)
        current = container.get(attr.name)
        if attr.multi_valued:
            # add appends to the values; replace without a filter replaces them all.
            items = list(current) if op == "add" and isinstance(current, list) else []
            container[attr.name] = items
            self._append(t, items, new)
        elif attr.type == "complex":
            if (
                "value" in new
                and isinstance(current, dict)
                and new["value"] != current.get("value")
            ):
                current = None  # a reference (manager) now pointing elsewhere: no stale $ref
            container[attr.name] = merge(current, new)
        else:
            container[attr.name] = new

    def _append(self, t: _Target, items: list[Any], new: list[Any]) -> None:
        """Append values, skipping exact duplicates (RFC 7644 §3.5.2.1); hashed, not pairwise."""
        seen: dict[bytes, Any] = {}
        for item in items:
            seen.setdefault(value_key(item), item)
        touched = []
        for value in new:
            existing = seen.setdefault(value_key(value), value)
            if existing is value:
                items.append(value)
                self._indexed(items, value)
            touched.append(existing)
        self._settle_primary(t, items, touched)

    def _settle_primary(self, t: _Target, items: list[Any], touched: list[Any]) -> None:
        """RFC 7643 §2.4: "primary" is true at most once; a newly set primary clears others."""
        chosen = [i for i in touched if isinstance(i, dict) and i.get("primary") is True]
        if len(chosen) > 1:
            raise InvalidValue(f'{self.where}: at most one "{t.label}" value may be primary')
        if not chosen:
            return  # nothing newly primary: no need to visit every value
        for item in items:
            if item is not chosen[0] and isinstance(item, dict) and item.get("primary"):
                item["primary"] = False

    def _apply_sub(
        self, op: OpName, t: _Target, attr: Attribute, container: dict[str, Any], value: Any
    ) -> None:
        """A sub-attribute of a single-valued complex attribute, e.g. `name.givenName`."""
        sub = cast(Attribute, t.sub)
        if attr.multi_valued:
            raise InvalidPath(
                f'{self.where}: "{t.label}" would touch every "{attr.name}" value; select '
                f'values with a filter, e.g. {attr.name}[type eq "work"].{sub.name}'
            )
        if op == "remove" and value is not None:
            raise InvalidSyntax(f'{self.where}: "remove" of "{t.label}" takes no "value"')
        new = None if op == "remove" else coerce_simple(self, sub, value, t.label)
        container[attr.name] = merge(container.get(attr.name), {sub.name: new})

    def _apply_filtered(
        self, op: OpName, t: _Target, attr: Attribute, container: dict[str, Any], value: Any
    ) -> None:
        """`attr[filter]` or `attr[filter].sub` on a multi-valued attribute."""
        f = cast(Filter, t.value_filter)
        current = container.get(attr.name)
        items: list[Any] = current if isinstance(current, list) else []
        container[attr.name] = items  # the document is this patcher's own copy
        matched = self._matching(items, f, attr)
        if op == "remove":
            if value is not None:
                raise InvalidSyntax(f'{self.where}: "remove" of "{t.label}" takes no "value"')
            if not matched:
                # RFC 7644 §3.5.2.2: a filter that matches nothing is noTarget.
                raise NoTarget(f'{self.where}: no "{attr.name}" value matches "{t.label}"')
            if t.sub is None:
                gone = {id(m) for m in matched}
                items[:] = [i for i in items if id(i) not in gone]
                self.removed |= gone
                self.graveyard.extend(matched)
            else:
                for m in matched:
                    m.pop(t.sub.name, None)
        elif t.sub is None:
            self._replace_matched(op, t, attr, items, matched, value)
        else:
            self._set_in_matched(op, t, items, matched, value)

    def _replace_matched(
        self,
        op: OpName,
        t: _Target,
        attr: Attribute,
        items: list[Any],
        matched: list[dict[str, Any]],
        value: Any,
    ) -> None:
        """RFC 7644 §3.5.2.3: matching values are replaced; add merges into them instead."""
        if not matched:
            raise NoTarget(f'{self.where}: no "{attr.name}" value matches "{t.label}"')
        if not isinstance(value, dict):
            raise InvalidValue(f'{self.where}: "{t.label}" takes an object, not {kind(value)}')
        new = coerce_one(self, attr, value, t.label)
        for m in matched:
            merged = merge({} if op == "replace" else m, new)
            m.clear()
            m.update(merged)
            self._indexed(items, m)
        self._settle_primary(t, items, matched)

    def _set_in_matched(
        self,
        op: OpName,
        t: _Target,
        items: list[Any],
        matched: list[dict[str, Any]],
        value: Any,
    ) -> None:
        """Set `sub` in every matching value; when none matches, create one from the filter.

        Entra ID sends `Replace` (and `Add`) of `emails[type eq "work"].value` to users that
        have no work email yet and expects it to be created, as Microsoft's SCIM reference
        code does. RFC 7644 §3.5.2.3 would answer noTarget to the replace.
        """
        sub = cast(Attribute, t.sub)
        new = coerce_simple(self, sub, value, t.label)
        if not matched and new is None:
            return  # unassigning a sub-attribute of no value changes nothing
        if not matched:
            seed = seed_value(cast(Filter, t.value_filter))
            if seed is None:
                raise NoTarget(
                    f'{self.where}: no value matches "{t.label}", and the filter does not '
                    'describe one to create (use "eq" comparisons joined by "and")'
                )
            matched = [seed]
            items.append(seed)
            self._indexed(items, seed)
            if op == "replace":
                self.quirks.append(
                    f'{self.where}: "{t.label}" matched no value; created one as Entra ID '
                    f"expects: {json.dumps({**seed, sub.name: new})}"
                )
        for m in matched:
            merged = merge(m, {sub.name: new})
            m.clear()
            m.update(merged)
            self._indexed(items, m)
        self._settle_primary(t, items, matched)

    # -- value filters over an index

    def _matching(self, items: list[Any], f: Filter, attr: Attribute) -> list[dict[str, Any]]:
        """The values of `items` that `f` selects, in document order.

        A filter requiring `sub eq "text"` reads one bucket of an index built once per list;
        other filters (and non-text sub-attributes) scan the values.
        """
        wanted = eq_literal(f)
        sub = attr.sub(wanted[0]) if wanted else None
        if wanted is None or sub is None or sub.type not in TEXT_TYPES:
            return [i for i in items if isinstance(i, dict) and matches_item(f, i, attr)]
        index = self.indexes.get((id(items), sub.name))
        if index is None:
            index = self.indexes[(id(items), sub.name)] = _Index(items, sub.name)
            for item in items:
                index.add(item)
        found: dict[int, dict[str, Any]] = {}
        for item in index.buckets.get(fold(wanted[1]), []):
            if id(item) not in self.removed and matches_item(f, item, attr):
                found.setdefault(id(item), item)
        if len(found) <= 1:
            return list(found.values())
        order = {id(item): n for n, item in enumerate(items)}
        return sorted(found.values(), key=lambda item: order[id(item)])

    def _indexed(self, items: list[Any], item: Any) -> None:
        """A value was added to `items` or changed: file it in that list's indexes."""
        for (list_id, _), index in self.indexes.items():
            if list_id == id(items):
                index.add(item)

    # -- memberships: Group.members, User.groups

    def _apply_members(self, op: OpName, t: _Target, value: Any) -> None:
        """Memberships are not in the document: record the change by id only.

        The same rules serve a team's `members` and a user's `groups` (scimlite's extension,
        which LiteLLM's tests use to change a user's teams from the user's side).
        """
        attr = cast(Attribute, t.attr)
        name = attr.name
        if t.sub is not None:
            raise InvalidPath(
                f'{self.where}: "{t.label}" cannot be changed; add or remove whole {name}'
            )
        if t.value_filter is not None:
            self._apply_members_filtered(op, t, attr, value)
        elif op == "remove" and value is not None:
            self.quirks.append(
                f'{self.where}: "remove" of "{name}" with a value list read as removing '
                f"those {name}"
            )
            self._record("remove", member_ids(self, value, attr))
        elif op == "remove":
            self._record("replace", ())  # RFC 7644 §3.5.2.2: all values are removed
        else:
            self._record(op, member_ids(self, value, attr))

    def _apply_members_filtered(self, op: OpName, t: _Target, attr: Attribute, value: Any) -> None:
        """`members[value eq "u"]`, `groups[value eq "t"]`: the filter names ids."""
        selected = member_ids_from_filter(self, cast(Filter, t.value_filter), attr.name)
        if op == "remove":
            self._record("remove", selected)
            return
        given = member_ids(self, value, attr)
        if op == "add":
            # The filter and the value both name what must be present: add them all.
            if not self.has_value:
                self.quirks.append(
                    f'{self.where}: "add" of "{t.label}" without a value read as adding '
                    "the ids its filter names"
                )
            self._record("add", tuple(dict.fromkeys((*selected, *given))))
            return
        # RFC 7644 §3.5.2.3: the values the filter selects are replaced by the value.
        self._record("remove", tuple(i for i in selected if i not in given))
        self._record("add", given)

    def _record(self, kind: Literal["add", "remove", "replace"], ids: tuple[str, ...]) -> None:
        if ids or kind == "replace":
            self.membership.append(MembershipChange(kind, ids))


def apply_patch(
    resource: ResourceType,
    doc: dict[str, Any],
    ops: Sequence[PatchOperation],
    *,
    resource_id: str | None = None,
) -> PatchResult:
    """Apply `ops` in order to a copy of `doc`; raise on the first failure.

    `doc` is the stored document (no id, meta, schemas, groups or members) and is never
    modified. `resource_id` lets a no-path value repeat the resource's own id (Okta).
    """
    patcher = _Patcher(resource, copy.deepcopy(doc), resource_id)
    for op in ops:
        patcher.apply(op)
    return PatchResult(prune(patcher.doc), patcher.membership, patcher.quirks)
