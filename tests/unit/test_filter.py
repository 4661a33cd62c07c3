"""Filter and PATCH path parsing (RFC 7644 §3.4.2.2, §3.5.2) and the in-Python evaluator."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scimlite.scim.errors import InvalidFilter, InvalidPath
from scimlite.scim.evaluate import matches, matches_item
from scimlite.scim.filter import (
    MAX_DEPTH,
    MAX_LENGTH,
    And,
    AttrPath,
    Compare,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValueFilter,
    datetime_key,
    lookup,
    parse_filter,
    parse_path,
)
from scimlite.scim.schema import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_RESOURCE,
    USER_RESOURCE,
    USER_SCHEMA,
)

ENT = ENTERPRISE_USER_SCHEMA


def p(attr: str, sub: str | None = None, urn: str | None = None) -> AttrPath:
    return AttrPath(urn, attr, sub)


def eq(attr: str, value: Any, sub: str | None = None) -> Compare:
    return Compare(p(attr, sub), "eq", value)


USER_NAME_BOB = eq("userName", "bob")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param('userName eq "bob"', USER_NAME_BOB, id="eq-string"),
    pytest.param('USERNAME EQ "bob"', USER_NAME_BOB, id="case-insensitive-name-and-op"),
    pytest.param('  userName   eq\t"bob"  ', USER_NAME_BOB, id="extra-whitespace"),
    pytest.param(f'{USER_SCHEMA}:userName eq "bob"', USER_NAME_BOB, id="core-urn-is-dropped"),
    pytest.param(f'{USER_SCHEMA.upper()}:USERNAME eq "bob"', USER_NAME_BOB, id="core-urn-any-case"),
    pytest.param('title pr', Present(p("title")), id="pr"),
    pytest.param('title PR', Present(p("title")), id="pr-upper"),
    pytest.param('active eq true', eq("active", True), id="true"),
    pytest.param('active eq False', eq("active", False), id="false-any-case"),
    pytest.param('title eq null', eq("title", None), id="null"),
    pytest.param('title ne "x"', Compare(p("title"), "ne", "x"), id="ne"),
    pytest.param('displayName co "an"', Compare(p("displayName"), "co", "an"), id="co"),
    pytest.param('displayName sw "A"', Compare(p("displayName"), "sw", "A"), id="sw"),
    pytest.param('displayName ew "z"', Compare(p("displayName"), "ew", "z"), id="ew"),
    pytest.param('userName gt "m"', Compare(p("userName"), "gt", "m"), id="gt-string"),
    pytest.param('name.givenName eq "B"', eq("name", "B", "givenName"), id="sub-attribute"),
    pytest.param('NAME.GIVENNAME eq "B"', eq("name", "B", "givenName"), id="sub-any-case"),
    pytest.param('emails.value eq "a@x"', eq("emails", "a@x", "value"), id="multi-sub"),
    pytest.param('emails eq "a@x"', eq("emails", "a@x", "value"), id="bare-multi-is-value"),
    pytest.param('emails pr', Present(p("emails")), id="complex-pr"),
    pytest.param('groups eq "G"', eq("groups", "G", "value"), id="groups-shorthand"),
    pytest.param('groups.value eq "G"', eq("groups", "G", "value"), id="groups-value"),
    pytest.param('id eq "abc"', eq("id", "abc"), id="id"),
    pytest.param('externalId eq "e1"', eq("externalId", "e1"), id="externalId"),
    pytest.param(
        'meta.created gt "2024-01-01T02:00:00+02:00"',
        Compare(p("meta", "created"), "gt", "2024-01-01T00:00:00.000Z"),
        id="dateTime-normalised-to-utc",
    ),
    pytest.param(
        'meta.lastModified le "2024-05-06T07:08:09.123456Z"',
        Compare(p("meta", "lastModified"), "le", "2024-05-06T07:08:09.123Z"),
        id="dateTime-millis",
    ),
    pytest.param(
        f'{ENT}:department eq "Sales"',
        Compare(p("department", urn=ENT), "eq", "Sales"),
        id="extension-urn",
    ),
    pytest.param(
        f'{ENT.lower()}:Manager.Value eq "m1"',
        Compare(p("manager", "value", ENT), "eq", "m1"),
        id="extension-urn-any-case-sub",
    ),
    pytest.param(
        f'{ENT}:manager eq "m1"',
        Compare(p("manager", "value", ENT), "eq", "m1"),
        id="extension-complex-value-shorthand",
    ),
    pytest.param(
        'userName eq "a" or userName eq "b" and title pr',
        Or(eq("userName", "a"), And(eq("userName", "b"), Present(p("title")))),
        id="and-binds-tighter",
    ),
    pytest.param(
        '(userName eq "a" or userName eq "b") and title pr',
        And(Or(eq("userName", "a"), eq("userName", "b")), Present(p("title"))),
        id="parentheses",
    ),
    pytest.param(
        'title pr and nickName pr and locale pr',
        And(And(Present(p("title")), Present(p("nickName"))), Present(p("locale"))),
        id="and-left-associative",
    ),
    pytest.param(
        'not (title pr) OR NOT(locale pr)',
        Or(Not(Present(p("title"))), Not(Present(p("locale")))),
        id="not",
    ),
    pytest.param(
        'emails[type eq "work" and value co "@x"]',
        ValueFilter(p("emails"), And(eq("type", "work"), Compare(p("value"), "co", "@x"))),
        id="value-filter",
    ),
    pytest.param(
        'EMAILS[TYPE eq "work"] and not (emails[primary eq true])',
        And(
            ValueFilter(p("emails"), eq("type", "work")),
            Not(ValueFilter(p("emails"), eq("primary", True))),
        ),
        id="value-filter-combined",
    ),
    pytest.param(
        'userName eq "a\\"b\\\\c\\u00e9\\n\\/"',
        eq("userName", 'a"b\\c\u00e9\n/'),
        id="json-escapes",
    ),
    pytest.param('userName eq "été ☃"', eq("userName", "été ☃"), id="unicode"),
    pytest.param('userName eq "and or not ( ) [ ]"', eq("userName", "and or not ( ) [ ]"),
                 id="keywords-in-string"),
])  # fmt: skip
def test_user_filter_grammar(text: str, expected: Filter) -> None:
    assert parse_filter(text, USER_RESOURCE) == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(
        'id eq "G" and members eq "U"',
        And(eq("id", "G"), eq("members", "U", "value")),
        id="entra-members-shorthand",
    ),
    pytest.param('members.value eq "U"', eq("members", "U", "value"), id="members-value"),
    pytest.param('displayName eq "Team"', eq("displayName", "Team"), id="displayName"),
    pytest.param('externalId eq "x"', eq("externalId", "x"), id="externalId"),
    pytest.param(
        'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group:displayName eq "T"',
        eq("displayName", "T"),
        id="adscim-alias",
    ),
    pytest.param('members[value eq "U"]', ValueFilter(p("members"), eq("value", "U")),
                 id="members-value-filter"),
])  # fmt: skip
def test_group_filter_grammar(text: str, expected: Filter) -> None:
    assert parse_filter(text, GROUP_RESOURCE) == expected


@pytest.mark.parametrize(("text", "detail"), [
    pytest.param('foo eq "x"', 'unknown attribute "foo" at position 1', id="unknown-attribute"),
    pytest.param('userName eq "a" and foo eq 1', 'unknown attribute "foo" at position 21',
                 id="unknown-attribute-later"),
    pytest.param('emails.foo pr', '"emails" has no sub-attribute "foo" at position 8',
                 id="unknown-sub-attribute"),
    pytest.param('userName.x pr', 'at position 10', id="sub-of-simple"),
    pytest.param('name.givenName.x pr', 'invalid attribute path', id="too-deep"),
    pytest.param('urn:x:y:userName eq "a"', 'unknown schema "urn:x:y" at position 1',
                 id="unknown-schema"),
    pytest.param(f'{ENT}:userName eq "a"', 'unknown attribute "userName" at position 60',
                 id="core-attribute-under-extension"),
    pytest.param(f'{ENT} pr', "is a schema, not an attribute at position 1", id="bare-urn"),
    pytest.param('department eq "x"', 'unknown attribute "department"', id="extension-needs-urn"),
    pytest.param('members eq "x"', 'unknown attribute "members"', id="members-on-users"),
    pytest.param('password eq "x"', '"password" is never returned and cannot be filtered on',
                 id="password"),
    pytest.param('', "the filter is empty at position 1", id="empty"),
    pytest.param('   ', "the filter is empty at position 1", id="blank"),
    pytest.param('userName', "expected an operator", id="missing-operator"),
    pytest.param('userName eq', "found end of input at position 12", id="missing-value"),
    pytest.param('userName xx "a"', 'found "xx" at position 10', id="unknown-operator"),
    pytest.param('userName eq "a" title pr', 'unexpected "title" at position 17',
                 id="trailing-garbage"),
    pytest.param('userName eq "a")', 'unexpected ")" at position 16', id="extra-paren"),
    pytest.param('(userName eq "a"', 'expected ")", found end of input at position 17',
                 id="unbalanced"),
    pytest.param('userName eq "a', "unterminated string at position 13", id="unterminated"),
    pytest.param('userName eq "\\x"', "invalid string literal at position 13", id="bad-escape"),
    pytest.param('userName eq "\\ud800"', "invalid string literal", id="lone-surrogate"),
    pytest.param('userName eq "\\u0000"', "U+0000", id="nul"),
    pytest.param('userName eq bob', 'expected a value', id="unquoted-value"),
    pytest.param('userName eq "a" && title pr', "unexpected '&' at position 17", id="bad-char"),
    pytest.param('not title pr', 'expected "(" after "not", found "title" at position 5',
                 id="not-without-paren"),
    pytest.param('userName eq "a" and', "found end of input at position 20", id="dangling-and"),
    pytest.param('active gt true', '"gt" cannot compare boolean attribute "active" at position 8',
                 id="gt-on-boolean"),
    pytest.param('active lt false', 'cannot compare boolean', id="lt-on-boolean"),
    pytest.param('active co "t"', '"co" needs a string attribute; "active" is boolean',
                 id="co-on-boolean"),
    pytest.param('meta.created sw "2024"', '"sw" needs a string attribute', id="sw-on-dateTime"),
    pytest.param('userName gt null', '"gt" cannot compare with null at position 13',
                 id="gt-null"),
    pytest.param('userName eq 1', '"userName" takes string values; 1 is not one at position 13',
                 id="number-for-string"),
    pytest.param('active eq "true"', 'takes boolean values', id="string-for-boolean"),
    pytest.param('meta.created gt "yesterday"', '"yesterday" is not a dateTime at position 17',
                 id="bad-dateTime"),
    pytest.param('name eq "x"', '"name" is complex: compare a sub-attribute such as',
                 id="complex-without-sub"),
    pytest.param('addresses eq "x"', '"addresses" is complex', id="complex-without-value"),
    pytest.param('userName[value eq "x"]', 'cannot take "[" at position 9',
                 id="brackets-on-simple"),
    pytest.param('emails.value[type eq "x"]', 'cannot take "["', id="brackets-on-sub"),
    pytest.param('emails[foo eq "x"]', '"emails" has no sub-attribute "foo" at position 8',
                 id="unknown-inner"),
    pytest.param('emails[emails.type eq "x"]', 'has no sub-attribute "emails.type"',
                 id="qualified-inner"),
    pytest.param('emails[type eq "x"', 'expected "]"', id="unclosed-bracket"),
    pytest.param('emails[type[value eq "x"]]', "value filters cannot be nested at position 12",
                 id="nested-brackets"),
])  # fmt: skip
def test_filter_errors(text: str, detail: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text, USER_RESOURCE)
    assert detail in caught.value.detail
    assert caught.value.scim_type == "invalidFilter"


def test_every_error_names_a_position() -> None:
    for text in ("foo pr", "userName eq", "((userName pr)", "active gt true"):
        with pytest.raises(InvalidFilter) as caught:
            parse_filter(text, USER_RESOURCE)
        assert re.search(r"at position \d+$", caught.value.detail)


def test_group_filter_rejects_user_attributes() -> None:
    with pytest.raises(InvalidFilter, match='unknown attribute "userName"'):
        parse_filter('userName eq "x"', GROUP_RESOURCE)


def test_length_limit() -> None:
    text = 'userName eq "' + "a" * (MAX_LENGTH - 14) + '"'
    assert len(text) == MAX_LENGTH
    parse_filter(text, USER_RESOURCE)
    with pytest.raises(InvalidFilter, match=f"over the limit of {MAX_LENGTH}"):
        parse_filter(text + " ", USER_RESOURCE)


def test_depth_limit() -> None:
    parse_filter("(" * MAX_DEPTH + "title pr" + ")" * MAX_DEPTH, USER_RESOURCE)
    too_deep = "(" * (MAX_DEPTH + 1) + "title pr" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidFilter, match=f"deeper than {MAX_DEPTH} levels at position 33"):
        parse_filter(too_deep, USER_RESOURCE)
    nots = "not (" * (MAX_DEPTH + 1) + "title pr" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidFilter, match="deeper than"):
        parse_filter(nots, USER_RESOURCE)
    brackets = "(" * MAX_DEPTH + 'emails[type eq "x"]' + ")" * MAX_DEPTH
    with pytest.raises(InvalidFilter, match="deeper than"):
        parse_filter(brackets, USER_RESOURCE)


def test_longest_chain_evaluates_without_recursion_errors() -> None:
    """The longest possible or-chain is a deep left-nested tree; evaluation flattens it."""
    text = " or ".join(["id pr"] * 214) + ' or userName eq "a"'
    assert len(text) <= MAX_LENGTH
    node = parse_filter(text, USER_RESOURCE)
    assert matches(node, {"userName": "A"}, USER_RESOURCE)
    assert not matches(node, {"userName": "b"}, USER_RESOURCE)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("userName", PatchPath(p("userName"), None, None), id="simple"),
    pytest.param("name.givenName", PatchPath(p("name", "givenName"), None, None), id="sub"),
    pytest.param(
        'emails[type eq "work"].value',
        PatchPath(p("emails"), eq("type", "work"), "value"),
        id="value-path-sub-attr",
    ),
    pytest.param(
        'addresses[type eq "work"].streetAddress',
        PatchPath(p("addresses"), eq("type", "work"), "streetAddress"),
        id="addresses-street",
    ),
    pytest.param(
        'Emails[Type EQ "work" and primary eq true].VALUE',
        PatchPath(p("emails"), And(eq("type", "work"), eq("primary", True)), "value"),
        id="value-path-any-case",
    ),
    pytest.param(
        f"{ENT}:manager", PatchPath(p("manager", urn=ENT), None, None), id="extension-attr"
    ),
    pytest.param(
        f"{ENT}:manager.value", PatchPath(p("manager", "value", ENT), None, None),
        id="extension-sub",
    ),
    pytest.param(ENT, PatchPath(p("", urn=ENT), None, None), id="whole-extension"),
    pytest.param(ENT.upper(), PatchPath(p("", urn=ENT), None, None), id="whole-extension-case"),
    pytest.param("password", PatchPath(p("password"), None, None), id="password-is-writable"),
])  # fmt: skip
def test_user_patch_paths(text: str, expected: PatchPath) -> None:
    assert parse_path(text, USER_RESOURCE) == expected


def test_group_members_patch_path() -> None:
    assert parse_path('members[value eq "2819c223"]', GROUP_RESOURCE) == PatchPath(
        p("members"), eq("value", "2819c223"), None
    )


@pytest.mark.parametrize(("text", "detail"), [
    pytest.param("", "found end of input at position 1", id="empty"),
    pytest.param("nosuch", 'unknown attribute "nosuch" at position 1', id="unknown"),
    pytest.param('emails[type eq "work"].nosuch', 'no sub-attribute "nosuch" at position 24',
                 id="unknown-trailing-sub"),
    pytest.param('emails[type eq "work"]x', 'unexpected "x" at position 23', id="garbage"),
    pytest.param('emails[type eq "work"].', "expected a sub-attribute name", id="dangling-dot"),
    pytest.param("userName.", "invalid attribute path", id="trailing-dot"),
    pytest.param(f"{ENT}[department eq 1]", 'unexpected "["', id="brackets-on-extension"),
    pytest.param('emails[nope eq "x"]', 'no sub-attribute "nope" at position 8', id="bad-inner"),
    pytest.param("userName eq", 'unexpected "eq"', id="filter-not-path"),
])  # fmt: skip
def test_patch_path_errors(text: str, detail: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        parse_path(text, USER_RESOURCE)
    assert detail in caught.value.detail
    assert caught.value.scim_type == "invalidPath"


BARBARA: dict[str, Any] = {
    "id": "2819c223",
    "externalId": "bjensen",
    "userName": "Bjensen@Example.com",
    "name": {"givenName": "Barbara", "familyName": "Jensen", "middleName": ""},
    "displayName": "Babs",
    "title": None,
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "addresses": [],
    "groups": [{"value": "g1", "display": "Admins"}],
    ENT: {"department": "Tour Operations", "manager": {"value": "m1"}},
    "meta": {
        "created": "2024-01-02T03:04:05.000Z",
        "lastModified": "2024-06-01T00:00:00.000Z",
        "resourceType": "User",
    },
}


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param('userName eq "bjensen@example.com"', True, id="caseExact-false-folds"),
    pytest.param('id eq "2819C223"', False, id="caseExact-id"),
    pytest.param('externalId eq "BJENSEN"', False, id="caseExact-externalId"),
    pytest.param('userName ne "bjensen@example.com"', False, id="ne-is-not-eq"),
    pytest.param('nickName ne "x"', True, id="ne-on-missing-matches"),
    pytest.param('nickName eq null', True, id="eq-null-missing"),
    pytest.param('title eq null', True, id="eq-null-json-null"),
    pytest.param('displayName eq null', False, id="eq-null-present"),
    pytest.param('displayName ne null', True, id="ne-null-present"),
    pytest.param('title pr', False, id="pr-null"),
    pytest.param('name.middleName pr', False, id="pr-empty-string"),
    pytest.param('addresses pr', False, id="pr-empty-list"),
    pytest.param('name pr', True, id="pr-complex"),
    pytest.param('emails pr', True, id="pr-multi"),
    pytest.param('active eq true', True, id="boolean"),
    pytest.param('active eq false', False, id="boolean-false"),
    pytest.param('emails.value eq "BABS@jensen.org"', True, id="any-value-matches"),
    pytest.param('emails.type eq "other"', False, id="no-value-matches"),
    pytest.param('emails.value ne "babs@jensen.org"', False, id="ne-multi-is-none-equal"),
    pytest.param('emails eq "babs@jensen.org"', True, id="bare-multi-shorthand"),
    pytest.param('emails[type eq "work" and value ew "org"]', False, id="same-element"),
    pytest.param('emails[type eq "home" and value ew "ORG"]', True, id="same-element-hit"),
    pytest.param('emails[not (primary eq true)]', True, id="value-filter-not"),
    pytest.param('emails.primary eq false', False, id="missing-primary-is-not-false"),
    pytest.param('name.givenName sw "bar"', True, id="sw"),
    pytest.param('name.givenName ew "RA"', True, id="ew"),
    pytest.param('name.givenName co "rba"', True, id="co"),
    pytest.param('name.givenName co ""', True, id="co-empty"),
    pytest.param('name.givenName gt "BB"', False, id="gt-folded"),
    pytest.param('name.givenName ge "barbara"', True, id="ge-folded"),
    pytest.param('name.givenName lt "BZ"', True, id="lt-folded"),
    pytest.param('meta.created lt "2024-01-02T05:00:00+01:00"', True, id="dateTime-lt"),
    pytest.param('meta.created eq "2024-01-02T03:04:05Z"', True, id="dateTime-eq"),
    pytest.param('meta.lastModified gt "2024-06-01"', False, id="dateTime-date-only"),
    pytest.param('meta.lastModified ge "2024-06-01"', True, id="dateTime-ge"),
    pytest.param(f'{ENT}:department eq "tour operations"', True, id="extension"),
    pytest.param(f'{ENT}:manager eq "m1"', True, id="extension-manager"),
    pytest.param(f'{ENT}:costCenter pr', False, id="extension-missing"),
    pytest.param('groups eq "g1"', True, id="groups"),
    pytest.param('groups.display eq "admins"', True, id="groups-display"),
    pytest.param('userName sw "b" and (title pr or active eq true)', True, id="and-or"),
    pytest.param('not (userName sw "b")', False, id="not"),
])  # fmt: skip
def test_matches(text: str, expected: bool) -> None:
    assert matches(parse_filter(text, USER_RESOURCE), BARBARA, USER_RESOURCE) is expected


@pytest.mark.parametrize(("doc", "expected"), [
    pytest.param({"active": 1}, True, id="integer-one-is-true-like-sqlite"),
    pytest.param({"active": "true"}, False, id="string-is-not-boolean"),
    pytest.param({"emails": {"value": "a"}}, False, id="multi-not-a-list"),
    pytest.param({"emails": ["a", None]}, False, id="elements-not-objects"),
])  # fmt: skip
def test_matches_tolerates_odd_documents(doc: dict[str, Any], expected: bool) -> None:
    text = 'active eq true or emails.value eq "a" or emails[value eq "a"]'
    assert matches(parse_filter(text, USER_RESOURCE), doc, USER_RESOURCE) is expected


def test_matches_group_members() -> None:
    group = {"id": "G", "displayName": "Ops", "members": [{"value": "u1"}, {"value": "u2"}]}
    node = parse_filter('id eq "G" and members eq "u2"', GROUP_RESOURCE)
    assert matches(node, group, GROUP_RESOURCE)
    assert not matches(node, {**group, "members": []}, GROUP_RESOURCE)


def test_matches_item_for_patch_value_filters() -> None:
    path = parse_path('emails[type eq "WORK" and not (primary eq false)].value', USER_RESOURCE)
    assert path.value_filter is not None
    emails, _ = lookup(path.path, USER_RESOURCE)
    assert matches_item(path.value_filter, {"type": "work", "value": "x"}, emails)
    assert not matches_item(path.value_filter, {"type": "work", "primary": False}, emails)
    assert not matches_item(path.value_filter, {"type": "home"}, emails)


def test_lookup() -> None:
    top, leaf = lookup(AttrPath(None, "emails", "value"), USER_RESOURCE)
    assert (top.name, leaf.name, top.multi_valued) == ("emails", "value", True)
    with pytest.raises(ValueError, match="names no attribute"):
        lookup(AttrPath(ENT, ""), USER_RESOURCE)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z", id="z"),
    pytest.param("2024-01-02T03:04:05.9999+00:30", "2024-01-02T02:34:05.999Z", id="offset"),
    pytest.param("2024-01-02T03:04:05", "2024-01-02T03:04:05.000Z", id="naive-is-utc"),
    pytest.param("0001-01-01T00:00:00+01:00", None, id="overflow"),
    pytest.param("soon", None, id="invalid"),
])  # fmt: skip
def test_datetime_key(text: str, expected: str | None) -> None:
    assert datetime_key(text) == expected
