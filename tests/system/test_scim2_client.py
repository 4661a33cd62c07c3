"""A second, independent client: python-scim's `scim2-client`, driven through its typed API.

The client discovers scimlite (`/ResourceTypes`, `/Schemas`, `/ServiceProviderConfig`) and
builds its User and Group models from scimlite's own `/Schemas`; it then validates every
request it sends and every response it reads against those models (its defaults:
`check_request_payload`, `check_response_payload`, `raise_scim_errors`), and raises on any
mismatch or SCIM error. The whole lifecycle must pass without one (issue #15).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx2
import pytest
import scim2_models
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import ListResponse, PatchOp, SearchRequest

from scimlite.settings import Settings
from tests.support.threaded import ThreadedApp


@pytest.fixture
def client(tmp_path: Path) -> Iterator[SyncSCIMClient]:
    """scim2-client over real HTTP to a scimlite on loopback, after discovery."""
    with ThreadedApp(Settings(db_path=tmp_path / "scimlite.db")) as app:
        headers = {"Authorization": f"Bearer {app.token('scim2-client')}"}
        with httpx2.Client(base_url=f"{app.url}/scim/v2", headers=headers, timeout=30) as http:
            scim = SyncSCIMClient(http)
            scim.discover()
            yield scim


def _model(client: SyncSCIMClient, name: str) -> Any:
    model = client.get_resource_model(name)
    assert model is not None, name
    # Built from scimlite's /Schemas by discovery, not scim2-models' stock class.
    assert model is not getattr(scim2_models, name)
    return model


def patch_op(model: Any, *operations: dict[str, Any]) -> Any:
    """`PatchOp[model]`, which resolves and checks the paths against the discovered model."""
    return cast(Any, PatchOp)[model].model_validate({"Operations": list(operations)})


def ok(result: object) -> Any:
    """A typed result: a resource or a list (an Error would have raised already)."""
    assert isinstance(result, scim2_models.Resource | ListResponse), result
    return result


def test_full_lifecycle_through_the_typed_api_raises_nothing(client: SyncSCIMClient) -> None:
    User, Group = _model(client, "User"), _model(client, "Group")
    new_ada = User(
        user_name="ada@example.com",
        display_name="Ada",
        external_id="ada-1",
        emails=[{"value": "ada@example.com", "type": "work", "primary": True}],
    )
    ada = ok(client.create(new_ada))
    assert ada.id and ada.meta.version == 'W/"1"'
    assert ok(client.query(User, ada.id)).user_name == "ada@example.com"

    by_name = {"filter": 'userName eq "ada@example.com"'}
    found = ok(client.query(User, query_parameters=by_name))
    assert [u.id for u in found.resources] == [ada.id]
    query: SearchRequest[Any] = SearchRequest.model_validate({"filter": 'externalId eq "ada-1"'})
    searched = ok(client.search(query))
    assert searched.total_results == 1

    rename = patch_op(
        User,
        {"op": "replace", "path": "displayName", "value": "Ada L."},
        {"op": "add", "path": "title", "value": "Analyst"},
    )
    patched = ok(client.modify(User, ada.id, rename))
    assert patched.display_name == "Ada L." and patched.title == "Analyst"

    patched.display_name = "Ada Lovelace"
    replaced = ok(client.replace(patched))  # sends If-Match with the version it read
    assert replaced.display_name == "Ada Lovelace" and replaced.meta.version == 'W/"3"'

    bob = ok(client.create(User(user_name="bob@example.com")))
    team = ok(client.create(Group(display_name="Engineering", members=[{"value": ada.id}])))
    assert [m.value for m in team.members] == [ada.id]

    add_bob = patch_op(Group, {"op": "add", "path": "members", "value": [{"value": bob.id}]})
    grown = ok(client.modify(Group, team.id, add_bob))
    assert {m.value for m in grown.members} == {ada.id, bob.id}
    drop_ada = patch_op(Group, {"op": "remove", "path": f'members[value eq "{ada.id}"]'})
    shrunk = ok(client.modify(Group, team.id, drop_ada))
    assert [m.value for m in shrunk.members] == [bob.id]
    assert [g.value for g in ok(client.query(User, bob.id)).groups] == [team.id]

    client.delete(Group, team.id)
    client.delete(User, ada.id)
    client.delete(User, bob.id)
    assert ok(client.query(User)).total_results == 0
