"""Parsed filter templates (issue #14): a filter built from an earlier filter's tree
(same tokens but for its string and number literals) is exactly what a full parse gives,
value or error, whatever literals the earlier filter carried."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scimlite.scim import filter as scim_filter
from scimlite.scim.errors import ScimError
from scimlite.scim.filter import Filter, parse_filter
from scimlite.scim.schema import GROUP_RESOURCE as GROUP
from scimlite.scim.schema import USER_RESOURCE as USER
from scimlite.scim.schema import ResourceType

USER_SHAPES = [
    "userName eq {0}",
    "emails[type eq {0}].value eq {1}",
    "emails[value co {0} or type eq {1}]",
    "name.givenName sw {0} and not (title ew {1})",
    "meta.created gt {0} or meta.lastModified le {1}",
    "active eq true and userName ne {0}",
    "x509Certificates.value eq {0}",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq {0}",
    "displayName eq null or nickName eq {0}",
]
GROUP_SHAPES = ["displayName eq {0}", "members eq {0} and externalId pr", "members[value eq {0}]"]
# Literals as they appear in a filter: strings (some not dateTimes, one escaped, one that
# is no valid literal) and numbers, so both values and errors are compared.
LITERALS = st.one_of(
    st.text(max_size=10).map(json.dumps),
    st.sampled_from(['"ß"', '"a\\u00e9"', '"\\ud800"', '"\\u0000"', '"2026-13-01T00:00:00Z"']),
    # dateTimes, which a full parse normalises (to milliseconds and Z)
    st.sampled_from(['"2026-01-01T00:00:00Z"', '"2026-01-01T01:00:00.5+01:00"', '"2026-02-03"']),
    st.integers(-5, 5).map(str),
    st.sampled_from(["1.5", "-0", "2e3"]),
)


def outcome(text: str, resource: ResourceType) -> Filter | str:
    try:
        return parse_filter(text, resource)
    except ScimError as exc:
        return f"{type(exc).__name__}: {exc.detail}"


CASES = [(USER, s) for s in USER_SHAPES] + [(GROUP, s) for s in GROUP_SHAPES]


@pytest.mark.parametrize("case", CASES, ids=[shape for _, shape in CASES])
@given(
    first=st.lists(LITERALS, min_size=2, max_size=2),
    second=st.lists(LITERALS, min_size=2, max_size=2),
    spaces=st.sampled_from([" ", "  ", "\t"]),
)
def test_a_template_parses_exactly_what_a_full_parse_does(
    case: tuple[ResourceType, str], first: list[str], second: list[str], spaces: str
) -> None:
    resource, shape = case
    earlier, later = shape.format(*first), shape.format(*second).replace(" ", spaces)
    scim_filter._TEMPLATES.clear()
    expected = outcome(later, resource)  # parsed in full: no template yet for any shape
    scim_filter._TEMPLATES.clear()
    outcome(earlier, resource)  # makes the shape's template if it parses
    assert outcome(later, resource) == expected


def test_only_a_filter_that_parsed_leaves_a_template() -> None:
    scim_filter._TEMPLATES.clear()
    with pytest.raises(ScimError):
        parse_filter('meta.created gt "yesterday"', USER)
    assert scim_filter._TEMPLATES == {}
    parse_filter('meta.created gt "2026-01-01T00:00:00Z"', USER)
    assert len(scim_filter._TEMPLATES) == 1
