"""The store↔api seam in domain terms: If-Match parsed in the API, store errors mapped once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import scimlite.store
from scimlite.api.errors import STORE_ERRORS, scim_error
from scimlite.api.http import expected_versions
from scimlite.scim import errors as scim
from scimlite.store import errors as domain
from scimlite.store.kinds import KINDS, kind_of

STORE_DIR = Path(scimlite.store.__file__).parent


@pytest.mark.parametrize(("header", "versions"), [
    pytest.param(None, None, id="absent"),
    pytest.param("*", None, id="any"),
    pytest.param('W/"3"', frozenset({3}), id="weak"),
    pytest.param('"3"', frozenset({3}), id="strong"),
    pytest.param('W/"1", W/"2"', frozenset({1, 2}), id="list"),
    pytest.param('W/"1", *', None, id="list-with-any"),
    pytest.param('"abc"', frozenset(), id="not-ours"),
])  # fmt: skip
def test_if_match_becomes_the_versions_a_write_accepts(
    header: str | None, versions: frozenset[int] | None
) -> None:
    assert expected_versions(header) == versions


def test_every_store_error_has_one_scim_error() -> None:
    for cls in domain.StoreError.__subclasses__():
        assert cls in STORE_ERRORS, cls.__name__
        assert isinstance(scim_error(cls("why")), scim.ScimError)


@pytest.mark.parametrize(("error", "status", "scim_type"), [
    pytest.param(domain.NotFound, 404, None, id="not-found"),
    pytest.param(domain.Conflict, 409, "uniqueness", id="conflict"),
    pytest.param(domain.StaleVersion, 412, None, id="stale"),
    pytest.param(domain.UnknownMembers, 400, "invalidValue", id="unknown-members"),
    pytest.param(domain.UnsupportedFilter, 400, "invalidFilter", id="filter"),
    pytest.param(domain.UnsupportedSort, 400, "invalidValue", id="sort"),
    pytest.param(domain.ReadTooLong, 400, "tooMany", id="read-too-long"),
    pytest.param(domain.ReadersBusy, 503, None, id="readers-busy"),
])  # fmt: skip
def test_store_errors_map_to_scim_errors(
    error: type[domain.StoreError], status: int, scim_type: str | None
) -> None:
    mapped = scim_error(error("the detail"))
    assert (mapped.status, mapped.scim_type, mapped.detail) == (status, scim_type, "the detail")


def test_readers_busy_says_when_to_retry() -> None:
    assert scim_error(domain.ReadersBusy("busy")).headers == {"Retry-After": "1"}


def test_the_store_imports_no_scim_error() -> None:
    for path in STORE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "scimlite.scim.errors", path
                assert not (
                    node.module == "scimlite.scim"
                    and "errors" in {alias.name for alias in node.names}
                ), path


def test_one_kind_per_resource_type() -> None:
    for kind in KINDS:
        assert kind_of(kind.resource) is kind
        assert kind.refs_attr == kind.resource.membership_attr
