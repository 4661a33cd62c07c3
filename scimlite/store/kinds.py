"""How users and teams are laid out in SQL: one `Kind` per table, shared by every query.

A Kind names the table, its alias, the derived index columns a document produces, and the
other side of the membership relation, so one `ResourceStore` serves both resource types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiosqlite
import orjson

from scimlite.scim.records import Ref, Resource
from scimlite.scim.schema import GROUP_RESOURCE, USER_RESOURCE, ResourceType
from scimlite.text import fold


@dataclass(frozen=True, slots=True)
class Kind:
    resource: ResourceType
    table: str
    alias: str
    columns: Callable[[dict[str, Any]], dict[str, Any]]
    # memberships column for this side and the other side, and the other side's table
    own_col: str
    other_col: str
    other_table: str
    other_label: str
    refs_sql: str  # correlated subquery: JSON array of [id, display] for alias row
    refs_attr: str  # the attribute showing the other side: User.groups, Group.members

    @property
    def name(self) -> str:
        return self.resource.id


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
    refs_attr="groups",
    refs_sql=(
        "(SELECT json_group_array(json_array(g.id, g.display_name)) FROM memberships m "
        "JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id)"
    ),
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
    refs_attr="members",
    refs_sql=(
        "(SELECT json_group_array(json_array(x.id, coalesce(x.display_name, x.user_name))) "
        "FROM memberships m JOIN users x ON x.id = m.user_id WHERE m.group_id = g.id)"
    ),
)


def row_to_resource(row: aiosqlite.Row, with_refs: bool) -> Resource:
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
