"""Journal rows as a person reads them: names next to ids, each history in its resource's terms.

A journal row records ids (members added, a manager, the resource written); a page shows
the userName or team name beside each, from one store read per page. In a resource's own
history, a write that reached it through a membership (a team's PATCH that added this
user) is told from this resource's side: `groups` added *Engineering*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from scimlite.scim.schema import ENTERPRISE_USER_SCHEMA
from scimlite.store import JournalEntry, Store
from scimlite.store.kinds import KINDS

SHOWN = 5  # names shown per membership change; the rest are counted
VISIBLE = 3  # change lines shown before the rest fold away
MANAGER = f"{ENTERPRISE_USER_SCHEMA}.manager.value"
_NAME_ATTR = {"User": "userName", "Group": "displayName"}
_REFS_ATTR = {"User": "groups", "Group": "members"}  # a resource's memberships attribute
_OTHER = {"User": "Group", "Group": "User"}
_DELETED = {"User": "user deleted", "Group": "team deleted"}
_SHOWN = {k.name: k.shown_by_other for k in KINDS}  # what the other side shows of each


@dataclass(frozen=True, slots=True)
class Named:
    """A resource a journal row mentions; `live` when it still exists (so it can be linked)."""

    resource_type: str | None
    id: str
    name: str | None
    live: bool


@dataclass(frozen=True, slots=True)
class Line:
    """One change: an attribute's old and new value, or the resources a membership gained
    or lost (`refs`, of which `more` are not shown)."""

    path: str
    op: str
    old: Any = None
    new: Any = None
    old_ref: Named | None = None
    new_ref: Named | None = None
    refs: tuple[Named, ...] = ()
    more: int = 0
    note: str | None = None
    key: bool = False  # a membership or the resource's name: shown first

    @property
    def label(self) -> str:
        """The path as a person reads it: enterprise attributes without their URN."""
        return self.path.removeprefix(f"{ENTERPRISE_USER_SCHEMA}.")


@dataclass(frozen=True, slots=True)
class Row:
    entry: JournalEntry
    resource: Named | None
    lines: list[Line] = field(default_factory=list)

    @property
    def shown(self) -> int:
        """Lines shown unfolded: a creation's name and memberships (the rest of a new
        resource is every attribute it has), else the first VISIBLE."""
        if self.entry.status == 201:
            return max(1, sum(1 for line in self.lines if line.key))
        return VISIBLE

    @property
    def visible(self) -> list[Line]:
        return self.lines[: self.shown]

    @property
    def folded(self) -> list[Line]:
        return self.lines[self.shown :]

    @property
    def no_change(self) -> bool:
        """A successful write that changed nothing (a PATCH setting what was already set)."""
        e = self.entry
        return e.status < 400 and not self.lines and not e.quirks and not e.detail


def _membership(change: dict[str, Any]) -> bool:
    return isinstance(change.get("values"), list)


def _mentioned(entries: Iterable[JournalEntry]) -> set[str]:
    """The ids a page of rows names: resources written, members shown, managers."""
    ids: set[str] = set()
    for e in entries:
        if e.resource_id and e.resource_type in _NAME_ATTR:
            ids.add(e.resource_id)
        for c in e.changes:
            if _membership(c):
                ids.update(str(v) for v in c["values"][:SHOWN])
            elif c.get("path") == MANAGER:
                ids.update(str(c[k]) for k in ("old", "new") if isinstance(c.get(k), str))
    return ids


def _names_in(entries: Iterable[JournalEntry]) -> dict[str, str]:
    """Names the rows themselves record (a deleted user's userName is in its DELETE row)."""
    names: dict[str, str] = {}
    for e in entries:
        attr = _NAME_ATTR.get(e.resource_type or "")
        for c in e.changes:
            if e.resource_id and c.get("path") == attr:
                value = c.get("new", c.get("old"))
                if isinstance(value, str):
                    names.setdefault(e.resource_id, value)
    return names


class Namer:
    """Names for the ids of one page: current ones from the store, else the journal's."""

    def __init__(self, live: dict[str, str], recorded: dict[str, str]) -> None:
        self._live = live
        self._recorded = recorded

    def __call__(self, resource_type: str | None, resource_id: str) -> Named:
        if resource_id in self._live:
            return Named(resource_type, resource_id, self._live[resource_id], True)
        return Named(resource_type, resource_id, self._recorded.get(resource_id), False)


def _lines(entry: JournalEntry, name: Namer) -> list[Line]:
    other = _OTHER.get(entry.resource_type or "")
    lines: list[Line] = []
    for c in entry.changes:
        path, op = str(c.get("path")), str(c.get("op"))
        if _membership(c):
            values = [str(v) for v in c["values"]]
            refs = tuple(name(other, v) for v in values[:SHOWN])
            lines.append(Line(path, op, refs=refs, more=len(values) - len(refs)))
        elif path == MANAGER:
            old, new = c.get("old"), c.get("new")
            lines.append(
                Line(
                    path,
                    op,
                    old_ref=name("User", old) if isinstance(old, str) else None,
                    new_ref=name("User", new) if isinstance(new, str) else None,
                )
            )
        else:
            lines.append(Line(path, op, c.get("old"), c.get("new")))
    # What a person looks for first: memberships and the name, then the rest.
    first = {_REFS_ATTR.get(entry.resource_type or ""), _NAME_ATTR.get(entry.resource_type or "")}
    keyed = [replace(line, key=line.path in first) for line in lines]
    return sorted(keyed, key=lambda line: (not line.key, not line.refs))


def _through(entry: JournalEntry, viewing: str, name: Namer) -> list[Line]:
    """The row of a write to another resource, told as the change it made to `viewing`."""
    written = entry.resource_type or ""
    attr = _REFS_ATTR.get(_OTHER.get(written, ""), "")
    source = name(written, entry.resource_id or "")
    note = _DELETED.get(written) if entry.method == "DELETE" else None
    lines = [
        Line(attr, str(c.get("op")), refs=(source,), note=note)
        for c in entry.changes
        if _membership(c) and viewing in c["values"]
    ]
    if not lines:  # a rename of a team this user is in (or of a member): its name here
        lines = [
            Line(attr, "replace", c.get("old"), c.get("new"))
            for c in entry.changes
            if c.get("path") in _SHOWN.get(written, ())
        ]
    return lines


async def describe(
    store: Store, entries: list[JournalEntry], viewing: str | None = None
) -> list[Row]:
    """Rows for a journal table; `viewing`: the resource whose history this is."""
    name = Namer(await store.resource_names(_mentioned(entries)), _names_in(entries))
    rows = []
    for e in entries:
        resource = None
        if e.resource_id and e.resource_type in _NAME_ATTR:
            resource = name(e.resource_type, e.resource_id)
        through = viewing is not None and e.resource_id != viewing
        lines = _through(e, viewing, name) if through and viewing else _lines(e, name)
        rows.append(Row(e, resource, lines))
    return rows
