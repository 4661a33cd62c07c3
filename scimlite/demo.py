"""Demo data: the small directory in scimlite.db.example (25 users in 5 teams) and its story.

Two identity providers, tokens `okta` and `entra`, build it through the SCIM API itself, on a
loopback port: every journal row is what a real request writes — Okta's and Entra ID's
spellings normalised and noted, deactivations, team changes from both sides, a rename, a
manager, a user who left, and a few requests refused with their errors. So `scimlite demo`
opens on a console that shows what it is for: the dashboard, the journal and the histories.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from scimlite.api import SCIM_PREFIX
from scimlite.app import create_app
from scimlite.keys import STORE
from scimlite.scim.schema import ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE
from scimlite.settings import Settings

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
_LEAVER = ("Charles", "Babbage")  # created, then deleted: the teams' histories show it
_TEAMS = ["Engineering", "Research", "Platform", "Security", "Design"]
_DEPARTMENTS = ["R&D", "Research", "Infrastructure", "Security", "Product"]
_OKTA_USERS = 18  # the first 18 people come from Okta, the rest from Entra ID
_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _user(i: int, given: str, family: str) -> dict[str, Any]:
    login = f"{given}.{family}".lower().replace(" ", "")
    return {
        "schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA],
        "userName": f"{login}@example.com",
        "externalId": f"ext-{1000 + i}",
        "name": {"givenName": given, "familyName": family, "formatted": f"{given} {family}"},
        "displayName": f"{given} {family}",
        "title": "Engineer" if i % 3 else "Manager",
        "active": True,
        "emails": [{"value": f"{login}@example.com", "type": "work", "primary": True}],
        ENTERPRISE_USER_SCHEMA: {
            "employeeNumber": str(1000 + i),
            "department": _DEPARTMENTS[i % len(_DEPARTMENTS)],
        },
    }


def _ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [_PATCH], "Operations": list(operations)}


class _Idp:
    """One identity provider's client: its token, and the ids the server gave it."""

    def __init__(self, http: aiohttp.ClientSession, base: str, secret: str) -> None:
        self._http = http
        self._base = base
        self._headers = {
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/scim+json",
        }

    async def send(
        self, method: str, path: str, body: Any = None, *, expect: int, if_match: str = ""
    ) -> Any:
        headers = dict(self._headers, **({"If-Match": if_match} if if_match else {}))
        async with self._http.request(
            method, f"{self._base}{path}", json=body, headers=headers
        ) as resp:
            if resp.status != expect:
                raise RuntimeError(f"demo: {method} {path} answered {resp.status}, not {expect}")
            return await resp.json(content_type=None) if resp.status != 204 else None


async def _story(okta: _Idp, entra: _Idp) -> None:
    users = f"{USER_RESOURCE.endpoint}"
    groups = f"{GROUP_RESOURCE.endpoint}"
    ids: list[str] = []
    for i, (given, family) in enumerate(_PEOPLE):
        idp = okta if i < _OKTA_USERS else entra
        ids.append((await idp.send("POST", users, _user(i, given, family), expect=201))["id"])
    leaver = (await okta.send("POST", users, _user(99, *_LEAVER), expect=201))["id"]

    # Teams: Okta pushes three with their members, Entra ID creates two and fills them.
    team_ids: list[str] = []
    for t, team in enumerate(_TEAMS):
        members = [uid for i, uid in enumerate(ids) if i % len(_TEAMS) == t or i == t]
        body: dict[str, Any] = {
            "schemas": [GROUP_RESOURCE.schema.id],
            "displayName": team,
            "externalId": f"team-{t + 1}",
        }
        idp = okta if t < 3 else entra
        if idp is okta:
            body["members"] = [{"value": m} for m in members + ([leaver] if t < 2 else [])]
        team_ids.append((await idp.send("POST", groups, body, expect=201))["id"])
        if idp is entra:  # Entra ID's PATCH spells `op` "Add" (normalised, journaled)
            add = {"op": "Add", "path": "members", "value": [{"value": m} for m in members]}
            await entra.send("PATCH", f"{groups}/{team_ids[t]}", _ops(add), expect=200)

    # Deactivations: Okta's no-path replace, Entra ID's "False" as a string.
    okta_off = _ops({"op": "replace", "value": {"active": False}})
    await okta.send("PATCH", f"{users}/{ids[6]}", okta_off, expect=200)
    await okta.send("PATCH", f"{users}/{ids[6]}", okta_off, expect=200)  # again: no change
    entra_off = _ops({"op": "Replace", "path": "active", "value": "False"})
    await entra.send("PATCH", f"{users}/{ids[20]}", entra_off, expect=200)

    # Membership from the user's side: Okta's PUT with `groups` moves Alan into Platform.
    alan = await okta.send("GET", f"{users}/{ids[1]}", expect=200)
    alan = {k: v for k, v in alan.items() if k not in ("id", "meta")}
    alan["groups"] = [{"value": team_ids[2]}]
    await okta.send("PUT", f"{users}/{ids[1]}", alan, expect=200)
    # …and from the team's side: Okta removes one member and adds another in one PATCH.
    swap = _ops(
        {"op": "remove", "path": f'members[value eq "{ids[5]}"]'},
        {"op": "add", "path": "members", "value": [{"value": ids[13]}]},
    )
    await okta.send("PATCH", f"{groups}/{team_ids[0]}", swap, expect=200)

    # Renames: Okta's no-path replace repeats the team's id (ignored, noted); Entra ID's
    # spells `op` "Replace". And a manager as Entra ID sends it: a bare id.
    rename = _ops({"op": "replace", "value": {"id": team_ids[2], "displayName": "Infrastructure"}})
    await okta.send("PATCH", f"{groups}/{team_ids[2]}", rename, expect=200)
    rename = _ops({"op": "Replace", "path": "displayName", "value": "Product Design"})
    await entra.send("PATCH", f"{groups}/{team_ids[4]}", rename, expect=200)
    manager = {"op": "Add", "path": f"{ENTERPRISE_USER_SCHEMA}:manager", "value": ids[2]}
    await entra.send("PATCH", f"{users}/{ids[21]}", _ops(manager), expect=200)

    # Charles left: deleting him changes Engineering's and Research's members too.
    await okta.send("DELETE", f"{users}/{leaver}", expect=204)

    # Refused requests, each journaled with its error.
    await okta.send("POST", users, _user(0, *_PEOPLE[0]), expect=409)  # userName taken
    maybe = _ops({"op": "replace", "path": "active", "value": "maybe"})
    await entra.send("PATCH", f"{users}/{ids[22]}", maybe, expect=400)
    title = _ops({"op": "replace", "path": "title", "value": "Staff Engineer"})
    await okta.send("PATCH", f"{users}/{ids[3]}", title, expect=412, if_match='W/"1"')
    unknown = _ops({"op": "add", "path": "members", "value": [{"value": "no-such-user"}]})
    await entra.send("PATCH", f"{groups}/{team_ids[3]}", unknown, expect=400)


async def populate(settings: Settings) -> None:
    """Fill a new database with the demo directory, through the SCIM API on a loopback port."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    access = logging.getLogger("scimlite.access")
    level = access.level
    access.setLevel(logging.WARNING)  # the story's ~60 requests are not news to whoever runs it
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        store = app[STORE]
        _, okta = await store.create_token("okta", "scim")
        _, entra = await store.create_token("entra", "scim")
        base = f"http://{host}:{port}{SCIM_PREFIX}"
        async with aiohttp.ClientSession() as http:
            await _story(_Idp(http, base, okta), _Idp(http, base, entra))
        await store.index_pending_text()  # shipped indexed, so a first search reads the index
    finally:
        await runner.cleanup()
        access.setLevel(level)
