"""Compiled filter templates (issue #14): a lookup compiled from its shape's template is
exactly what compiling it afresh gives, whatever strings an earlier filter of the same
shape carried; filters whose SQL could depend on their strings never use a template."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scimlite.scim.errors import ScimError
from scimlite.scim.filter import Filter, parse_filter
from scimlite.scim.schema import GROUP_RESOURCE as GROUP
from scimlite.scim.schema import USER_RESOURCE as USER
from scimlite.scim.schema import ResourceType
from scimlite.store import sqlfilter
from scimlite.store.database import POSTGRES, SQLITE, Dialect
from scimlite.store.sqlfilter import compile_filter

# Shapes with their string slots as {0}, {1}: the lookups IdPs send, and some mixtures.
USER_SHAPES = [
    "userName eq {0}",
    "externalId eq {0}",
    "emails.value eq {0}",
    "emails[type eq {0}].value eq {1}",
    "emails[value eq {0} and type ne {1}]",
    "userName eq {0} or displayName ne {1}",
    "not (name.givenName eq {0}) and title pr",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq {0}",
    "meta.created eq {0}",
]
GROUP_SHAPES = [
    "displayName eq {0}",
    "members eq {0}",
    "members[value eq {0}] or externalId eq {1}",
]
# Strings that folding changes, or that look like the template's own marks.
STRINGS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["ß", "İstanbul", "ﬁ", "ΣΑΣ", "\ue000M0", "\ue000m1", "", "2026-01-01T00:00:00Z"]
    ),
)


def fresh(f: Filter, resource: ResourceType, dialect: Dialect) -> tuple[str, list[object]]:
    """What the compiler itself makes of `f`, no template involved."""
    compiler = sqlfilter._Compiler(resource, lambda _: False, dialect)
    return compiler.node(f, compiler.top), compiler.params


def parsed(shape: str, strings: list[str], resource: ResourceType) -> Filter | None:
    try:
        return parse_filter(shape.format(*(json.dumps(s) for s in strings)), resource)
    except ScimError:
        return None  # e.g. a string that is no dateTime for meta.created


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgres"])
@given(
    case=st.sampled_from([(USER, s) for s in USER_SHAPES] + [(GROUP, s) for s in GROUP_SHAPES]),
    first=st.lists(STRINGS, min_size=2, max_size=2),
    second=st.lists(STRINGS, min_size=2, max_size=2),
)
def test_a_template_compiles_exactly_what_a_fresh_compile_does(
    dialect: Dialect, case: tuple[ResourceType, str], first: list[str], second: list[str]
) -> None:
    resource, shape = case
    earlier, later = parsed(shape, first, resource), parsed(shape, second, resource)
    if earlier is None or later is None:
        return
    sqlfilter._TEMPLATES.clear()
    assert compile_filter(earlier, resource, dialect=dialect) == fresh(earlier, resource, dialect)
    assert compile_filter(later, resource, dialect=dialect) == fresh(later, resource, dialect)


@pytest.mark.parametrize(
    "text",
    [
        'userName co "ada"',  # a substring test may read users_text: value-dependent
        'userName sw "a" or userName ew "b"',
        "userName eq null",
        "active eq true",
        " or ".join(f'userName eq "u{n}"' for n in range(20)),  # too large to keep
    ],
)
def test_filters_whose_sql_may_depend_on_their_values_keep_no_template(text: str) -> None:
    sqlfilter._TEMPLATES.clear()
    compile_filter(parse_filter(text, USER), USER)
    assert sqlfilter._TEMPLATES == {}
