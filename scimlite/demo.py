"""Demo data: the small directory in scimlite.db.example (25 users in 5 teams)."""

from __future__ import annotations

from typing import Any

from scimlite.api import SCIM_PREFIX
from scimlite.scim.models import parse_resource
from scimlite.scim.schema import ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE
from scimlite.store import Store, WriteContext

_PEOPLE = [
    ("Ada", "Lovelace"),
    ("Alan", "Turing"),
    ("Grace", "Hopper"),
    ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"),
    ("Donald", "Knuth"),
    ("Margaret", "Hamilton"),
    ("Ken", "Thompson"),
    ("Frances", "Allen"),
    ("John", "McCarthy"),
    ("Radia", "Perlman"),
    ("Dennis", "Ritchie"),
    ("Katherine", "Johnson"),
    ("Tony", "Hoare"),
    ("Shafi", "Goldwasser"),
    ("Leslie", "Lamport"),
    ("Hedy", "Lamarr"),
    ("Niklaus", "Wirth"),
    ("Sophie", "Wilson"),
    ("Guido", "van Rossum"),
    ("Annie", "Easley"),
    ("Bjarne", "Stroustrup"),
    ("Evelyn", "Berezin"),
    ("Linus", "Torvalds"),
    ("Jean", "Sammet"),
]
_TEAMS = ["Engineering", "Research", "Platform", "Security", "Design"]
_DEPARTMENTS = ["R&D", "Research", "Infrastructure", "Security", "Product"]


def _user(i: int, given: str, family: str) -> dict[str, Any]:
    login = f"{given}.{family}".lower().replace(" ", "")
    return {
        "schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA],
        "userName": f"{login}@example.com",
        "externalId": f"ext-{1000 + i}",
        "name": {"givenName": given, "familyName": family, "formatted": f"{given} {family}"},
        "displayName": f"{given} {family}",
        "title": "Engineer" if i % 3 else "Manager",
        "active": i % 7 != 6,
        "emails": [{"value": f"{login}@example.com", "type": "work", "primary": True}],
        ENTERPRISE_USER_SCHEMA: {
            "employeeNumber": str(1000 + i),
            "department": _DEPARTMENTS[i % len(_DEPARTMENTS)],
        },
    }


async def populate(store: Store) -> None:
    """Fill an empty store with the demo directory, through the same paths as the API."""
    ctx = WriteContext("demo", "POST", f"{SCIM_PREFIX}{USER_RESOURCE.endpoint}")
    user_ids = []
    for i, (given, family) in enumerate(_PEOPLE):
        parsed = parse_resource(USER_RESOURCE, _user(i, given, family))
        user_ids.append((await store.users.create(parsed.doc, None, ctx)).id)
    for t, team in enumerate(_TEAMS):
        members = [uid for i, uid in enumerate(user_ids) if i % len(_TEAMS) == t or i == t]
        body = {
            "schemas": [GROUP_RESOURCE.schema.id],
            "displayName": team,
            "externalId": f"team-{t + 1}",
        }
        parsed = parse_resource(GROUP_RESOURCE, body)
        await store.groups.create(parsed.doc, members, WriteContext("demo", "POST", "/Groups"))
    await store.index_pending_text()  # shipped indexed, so a first search reads the index
