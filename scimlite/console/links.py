"""The only way the console builds a link to a resource, or to the journal, from data.

Ids and names in links come from the directory, and some of it is client text (an
enterprise `manager.value` is whatever a SCIM client sent). A link is therefore built from
one id quoted as a single path segment, and never from a segment a browser would resolve
(`.`, `..`, `%2e%2e`): `/users/../signin?next=…` must not be a link the console shows.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlencode

RESOURCE_PAGES = {"User": "/users/", "Group": "/teams/"}


def resource_href(resource_type: str | None, resource_id: str | None) -> str | None:
    """`/users/<id>` or `/teams/<id>`, or None when no page can show that id."""
    prefix = RESOURCE_PAGES.get(resource_type or "")
    if prefix is None or not resource_id or unquote(resource_id) in (".", ".."):
        return None
    return prefix + quote(resource_id, safe="")


def journal_href(**criteria: str) -> str:
    """The journal filtered by these criteria, each value quoted as query text."""
    return "/journal?" + urlencode(criteria)
