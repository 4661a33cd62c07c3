"""hypothesis through real HTTP: filters, PATCH bodies, resource bodies and query strings.

Invariants for every input: never a 5xx; every 4xx is a SCIM Error body; a rejected write
changes nothing (the directory tables are compared before and after); the server keeps
answering. The server runs on its own loop in a thread (tests/support/threaded.py), so these
tests are plain synchronous hypothesis tests.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimlite.settings import Settings
from tests.support import (
    ANY_SCIM_TYPE,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    request,
)
from tests.support.threaded import ThreadedApp

FUZZ = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


class Live:
    def __init__(self, app: ThreadedApp) -> None:
        self.app = app
        self.headers = {
            "Authorization": f"Bearer {app.token()}",
            "Content-Type": "application/scim+json",
        }
        self.user = self.send(
            "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "fuzz@ex.com"}
        )
        self.group = self.send(
            "POST",
            "/Groups",
            {
                "schemas": [GROUP_SCHEMA],
                "displayName": "fuzz",
                "members": [{"value": self.user["id"]}],
            },
        )

    def send(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        status, headers, payload = request(
            method, f"{self.app.url}/scim/v2{path}", data, self.headers
        )
        assert status < 500, (method, path, body, payload)
        if status >= 400:
            return assert_scim_error(payload, status, ANY_SCIM_TYPE, headers=headers) | {
                "_status": status
            }
        return json.loads(payload) if payload else {}

    def snapshot(self) -> list[Any]:
        """The directory as stored, journal excluded (failed writes are journaled)."""
        db = self.app.settings.db_path
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = [
                conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("users", "user_emails", "groups", "memberships")
            ]
        conn.close()
        return rows


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    with ThreadedApp(Settings(db_path=db, max_body_bytes=64 * 1024)) as app:
        yield Live(app)


def _rejected_changes_nothing(live: Live, method: str, path: str, body: Any) -> Any:
    before = live.snapshot()
    answer = live.send(method, path, body)
    if "_status" in answer:
        assert live.snapshot() == before, (method, path, body, answer)
    return answer


# --- strategies -------------------------------------------------------------------------

ATTRS = [
    "userName", "displayName", "emails", "emails.value", "emails.type", "emails.primary",
    "name.givenName", "name.familyName", "active", "externalId", "id", "title",
    "meta.created", "meta.lastModified", "groups", "groups.value", "members",
    "members.value", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "addresses.locality", "x509Certificates.value", "nosuch", "name", "meta",
]  # fmt: skip
OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "Co", "xx"]
WEIRD = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from('"\\%_*()[]\0'),
    max_size=12,
)
VALUES = st.one_of(
    WEIRD.map(json.dumps),
    st.sampled_from(["true", "false", "null", "42", "-1.5e3", '"2026-01-01T00:00:00Z"']),
    st.integers().map(str),
)


@st.composite
def filters(draw: st.DrawFn, depth: int = 0) -> str:
    """Mostly grammatical filters (so they reach the SQL compiler), sometimes broken ones."""
    kind = draw(st.integers(0, 6 if depth < 3 else 2))
    if kind == 0:
        return draw(st.text(max_size=40))
    attr = draw(st.sampled_from(ATTRS))
    op = draw(st.sampled_from(OPS))
    if kind in (1, 2):
        return f"{attr} {op}" if op == "pr" else f"{attr} {op} {draw(VALUES)}"
    if kind == 3:
        return f"not ({draw(filters(depth + 1))})"
    if kind == 4:
        return f"{attr}[{draw(filters(depth + 1))}]"
    joiner = draw(st.sampled_from([" and ", " or ", " AND ", " Or "]))
    return f"({draw(filters(depth + 1))}){joiner}{draw(filters(depth + 1))}"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | WEIRD,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WEIRD, inner, max_size=3),
    max_leaves=8,
)
PATHS = st.one_of(
    st.sampled_from(ATTRS),
    filters().map(lambda f: f"members[{f}]"),
    filters().map(lambda f: f"emails[{f}].value"),
    st.text(max_size=20),
)


@st.composite
def patch_bodies(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    ops = []
    for _ in range(draw(st.integers(0, 3))):
        op: dict[str, Any] = {"op": draw(st.sampled_from(["add", "remove", "replace", "Add"]))}
        if draw(st.booleans()):
            op["path"] = draw(PATHS)
        if draw(st.booleans()):
            op["value"] = draw(
                JSON | st.fixed_dictionaries({"value": JSON}).map(lambda v: [v]) | WEIRD
            )
        ops.append(op)
    return {"schemas": draw(st.sampled_from([[PATCH_SCHEMA], [], ["x"]])), "Operations": ops}


@st.composite
def user_bodies(draw: st.DrawFn) -> Any:
    body: dict[str, Any] = {
        "schemas": draw(st.sampled_from([[USER_SCHEMA], [USER_SCHEMA, "urn:x"], []]))
    }
    if draw(st.integers(0, 9)):
        body["userName"] = draw(WEIRD | JSON)
    for name in draw(st.lists(st.sampled_from(ATTRS), max_size=4)):
        body[name.split(".")[0]] = draw(JSON)
    return body


QUERY_KEYS = [
    "filter", "startIndex", "count", "sortBy", "sortOrder", "attributes",
    "excludedAttributes", "cursor", "FILTER",
]  # fmt: skip


# --- tests -------------------------------------------------------------------------------


@FUZZ
@given(text=filters(), resource=st.sampled_from(["/Users", "/Groups"]))
def test_filters_over_get_and_search(live: Live, text: str, resource: str) -> None:
    answer = live.send("GET", f"{resource}?filter={quote(text, safe='')}")
    if "_status" in answer:
        assert answer["_status"] in (400, 403), answer
    live.send("POST", f"{resource}/.search", {"schemas": [], "filter": text})


@FUZZ
@given(body=patch_bodies(), target=st.sampled_from(["user", "group"]))
def test_patch_bodies(live: Live, body: Any, target: str) -> None:
    resource = live.user if target == "user" else live.group
    path = f"/{'Users' if target == 'user' else 'Groups'}/{resource['id']}"
    _rejected_changes_nothing(live, "PATCH", path, body)


@FUZZ
@given(body=user_bodies(), method=st.sampled_from(["POST", "PUT"]))
def test_user_bodies(live: Live, body: Any, method: str) -> None:
    path = "/Users" if method == "POST" else f"/Users/{live.user['id']}"
    answer = _rejected_changes_nothing(live, method, path, body)
    if method == "POST" and "_status" not in answer:
        live.send("DELETE", f"/Users/{answer['id']}")


@FUZZ
@given(
    params=st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=30), max_size=4),
    resource=st.sampled_from(["/Users", "/Groups", "/Users/x", "/ResourceTypes"]),
)
def test_query_strings(live: Live, params: dict[str, str], resource: str) -> None:
    live.send("GET", f"{resource}?{urlencode(params)}")
