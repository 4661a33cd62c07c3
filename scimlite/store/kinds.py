"""How users and teams are laid out in SQL: one `Kind` per resource type, shared by every query.

A Kind names the table, its alias, the derived index columns a document produces, the columns
filters and sorts read, its side tables, the other side of the membership relation and the
write rules in which users and teams differ, so one `ResourceStore` and one filter compiler
serve both resource types without asking which one they serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import orjson

from scimlite.scim.records import Ref, Resource
from scimlite.scim.schema import GROUP_RESOURCE, USER_RESOURCE, ResourceType
from scimlite.store.database import Dialect
from scimlite.text import fold


@dataclass(frozen=True, slots=True)
class Column:
    """Where a filtered or sorted value lives in SQL; `folded`: it already holds
    fold(value); `indexed`: a bare indexed column, so `sw` can be a range scan; `in_text`:
    its values are in a trigram index (SQLite's users_text, PostgreSQL's pg_trgm), so
    substring tests can be narrowed by it."""

    expr: str
    folded: bool = False
    indexed: bool = False
    in_text: bool = False
    numeric: bool = False  # a JSON number (PostgreSQL compares it as numeric, not text)


@dataclass(frozen=True, slots=True)
class Unique:
    """An attribute the database keeps unique through the fold of its value."""

    attr: str  # the SCIM attribute, for the conflict's detail
    column: str  # the column holding the value as given
    folded: str  # the UNIQUE column holding fold(value)


@dataclass(frozen=True, slots=True, eq=False)
class Kind:
    """Everything the store knows about one resource type's tables, and its write rules.

    Callers ask the Kind instead of branching on the resource type: `unique`, `emails` and
    `refs_bounded` are the rules in which users and teams differ.
    """

    resource: ResourceType
    table: str
    alias: str
    columns: Callable[[dict[str, Any]], dict[str, Any]]  # the derived columns of a document
    # memberships column for this side and the other side, and the other side's table
    own_col: str
    other_col: str
    other_table: str
    other_label: str
    # The other side's [id, display] pairs of the alias row: the columns, and the correlated
    # FROM … WHERE that yields one row each (refs_sql() aggregates them for a dialect).
    refs_pair: tuple[str, str]
    refs_from: str
    # What filters and sorts read from columns instead of the document (sqlfilter.py):
    # (attribute, sub-attribute) → column; and the membership attribute's ids.
    filter_columns: dict[tuple[str, str | None], Column]
    membership_opening: str  # SQL opening a subquery over memberships, closed by its caller
    membership_value: Column
    unique: Unique | None = None  # a uniqueness the database enforces (a 409 names the holder)
    # The user_emails side table: rewritten with the emails, read by emails filters and sorts.
    emails: bool = False
    # A row's memberships are few (a user's teams), so reading them is a bounded read that may
    # run inline; the other side's (a team's roster, up to 50,000) is read from the pool and
    # budgeted in list pages.
    refs_bounded: bool = False
    # The attributes the other side shows of this one (`groups[].display` is a team's
    # displayName, `members[].display` a user's displayName or userName): a change to them
    # changes the other side's representation too, so it joins their histories.
    shown_by_other: tuple[str, ...] = ()

    def refs_sql(self, dialect: Dialect) -> str:
        """A correlated subquery: the JSON array of [id, display] pairs of the alias row."""
        return f"(SELECT {dialect.pairs(*self.refs_pair)} {self.refs_from})"

    @property
    def name(self) -> str:
        return self.resource.id

    @property
    def refs_attr(self) -> str:
        """The attribute showing the other side: User.groups, Group.members."""
        return self.resource.membership_attr


def _primary_email(doc: dict[str, Any]) -> str | None:
    emails = doc.get("emails") or []
    for email in emails:
        if email.get("primary") and email.get("value"):
            return str(email["value"])
    for email in emails:
        if email.get("value"):
            return str(email["value"])
    return None


def _user_columns(doc: dict[str, Any]) -> dict[str, Any]:
    display = doc.get("displayName")
    return {
        "user_name": doc["userName"],
        "user_name_ci": fold(doc["userName"]),
        "external_id": doc.get("externalId"),
        "display_name": display,
        "display_name_ci": fold(display) if display is not None else None,
        "active": 0 if doc.get("active") is False else 1,
        "email": _primary_email(doc),
    }


def _group_columns(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "display_name": doc["displayName"],
        "display_name_ci": fold(doc["displayName"]),
        "external_id": doc.get("externalId"),
    }


USERS = Kind(
    USER_RESOURCE,
    "users",
    "u",
    _user_columns,
    own_col="user_id",
    other_col="group_id",
    other_table="groups",
    other_label="team",
    refs_pair=("g.id", "g.display_name"),
    refs_from="FROM memberships m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id",
    filter_columns={
        ("id", None): Column("u.id", indexed=True),
        ("userName", None): Column("u.user_name_ci", folded=True, indexed=True, in_text=True),
        ("externalId", None): Column("u.external_id", indexed=True),
        ("displayName", None): Column("u.display_name_ci", folded=True, indexed=True, in_text=True),
        ("meta", "created"): Column("u.created", indexed=True),
        ("meta", "lastModified"): Column("u.last_modified", indexed=True),
    },
    membership_opening="u.id IN (SELECT m.user_id FROM memberships m WHERE ",
    membership_value=Column("m.group_id", folded=True, indexed=True),
    unique=Unique("userName", "user_name", "user_name_ci"),
    emails=True,
    refs_bounded=True,
    shown_by_other=("displayName", "userName"),
)
GROUPS = Kind(
    GROUP_RESOURCE,
    "groups",
    "g",
    _group_columns,
    own_col="group_id",
    other_col="user_id",
    other_table="users",
    other_label="user",
    refs_pair=("x.id", "coalesce(x.display_name, x.user_name)"),
    refs_from="FROM memberships m JOIN users x ON x.id = m.user_id WHERE m.group_id = g.id",
    filter_columns={
        ("id", None): Column("g.id", indexed=True),
        ("displayName", None): Column("g.display_name_ci", folded=True, indexed=True),
        ("externalId", None): Column("g.external_id", indexed=True),
        ("meta", "created"): Column("g.created", indexed=True),
        ("meta", "lastModified"): Column("g.last_modified", indexed=True),
    },
    membership_opening="g.id IN (SELECT m.group_id FROM memberships m WHERE ",
    membership_value=Column("m.user_id", folded=True, indexed=True),
    shown_by_other=("displayName",),
)
KINDS: tuple[Kind, ...] = (USERS, GROUPS)
_BY_RESOURCE = {k.resource.id: k for k in KINDS}


def kind_of(resource: ResourceType) -> Kind:
    """The Kind of a resource type: one descriptor per type, keyed by the scim ResourceType."""
    try:
        return _BY_RESOURCE[resource.id]
    except KeyError:
        raise ValueError(f"no table for resource type {resource.id}") from None


def row_to_resource(row: Any, with_refs: bool) -> Resource:
    refs = None
    if with_refs:
        refs = [Ref(i, d) for i, d in orjson.loads(row["refs"] or "[]")]
    return Resource(
        id=row["id"],
        version=row["version"],
        created=row["created"],
        last_modified=row["last_modified"],
        doc=orjson.loads(row["doc"]),
        refs=refs,
    )


class Rows(Sequence[Resource]):
    """A page's rows, each made a Resource only when it is read, and not kept.

    A stored row is compact JSON text; parsed, and then rendered, it is several times larger
    (a team's roster most of all). A page rendered while it is sent (api/http.py
    respond_chunks) so holds its stored rows and one parsed resource at a time.
    """

    __slots__ = ("_rows", "_with_refs")

    def __init__(self, rows: Sequence[Any], with_refs: bool) -> None:
        self._rows = rows
        self._with_refs = with_refs

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Resource: ...
    @overload
    def __getitem__(self, index: slice) -> Rows: ...
    def __getitem__(self, index: int | slice) -> Resource | Rows:
        if isinstance(index, slice):
            return Rows(self._rows[index], self._with_refs)
        return row_to_resource(self._rows[index], self._with_refs)

    def __iter__(self) -> Iterator[Resource]:
        return (row_to_resource(row, self._with_refs) for row in self._rows)
