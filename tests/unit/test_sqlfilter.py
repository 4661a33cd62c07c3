"""Filter → SQL compilation: output shape, index use, injection, sorting, and agreement
with the in-Python evaluator on random data (the property that keeps the two honest), on
SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimlite.scim.comparable import comparable
from scimlite.scim.evaluate import matches
from scimlite.scim.filter import folds, lookup, parse_filter, parse_path
from scimlite.scim.schema import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_RESOURCE,
    USER_RESOURCE,
    USER_SCHEMA,
    ResourceType,
)
from scimlite.store.database import POSTGRES, SQLITE, Conn, Dialect
from scimlite.store.errors import UnsupportedFilter, UnsupportedSort
from scimlite.store.kinds import kind_of
from scimlite.store.postgres.db import PgConn
from scimlite.store.rows import marks
from scimlite.store.sqlfilter import compile_filter, compile_sort, text_phrases
from scimlite.store.sqlite.migrations import MIGRATIONS
from scimlite.store.textindex import index_pending_text
from scimlite.text import fold
from tests.support.postgres import empty_database

ENT = ENTERPRISE_USER_SCHEMA
STORED_APART = ("id", "meta", "schemas", "groups", "members", "password")


def _sql_fold(value: str | float | None) -> str | float | None:
    return fold(value) if isinstance(value, str) else value


def connect() -> sqlite3.Connection:
    """A fresh database with the real schema and the scim_fold function, as db.py sets up."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.create_function("scim_fold", 1, _sql_fold, deterministic=True)
    for script in MIGRATIONS:
        conn.executescript(script)
    return conn


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = connect()
    yield connection
    connection.close()


class Db:
    """One backend's connection with the real schema: SQL with `?` parameters, as the store
    writes it, and the dialect the filter compiler writes for."""

    def __init__(self, dialect: Dialect, conn: Conn) -> None:
        self.dialect = dialect
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def ids(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        return [row[0] for row in self.conn.execute(sql, params).fetchall()]


@pytest.fixture(autouse=True)
def leave_postgres_empty(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty the run's shared PostgreSQL database after a test here wrote to it: the tests
    that follow (HTTP ones, through `database_url`) expect to find it empty, and row counts
    kept by triggers reset with it."""
    yield
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "postgres" in callspec.params.values():
        empty_database(request.getfixturevalue("postgres_database"))


@pytest.fixture(scope="session")
def pg_conn(postgres_database: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        yield connection


def open_db(dialect: str, request: pytest.FixtureRequest) -> Db:
    """A database with nothing in it, on SQLite (in memory) or PostgreSQL (emptied)."""
    if dialect == "sqlite":
        return Db(SQLITE, connect())
    pg: psycopg.Connection[tuple[Any, ...]] = request.getfixturevalue("pg_conn")
    pg.execute(f"TRUNCATE {PG_TABLES} RESTART IDENTITY CASCADE")
    return Db(POSTGRES, PgConn(pg))  # type: ignore[arg-type]  # tuple rows suffice here


PG_TABLES = "users, user_emails, groups, memberships"
DIALECTS = pytest.mark.parametrize("dialect", ["sqlite", "postgres"])


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[Db]:
    opened = open_db(request.param, request)
    yield opened
    if opened.dialect is SQLITE:
        assert isinstance(opened.conn, sqlite3.Connection)
        opened.conn.close()


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in STORED_APART}


def _doc_columns(db: Db, doc: dict[str, Any], resource: ResourceType) -> dict[str, str]:
    """`doc`, and on PostgreSQL its folded copy `doc_ci`, as the store writes them."""
    stored = _stored(doc)
    columns = {"doc": json.dumps(stored)}
    if db.dialect.folded_doc:
        columns["doc_ci"] = json.dumps(comparable(stored, resource))
    return columns


def insert_group(db: Db, doc: dict[str, Any]) -> None:
    """Insert a wire-form group the way the store lays it out (resources.py)."""
    docs = _doc_columns(db, doc, GROUP_RESOURCE)
    db.execute(
        "INSERT INTO groups (id, display_name, display_name_ci, external_id, version, created, "
        f"last_modified, {', '.join(docs)}) VALUES (?, ?, ?, ?, 1, ?, ?, {marks(len(docs))})",
        (
            doc["id"],
            doc["displayName"],
            fold(doc["displayName"]),
            doc.get("externalId"),
            doc["meta"]["created"],
            doc["meta"]["lastModified"],
            *docs.values(),
        ),
    )
    for member in doc.get("members") or []:
        db.execute(
            "INSERT INTO memberships (group_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (doc["id"], member["value"]),
        )


def insert_user(db: Db, doc: dict[str, Any]) -> None:
    """Insert a wire-form user the way the store lays it out (resources.py): derived
    columns, one user_emails row per email with a string value, memberships from `groups`."""
    display = doc.get("displayName")
    docs = _doc_columns(db, doc, USER_RESOURCE)
    db.execute(
        "INSERT INTO users (id, user_name, user_name_ci, external_id, display_name, "
        f"display_name_ci, active, email, version, created, last_modified, {', '.join(docs)}) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 1, ?, ?, {marks(len(docs))})",
        (
            doc["id"],
            doc["userName"],
            fold(doc["userName"]),
            doc.get("externalId"),
            display,
            fold(display) if isinstance(display, str) else None,
            0 if doc.get("active") is False else 1,
            doc["meta"]["created"],
            doc["meta"]["lastModified"],
            *docs.values(),
        ),
    )
    for position, email in enumerate(doc.get("emails") or []):
        if isinstance(email.get("value"), str):
            kind = email.get("type")
            db.execute(
                "INSERT INTO user_emails (user_id, position, value_ci, type_ci, is_primary) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    doc["id"],
                    position,
                    fold(email["value"]),
                    fold(kind) if isinstance(kind, str) else None,
                    1 if email.get("primary") is True else 0,
                ),
            )
    for group in doc.get("groups") or []:
        db.execute(
            "INSERT INTO memberships (group_id, user_id) VALUES (?, ?)", (group["value"], doc["id"])
        )


def select_ids(db: Db, text: str, resource: ResourceType) -> list[str]:
    node = parse_filter(text, resource)
    sql, params = compile_filter(node, resource, dialect=db.dialect)
    table = "users u" if resource is USER_RESOURCE else "groups g"
    return db.ids(f"SELECT id FROM {table} WHERE {sql} ORDER BY id", params)


T0, T1, T2 = "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.001Z", "2024-06-30T12:00:00.000Z"
META = {"created": T0, "lastModified": T1}


# --- output shape -------------------------------------------------------------------------

GIVEN_NAME = 'json_extract(u.doc, \'$."name"."givenName"\')'
TITLE = "json_extract(u.doc, '$.\"title\"')"
DEPARTMENT = f'json_extract(u.doc, \'$."{ENT}"."department"\')'
ELEMENT_TYPE = "json_extract(j.value, '$.\"type\"')"
ELEMENT_VALUE = "json_extract(j.value, '$.\"value\"')"


def folded(expr: str) -> str:
    """How a caseExact=false value is compared: folded in SQL, by scim_fold past ASCII."""
    return (
        f"CASE WHEN typeof({expr}) <> 'text' THEN {expr} "
        f"WHEN {expr} GLOB '*[^ -~]*' THEN scim_fold({expr}) ELSE lower({expr}) END"
    )


@pytest.mark.parametrize(("text", "sql", "params"), [
    pytest.param('userName eq "Bob"', "u.user_name_ci = ?", ["bob"], id="folded-column"),
    pytest.param('externalId eq "Bob"', "u.external_id = ?", ["Bob"], id="caseExact-column"),
    pytest.param('userName ne "Bob"', "NOT coalesce(u.user_name_ci = ?, 0)", ["bob"], id="ne"),
    pytest.param('title eq null', "NOT coalesce(json_extract(u.doc, '$.\"title\"') <> '', 0)",
                 [], id="eq-null"),
    pytest.param('title pr', "json_extract(u.doc, '$.\"title\"') <> ''", [], id="pr"),
    pytest.param('active eq true', "json_extract(u.doc, '$.\"active\"') = ?", [True],
                 id="boolean"),
    pytest.param('name.givenName co "%_\\\\"',
                 f"instr({folded(GIVEN_NAME)}, ?) > 0",
                 ["%_\\"], id="co-instr"),
    pytest.param('userName sw "Ab"', "(u.user_name_ci >= ? AND u.user_name_ci < ?)",
                 ["ab", "ac"], id="sw-range"),
    pytest.param('title sw "Ab"', f"substr({folded(TITLE)}, 1, ?) = ?",
                 [2, "ab"], id="sw-substr"),
    pytest.param('externalId ew "xY"', "substr(u.external_id, -?) = ?", [2, "xY"], id="ew"),
    pytest.param('externalId ew ""', "instr(u.external_id, ?) > 0", [""], id="ew-empty"),
    pytest.param('meta.lastModified ge "2024-01-01T01:00:00+01:00"', "u.last_modified >= ?",
                 ["2024-01-01T00:00:00.000Z"], id="dateTime"),
    pytest.param('emails.value eq "A@X"',
                 "u.id IN (SELECT e.user_id FROM user_emails e WHERE e.value_ci = ?)", ["a@x"],
                 id="emails-index"),
    pytest.param('groups eq "G1"',
                 "u.id IN (SELECT m.user_id FROM memberships m WHERE m.group_id = ?)", ["G1"],
                 id="groups-membership"),
    pytest.param(f'{ENT}:department eq "Ops"',
                 f"{folded(DEPARTMENT)} = ?", ["ops"],
                 id="extension"),
    pytest.param('phoneNumbers.type eq "work"',
                 "EXISTS (SELECT 1 FROM json_each(u.doc, '$.\"phoneNumbers\"') j "
                 f"WHERE j.type = 'object' AND {folded(ELEMENT_TYPE)} = ?)",
                 ["work"], id="multi-valued-json"),
    pytest.param('name pr',
                 "EXISTS (SELECT 1 FROM json_tree(u.doc, '$.\"name\"') t WHERE t.atom <> '')", [],
                 id="complex-pr"),
    pytest.param('userName eq "a" or not (title pr and nickName pr)',
                 "(u.user_name_ci = ? OR NOT coalesce((json_extract(u.doc, '$.\"title\"') <> '' "
                 "AND json_extract(u.doc, '$.\"nickName\"') <> ''), 0))", ["a"], id="logic"),
    pytest.param('emails[value eq "a"]',
                 "u.id IN (SELECT e.user_id FROM user_emails e WHERE e.value_ci = ?)", ["a"],
                 id="single-condition-value-filter-uses-index"),
    pytest.param('emails[value ne "a"]',
                 "EXISTS (SELECT 1 FROM json_each(u.doc, '$.\"emails\"') j WHERE j.type = 'object'"
                 f" AND NOT coalesce({folded(ELEMENT_VALUE)} = ?, 0))",
                 ["a"], id="ne-value-filter-is-per-element"),
    pytest.param('name[givenName eq "a"]',
                 f"{folded(GIVEN_NAME)} = ?", ["a"],
                 id="single-complex-value-filter"),
    pytest.param('name[not (givenName eq "a")]',
                 "(json_type(u.doc, '$.\"name\"') = 'object' AND NOT coalesce("
                 f"{folded(GIVEN_NAME)} = ?, 0))", ["a"],
                 id="single-complex-value-filter-needs-the-object"),
])  # fmt: skip
def test_user_compile_shape(text: str, sql: str, params: list[object]) -> None:
    assert compile_filter(parse_filter(text, USER_RESOURCE), USER_RESOURCE) == (sql, params)


CANDIDATES = (
    "(u.seq IN (SELECT rowid FROM users_text WHERE users_text MATCH ?) "
    "OR u.seq IN (SELECT seq FROM users_text_pending))"
)
EMAIL_OF_USER = "EXISTS (SELECT 1 FROM user_emails e WHERE e.user_id = u.id AND "


@pytest.mark.parametrize(("text", "sql", "params"), [
    pytest.param('userName co "Smith"', f"(instr(u.user_name_ci, ?) > 0 AND {CANDIDATES})",
                 ["smith", '"smith"'], id="co-narrowed-by-users-text"),
    pytest.param('displayName ew "son"', f"(substr(u.display_name_ci, -?) = ? AND {CANDIDATES})",
                 [3, "son", '"son"'], id="ew-narrowed"),
    pytest.param('emails.value co "@Corp"',
                 f"({EMAIL_OF_USER}instr(e.value_ci, ?) > 0) AND {CANDIDATES})",
                 ["@corp", '"@corp"'], id="emails-tested-per-candidate"),
    pytest.param('displayName co "say \\"hi\\""',
                 f"(instr(u.display_name_ci, ?) > 0 AND {CANDIDATES})",
                 ['say "hi"', '"say ""hi"""'], id="quotes-are-phrase-data"),
    pytest.param('userName co "Sm"', "instr(u.user_name_ci, ?) > 0", ["sm"],
                 id="shorter-than-a-trigram"),
    pytest.param('userName sw "Smith"', "(u.user_name_ci >= ? AND u.user_name_ci < ?)",
                 ["smith", "smiti"], id="sw-keeps-its-range"),
    pytest.param('title co "Smith"', f"instr({folded(TITLE)}, ?) > 0",
                 ["smith"], id="not-in-users-text"),
    pytest.param('emails co "ann" or userName co "ANN" or displayName ew "Ann"',
                 f"({CANDIDATES} AND ({EMAIL_OF_USER}instr(e.value_ci, ?) > 0) OR "
                 "instr(u.user_name_ci, ?) > 0 OR substr(u.display_name_ci, -?) = ?))",
                 ['"ann"', "ann", "ann", 3, "ann"], id="an-or-with-one-needle-narrows-once"),
    pytest.param('userName co "ann" or displayName co "bob"',
                 f"((instr(u.user_name_ci, ?) > 0 AND {CANDIDATES}) OR "
                 f"(instr(u.display_name_ci, ?) > 0 AND {CANDIDATES}))",
                 ["ann", '"ann"', "bob", '"bob"'], id="two-needles-narrow-apart"),
    pytest.param('not (userName co "ann" or title pr)',
                 f"NOT coalesce(((instr(u.user_name_ci, ?) > 0 AND {CANDIDATES}) OR "
                 "json_extract(u.doc, '$.\"title\"') <> ''), 0)",
                 ["ann", '"ann"'], id="an-or-with-other-tests-narrows-each"),
])  # fmt: skip
def test_substring_tests_use_the_users_text_index(
    text: str, sql: str, params: list[object]
) -> None:
    assert compile_filter(parse_filter(text, USER_RESOURCE), USER_RESOURCE) == (sql, params)


def test_the_store_can_rule_the_users_text_index_out() -> None:
    node = parse_filter(
        'userName co "ann" or displayName co "ann" or emails co "x@y"', USER_RESOURCE
    )
    assert text_phrases(node, USER_RESOURCE) == {'"ann"', '"x@y"'}
    sql, _ = compile_filter(node, USER_RESOURCE, use_text=lambda phrase: phrase == '"x@y"')
    assert sql.count(" MATCH ") == 1  # only for the needle few users contain


def test_group_compile_shape() -> None:
    node = parse_filter('id eq "G" and members eq "U"', GROUP_RESOURCE)
    assert compile_filter(node, GROUP_RESOURCE) == (
        "(g.id = ? AND g.id IN (SELECT m.group_id FROM memberships m WHERE m.user_id = ?))",
        ["G", "U"],
    )


@pytest.mark.parametrize(("resource", "text", "detail"), [
    pytest.param(USER_RESOURCE, 'groups.display eq "x"', 'filter on "groups.value"',
                 id="groups-display"),
    pytest.param(USER_RESOURCE, 'groups[value eq "x" and type eq "direct"]',
                 '"groups.type" is not supported', id="groups-value-filter-type"),
    pytest.param(USER_RESOURCE, 'meta.version eq "W/\\"1\\""', '"meta.version" is not supported',
                 id="meta-version"),
    pytest.param(GROUP_RESOURCE, 'members.display eq "x"', 'filter on "members.value"',
                 id="members-display"),
    pytest.param(GROUP_RESOURCE, 'members[display eq "x"]', '"members.display" is not supported',
                 id="members-value-filter"),
    pytest.param(GROUP_RESOURCE, 'meta.location pr', '"meta.location" is not supported',
                 id="meta-location"),
])  # fmt: skip
def test_unanswerable_attributes_are_invalid_filters(
    resource: ResourceType, text: str, detail: str
) -> None:
    with pytest.raises(UnsupportedFilter, match=detail):
        compile_filter(parse_filter(text, resource), resource)


def test_folded_columns_are_exactly_the_case_insensitive_attributes() -> None:
    """A column holding fold(value) must only serve caseExact=false attributes, and vice
    versa a case-insensitive attribute on a raw column is compared through scim_fold."""
    for resource in (USER_RESOURCE, GROUP_RESOURCE):
        for (attr, sub), column in kind_of(resource).filter_columns.items():
            _, leaf = lookup(parse_path(f"{attr}.{sub}" if sub else attr, resource).path, resource)
            assert column.folded == folds(leaf), (resource.id, attr, sub)


# --- indexes -------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "text", "index"), [
    pytest.param(USER_RESOURCE, 'userName eq "a"', "sqlite_autoindex_users_2", id="userName"),
    pytest.param(USER_RESOURCE, 'userName sw "a"', "(user_name_ci>? AND user_name_ci<?)",
                 id="userName-sw"),
    pytest.param(USER_RESOURCE, 'externalId eq "a"', "users_external_id", id="externalId"),
    pytest.param(USER_RESOURCE, 'displayName eq "a"', "users_display_name_ci",
                 id="user-displayName"),
    pytest.param(USER_RESOURCE, 'id eq "a"', "sqlite_autoindex_users_1", id="id"),
    pytest.param(USER_RESOURCE, 'emails.value eq "a"', "user_emails_value", id="emails.value"),
    pytest.param(USER_RESOURCE, 'emails[value eq "a"]', "user_emails_value",
                 id="emails-value-filter"),
    pytest.param(USER_RESOURCE, 'emails[type eq "work"].value eq "a"', "user_emails_value",
                 id="emails-value-path-then-sub-attribute"),
    pytest.param(USER_RESOURCE, 'groups.value eq "g"', "PRIMARY KEY", id="groups.value"),
    pytest.param(USER_RESOURCE, 'meta.lastModified gt "2024-01-01"', "users_last_modified",
                 id="lastModified"),
    pytest.param(USER_RESOURCE, 'userName co "abc"', "users_text", id="userName-co"),
    pytest.param(USER_RESOURCE, 'emails.value ew "abc"', "users_text", id="emails-ew"),
    pytest.param(USER_RESOURCE, 'userName co "abc" or displayName co "abc" or emails co "abc"',
                 "users_text", id="plain-text-search"),
    pytest.param(GROUP_RESOURCE, 'displayName eq "a"', "groups_display_name_ci",
                 id="group-displayName"),
    pytest.param(GROUP_RESOURCE, 'externalId eq "a"', "groups_external_id",
                 id="group-externalId"),
    pytest.param(GROUP_RESOURCE, 'members.value eq "u"', "memberships_user", id="members.value"),
    pytest.param(GROUP_RESOURCE, 'id eq "G" and members eq "U"', "memberships_user",
                 id="entra-membership-check"),
])  # fmt: skip
def test_indexable_filters_use_an_index(
    conn: sqlite3.Connection, resource: ResourceType, text: str, index: str
) -> None:
    sql, params = compile_filter(parse_filter(text, resource), resource)
    table, alias = ("users", "u") if resource is USER_RESOURCE else ("groups", "g")
    plan = [
        row[3]
        for row in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM {table} {alias} WHERE {sql}", params
        )
    ]
    assert any(index in step for step in plan), plan
    scans = [step.split()[1] for step in plan if step.startswith("SCAN ")]
    assert not set(scans) & {"u", "g", "m", "e"}, plan


# --- injection -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    pytest.param("x' OR '1'='1", id="quote"),
    pytest.param("'); DROP TABLE users; --", id="drop"),
    pytest.param('\\" OR 1=1 --', id="escaped-quote"),
    pytest.param("%", id="like-wildcard"),
])  # fmt: skip
@pytest.mark.parametrize("template", [
    'userName eq "{}"', 'title co "{}"', 'emails[type eq "{}" or value sw "{}"]',
    f'{ENT}:department ew "{{}}"', 'groups eq "{}"',
])  # fmt: skip
def test_values_only_travel_as_parameters(db: Db, value: str, template: str) -> None:
    insert_user(db, {"id": "u1", "userName": "alice", "title": "boss", "meta": META})
    literal = json.dumps(value)[1:-1]
    node = parse_filter(template.replace("{}", literal), USER_RESOURCE)
    sql, params = compile_filter(node, USER_RESOURCE, dialect=db.dialect)
    assert value not in sql and fold(value) not in sql
    assert any(value in str(p) or fold(value) in str(p) for p in params)
    assert db.ids(f"SELECT id FROM users u WHERE {sql}", params) == []
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 1


def test_substring_operators_match_wildcards_literally(db: Db) -> None:
    for i, title in enumerate(["100%", "100 percent", "a_b", "axb", "a\\b", "ab"]):
        insert_user(db, {"id": f"u{i}", "userName": f"n{i}", "title": title, "meta": META})
    assert select_ids(db, 'title co "%"', USER_RESOURCE) == ["u0"]
    assert select_ids(db, 'title sw "a_"', USER_RESOURCE) == ["u2"]
    assert select_ids(db, 'title ew "\\\\b"', USER_RESOURCE) == ["u4"]
    assert select_ids(db, 'userName sw "n"', USER_RESOURCE) == [f"u{i}" for i in range(6)]
    assert select_ids(db, 'userName co "%"', USER_RESOURCE) == []  # LIKE on pg_trgm columns


def test_limits_compile_and_run(db: Db) -> None:
    """The longest and the deepest filters the parser allows stay within SQLite's limits."""
    insert_user(db, {"id": "u1", "userName": "a", "meta": META})
    longest = " or ".join(["id pr"] * 214) + ' or userName eq "a"'
    assert select_ids(db, longest, USER_RESOURCE) == ["u1"]
    deepest = "not (" * 15 + "(" * 16 + 'emails[value eq "x" or type pr]' + ")" * 31
    assert select_ids(db, deepest, USER_RESOURCE) == ["u1"]


# --- sorting -------------------------------------------------------------------------------

SORT_USERS: list[dict[str, Any]] = [
    {"id": "u1", "userName": "bob", "name": {"givenName": "zed"}, "meta": {**META, "created": T2},
     "emails": [{"value": "z@x"}, {"value": "B@x", "primary": True}],
     "phoneNumbers": [{"value": "2"}, {"value": "9"}]},
    {"id": "u2", "userName": "Alice", "name": {"givenName": "Ann"},
     "emails": [{"value": "c@x"}], "phoneNumbers": [{"value": "5", "primary": True}],
     ENT: {"department": "ops"}, "meta": META},
    {"id": "u3", "userName": "carol", "meta": {**META, "created": T1},
     ENT: {"department": "Dev"}},
]  # fmt: skip


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param("userName", ["u2", "u1", "u3"], id="folded-column"),
    pytest.param("name.givenName", ["u2", "u1", "u3"], id="folded-json-missing-last"),
    pytest.param("emails.value", ["u1", "u2", "u3"], id="emails-primary-first"),
    pytest.param("emails", ["u1", "u2", "u3"], id="bare-multi-sorts-by-value"),
    pytest.param("phoneNumbers.value", ["u1", "u2", "u3"], id="primary-else-first"),
    pytest.param("meta.created", ["u2", "u3", "u1"], id="dateTime"),
    pytest.param(f"{ENT}:department", ["u3", "u2", "u1"], id="extension"),
    pytest.param("id", ["u1", "u2", "u3"], id="id"),
])  # fmt: skip
def test_sort(db: Db, path: str, expected: list[str]) -> None:
    for doc in SORT_USERS:
        insert_user(db, doc)
    key = compile_sort(parse_path(path, USER_RESOURCE).path, USER_RESOURCE, db.dialect)
    assert db.ids(f"SELECT id FROM users u ORDER BY {key} ASC NULLS LAST, u.seq") == expected


def test_group_sort() -> None:
    key = compile_sort(parse_path("displayName", GROUP_RESOURCE).path, GROUP_RESOURCE)
    assert key == "g.display_name_ci"


@pytest.mark.parametrize("path", [
    pytest.param("name", id="complex-without-value"),
    pytest.param("groups", id="membership"),
    pytest.param("meta.location", id="meta-location"),
    pytest.param("password", id="password"),
])  # fmt: skip
def test_unsortable(path: str) -> None:
    with pytest.raises(UnsupportedSort, match="cannot sort by"):
        compile_sort(parse_path(path, USER_RESOURCE).path, USER_RESOURCE)


# --- agreement with matches() ----------------------------------------------------------------

# Small pools so that random filters often hit random data; they include LIKE wildcards,
# backslashes, characters whose fold differs in length (ß → ss, İ → i̇), and needles long
# enough for the users_text trigram index, with and without a line break (its separator).
WORDS = ["", "a", "A", "ab", "aB", "b", "%", "_", "a%b", "a_b", "\\", "a\\b", "ß", "SS", "ss",
         "İ", "i̇", "é", "É", "x@y", "X@Y", "u0", "U1", "g1", "G2", "abab", "aßb", "ASSB",
         "b\na", "\"ab\"", "x@y.ab"]  # fmt: skip
# Characters whose fold differs from lower(): ß and ﬁ grow, ſ folds to s, final sigma.
TEXT = st.one_of(st.sampled_from(WORDS), st.text(alphabet="aAbßſﬁΣσς%_\\İ\n", max_size=4))
TIMES = [T0, T1, T2]
TIME_LITERALS = [*TIMES, "2024-01-01T01:00:00+01:00", "2024-01-01", "2024-06-30T12:00:00.0005Z"]


def optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


def multi(types: list[str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    element = st.fixed_dictionaries(
        {},
        optional={
            "value": optional(TEXT),
            "type": optional(st.sampled_from(types)),
            "primary": st.booleans(),
        },
    )
    return st.lists(element, max_size=3)


USER_DOC = st.fixed_dictionaries(
    {
        "userName": TEXT,
        "meta": st.fixed_dictionaries(
            {"created": st.sampled_from(TIMES), "lastModified": st.sampled_from(TIMES)}
        ),
    },
    optional={
        "externalId": optional(TEXT),
        "displayName": optional(TEXT),
        "title": optional(TEXT),
        "active": optional(st.booleans()),
        "name": st.fixed_dictionaries(
            {}, optional={"givenName": optional(TEXT), "familyName": TEXT}
        ),
        "emails": multi(["work", "Work", "home"]),
        "phoneNumbers": multi(["work", "mobile"]),
        "addresses": st.lists(
            st.fixed_dictionaries({}, optional={"locality": optional(TEXT)}), max_size=2
        ),
        ENT: st.fixed_dictionaries(
            {},
            optional={
                "department": optional(TEXT),
                "manager": st.fixed_dictionaries({}, optional={"value": optional(TEXT)}),
            },
        ),
        "groups": st.lists(st.sampled_from(["g1", "g2"]), unique=True).map(
            lambda ids: [{"value": i} for i in ids]
        ),
    },
)  # fmt: skip
USERS = st.lists(
    USER_DOC, min_size=1, max_size=5, unique_by=lambda d: fold(str(d["userName"]))
).map(lambda docs: [{**d, "id": f"u{i}"} for i, d in enumerate(docs)])

ALL_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
USER_STRING_PATHS = [
    "userName", f"{USER_SCHEMA}:userName", "displayName", "title", "name.givenName",
    "emails.value", "emails", "emails.type", "phoneNumbers.value", "phoneNumbers.type",
    f"{ENT}:department", f"{ENT}:manager", "groups", "groups.value", "externalId", "id",
]  # fmt: skip
USER_BOOLEAN_PATHS = ["active", "emails.primary", "phoneNumbers.primary"]
USER_PRESENT_PATHS = [
    *USER_STRING_PATHS, *USER_BOOLEAN_PATHS, "name", "emails", "phoneNumbers", "addresses",
    "addresses.locality", f"{ENT}:manager", "meta.created",
]  # fmt: skip


def _literal(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(values, st.booleans()).map(lambda t: json.dumps(t[0], ensure_ascii=t[1]))


def comparisons(
    string_paths: list[str],
    boolean_paths: list[str],
    present_paths: list[str],
    date_paths: list[str],
) -> st.SearchStrategy[str]:
    """Leaf filters that parse: each operator with a literal its attribute accepts."""

    def joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.tuples(*parts).map(" ".join)

    strategies = [
        joined(st.sampled_from(present_paths), st.sampled_from(["pr", "PR"])),
        joined(st.sampled_from(string_paths), st.sampled_from(ALL_OPS), _literal(TEXT)),
        joined(st.sampled_from(string_paths + boolean_paths), st.sampled_from(["eq", "ne"]),
               st.just("null")),
    ]  # fmt: skip
    if boolean_paths:
        strategies.append(joined(st.sampled_from(boolean_paths), st.sampled_from(["eq", "ne"]),
                                 st.sampled_from(["true", "false"])))  # fmt: skip
    if date_paths:
        strategies.append(joined(st.sampled_from(date_paths),
                                 st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]),
                                 _literal(st.sampled_from(TIME_LITERALS))))  # fmt: skip
    return st.one_of(*strategies)


def logic(leaves: st.SearchStrategy[str], max_leaves: int) -> st.SearchStrategy[str]:
    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(children, st.sampled_from(["and", "or", "AND"]), children).map(" ".join),
            children.map(lambda c: f"not ({c})"),
            children.map(lambda c: f"({c})"),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


def element_filters(
    attr: str, string_subs: list[str], boolean_subs: list[str]
) -> st.SearchStrategy[str]:
    inner = comparisons(string_subs, boolean_subs, string_subs + boolean_subs, [])
    return logic(inner, 3).map(lambda f: f"{attr}[{f}]")


# The console's plain-text search, which users_text answers with one MATCH.
TEXT_SEARCHES = st.tuples(
    st.permutations(["userName", "displayName", "emails.value"]), _literal(TEXT)
).map(lambda t: " or ".join(f"{path} co {t[1]}" for path in t[0]))
USER_FILTERS = logic(
    st.one_of(
        TEXT_SEARCHES,
        comparisons(USER_STRING_PATHS, USER_BOOLEAN_PATHS, USER_PRESENT_PATHS,
                    ["meta.created", "meta.lastModified"]),
        element_filters("emails", ["value", "type"], ["primary"]),
        element_filters("phoneNumbers", ["value", "type"], ["primary"]),
        element_filters("name", ["givenName", "familyName"], []),
        element_filters(f"{ENT}:manager", ["value"], []),
        element_filters("groups", ["value"], []),
    ),
    max_leaves=5,
)  # fmt: skip


def assert_agreement(db: Db, resource: ResourceType, docs: list[dict[str, Any]], text: str) -> None:
    node = parse_filter(text, resource)
    expected = sorted(d["id"] for d in docs if matches(node, d, resource))
    assert select_ids(db, text, resource) == expected, text


# Hypothesis calls the test many times per pytest call: `request` is only used to reach the
# session's PostgreSQL connection, which each example empties first (open_db).
PROPERTY = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@DIALECTS
@settings(PROPERTY, max_examples=200)
@given(users=USERS, filters=st.lists(USER_FILTERS, min_size=1, max_size=4))
def test_sql_agrees_with_matches_for_users(
    request: pytest.FixtureRequest, dialect: str, users: list[dict[str, Any]], filters: list[str]
) -> None:
    db = open_db(dialect, request)
    for group_id in ("g1", "g2"):
        insert_group(db, {"id": group_id, "displayName": group_id, "meta": META})
    for doc in users:
        insert_user(db, doc)
    if db.dialect.text_index:
        assert isinstance(db.conn, sqlite3.Connection)
        index_pending_text(db.conn, 100)
    for text in filters:
        assert_agreement(db, USER_RESOURCE, users, text)


# Values for the users_text index: long enough for trigrams, with line breaks (its
# separator), quotes (FTS5 syntax) and characters whose fold grows (ß → ss).
INDEXED_TEXT = st.text(alphabet='aAbßſﬁς\nİ"@.', max_size=10)
TEXT_USERS = st.lists(
    st.fixed_dictionaries(
        {"userName": INDEXED_TEXT, "meta": st.just(META)},
        optional={
            "displayName": INDEXED_TEXT,
            "emails": st.lists(st.fixed_dictionaries({"value": INDEXED_TEXT}), max_size=3),
        },
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda d: fold(str(d["userName"])),
).map(lambda docs: [{**d, "id": f"u{i}"} for i, d in enumerate(docs)])


def _searched_values(doc: dict[str, Any]) -> list[str]:
    return [doc["userName"], doc.get("displayName") or ""] + [
        e["value"] for e in doc.get("emails") or []
    ]


@DIALECTS
@settings(PROPERTY, max_examples=300)
@given(users=TEXT_USERS, data=st.data())
def test_substring_search_agrees_with_matches(
    request: pytest.FixtureRequest, dialect: str, users: list[dict[str, Any]], data: Any
) -> None:
    """Needles cut from the users' own values, so the users_text index is really used, and
    from values joined as users_text joins them, where a needle must not match."""
    values = [v for doc in users for v in _searched_values(doc)]
    values += ["\n".join(_searched_values(doc)) for doc in users]
    value = data.draw(st.sampled_from(values))
    start = data.draw(st.integers(0, len(value)))
    needle = value[start : data.draw(st.integers(start, len(value)))]
    if data.draw(st.booleans()):
        needle = needle.upper()
    literal = json.dumps(needle)
    plain = " or ".join(f"{path} co {literal}" for path in ("userName", "displayName", "emails"))
    db = open_db(dialect, request)
    for doc in users:
        insert_user(db, doc)
    for pending in (True, False):  # as written, then once the index has caught up
        if not pending and db.dialect.text_index:
            assert isinstance(db.conn, sqlite3.Connection)
            assert index_pending_text(db.conn, 100) == len(users)
        for text in [
            plain, f"not ({plain})", f"userName co {literal}", f"displayName ew {literal}",
            f"emails.value co {literal}", f"emails.value ew {literal} or userName ew {literal}",
        ]:  # fmt: skip
            assert_agreement(db, USER_RESOURCE, users, text)


GROUP_DOC = st.fixed_dictionaries(
    {
        "displayName": TEXT,
        "meta": st.fixed_dictionaries(
            {"created": st.sampled_from(TIMES), "lastModified": st.sampled_from(TIMES)}
        ),
        "members": st.lists(st.sampled_from(["u0", "u1", "u2"]), unique=True).map(
            lambda ids: [{"value": i} for i in ids]
        ),
    },
    optional={"externalId": optional(TEXT)},
)
GROUPS = st.lists(GROUP_DOC, min_size=1, max_size=4).map(
    lambda docs: [{**d, "id": f"g{i}"} for i, d in enumerate(docs)]
)
GROUP_FILTERS = logic(
    st.one_of(
        comparisons(["displayName", "externalId", "id", "members", "members.value"], [],
                    ["displayName", "externalId", "members", "members.value"],
                    ["meta.created", "meta.lastModified"]),
        element_filters("members", ["value"], []),
    ),
    max_leaves=4,
)  # fmt: skip


@DIALECTS
@settings(PROPERTY, max_examples=100)
@given(groups=GROUPS, filters=st.lists(GROUP_FILTERS, min_size=1, max_size=4))
def test_sql_agrees_with_matches_for_groups(
    request: pytest.FixtureRequest,
    dialect: str,
    groups: list[dict[str, Any]],
    filters: list[str],
) -> None:
    db = open_db(dialect, request)
    for i in range(3):
        insert_user(db, {"id": f"u{i}", "userName": f"user{i}", "meta": META})
    for doc in groups:
        insert_group(db, doc)
    for text in filters:
        assert_agreement(db, GROUP_RESOURCE, groups, text)


FOLDS = [  # (stored, literal): equal under fold() (NFC, then casefold), not under lower()
    ("Straße", "STRASSE"),
    ("ſon", "SON"),
    ("ﬁle", "FILE"),
    ("ΟΔΥΣΣΕΥΣ", "οδυσσευς"),  # final sigma: casefold gives σ for both Σ and ς
    ("İstanbul", "i̇stanbul"),
]


@pytest.mark.parametrize(("stored", "literal"), FOLDS)
def test_case_insensitive_values_compare_by_casefold(db: Db, stored: str, literal: str) -> None:
    """The property tests' alphabet holds these characters; this pins each one, on both
    dialects, in a column (userName) and in the document (title, name.givenName)."""
    doc = {"id": "u1", "userName": stored, "title": stored, "name": {"givenName": stored}}
    insert_user(db, {**doc, "meta": META})
    insert_user(db, {"id": "u2", "userName": "zz", "title": "zz", "meta": META})
    for path in ("userName", "title", "name.givenName"):
        for op, needle in (("eq", literal), ("co", literal[1:-1]), ("sw", literal[:-1])):
            text = f"{path} {op} {json.dumps(needle)}"
            assert select_ids(db, text, USER_RESOURCE) == ["u1"], text
            node = parse_filter(text, USER_RESOURCE)
            assert matches(node, {**doc, "meta": META}, USER_RESOURCE), text
