"""A streamed list holds one rendered resource at a time: its pieces are produced lazily."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from scimlite.scim import render
from scimlite.scim.records import Ref, Resource
from scimlite.scim.schema import GROUP_RESOURCE, USER_RESOURCE
from scimlite.store.kinds import Rows

BASE = "https://scim.example/scim/v2"


def _user(i: int) -> Resource:
    return Resource(f"u{i}", 1, "t", "t", {"userName": f"u{i}@example.com"}, [])


def test_list_chunks_renders_a_resource_only_after_the_one_before_was_taken() -> None:
    taken: list[int] = []

    def resources() -> Iterator[Iterator[bytes]]:
        for i in range(5):
            taken.append(i)
            yield render.wire_chunks(USER_RESOURCE, _user(i), BASE)

    pieces = render.list_chunks(resources(), 5, 5, 1)
    next(pieces)  # the envelope
    assert taken == []
    for i in range(5):
        piece = next(pieces)
        if i:
            assert piece == b","
            piece = next(pieces)
        assert taken == list(range(i + 1))  # nothing rendered ahead
        assert orjson.loads(piece)["id"] == f"u{i}"
    assert next(pieces) == b"]}"


def test_list_chunks_is_the_list_response(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "REFS_STEP", 2)
    team = Resource("g", 3, "t", "t", {"displayName": "T"}, [Ref(f"u{i}", None) for i in range(5)])
    records = [_user(1), team, _user(2)]
    types = [USER_RESOURCE, GROUP_RESOURCE, USER_RESOURCE]
    whole = render.list_response(
        [render.to_wire(t, r, BASE) for t, r in zip(types, records, strict=True)], 9, 4, "c"
    )
    streamed = render.list_chunks(
        (render.wire_chunks(t, r, BASE) for t, r in zip(types, records, strict=True)), 3, 9, 4, "c"
    )
    assert orjson.loads(b"".join(streamed)) == whole


def test_a_large_roster_is_rendered_a_step_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "REFS_STEP", 2)
    refs = [Ref(f"u{i}", f"User {i}") for i in range(5)]
    team = Resource("g", 1, "t", "t", {"displayName": "T"}, refs)
    pieces = list(render.wire_chunks(GROUP_RESOURCE, team, BASE))
    # the rest of the document, three steps of at most two members, the closing
    assert len(pieces) == 5
    assert [p.count(b'"value"') for p in pieces] == [0, 2, 2, 1, 0]
    assert orjson.loads(b"".join(pieces)) == render.to_wire(GROUP_RESOURCE, team, BASE)


def test_rows_parse_each_row_only_when_it_is_read() -> None:
    good = {"id": "u1", "version": 1, "created": "t", "last_modified": "t", "doc": "{}"}
    broken = {**good, "id": "u2", "doc": "not json"}
    rows = Rows([good, broken], with_refs=False)
    assert len(rows) == 2
    walk = iter(rows)
    assert next(walk).id == "u1"  # the broken row is not parsed yet
    with pytest.raises(orjson.JSONDecodeError):
        next(walk)
    assert [r.id for r in rows[:1]] == ["u1"]
