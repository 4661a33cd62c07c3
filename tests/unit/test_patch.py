"""PATCH (RFC 7644 §3.5.2): the PatchOp message, operation semantics, IdP quirks, atomicity."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

import pytest

from scimlite.scim.errors import ScimError
from scimlite.scim.patch import (
    MAX_OPERATIONS,
    PatchOperation,
    PatchResult,
    apply_patch,
    parse_patch,
)
from scimlite.scim.records import MembershipChange
from scimlite.scim.schema import (
    ADSCIM_GROUP_SCHEMA,
    ENTERPRISE_USER_SCHEMA,
    GROUP_RESOURCE,
    PATCH_OP_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
    Attribute,
    ResourceType,
    Schema,
)
from tests.support import SAMPLES, sample

ENT = ENTERPRISE_USER_SCHEMA
GROUP_ID = "abf4dd94-a4c0-4f67-89c9-76b03340cb9b"

WORK = {"value": "bjensen@example.com", "type": "work", "primary": True}
HOME = {"value": "babs@home.example", "type": "home"}
USER: dict[str, Any] = {
    "userName": "bjensen@example.com",
    "externalId": "bjensen",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Babs Jensen",
    "active": True,
    "emails": [WORK, HOME],
    ENT: {"employeeNumber": "701984", "manager": {"value": "m-1", "$ref": "../Users/m-1"}},
}
USER_NO_WORK_EMAIL: dict[str, Any] = {**USER, "emails": [HOME]}
GROUP: dict[str, Any] = {"displayName": "Engineering", "externalId": "g-1"}
ROLE = {"id": "06b07648-ecfe-589f-9d2f-6325724a46ee", "value": "25", "displayName": "Role1234"}


def body(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_SCHEMA], "Operations": list(ops)}


def add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def remove(path: str) -> dict[str, Any]:
    return {"op": "remove", "path": path}


def run(
    resource: ResourceType,
    doc: dict[str, Any],
    *ops: dict[str, Any],
    resource_id: str | None = None,
) -> PatchResult:
    parsed, _ = parse_patch(body(*ops))
    return apply_patch(resource, doc, parsed, resource_id=resource_id)


def user(*ops: dict[str, Any]) -> dict[str, Any]:
    return run(USER_RESOURCE, USER, *ops).doc


def members(*ops: dict[str, Any]) -> list[MembershipChange]:
    return run(GROUP_RESOURCE, GROUP, *ops).membership


def error(call: Any) -> tuple[int, str | None]:
    with pytest.raises(ScimError) as info:
        call()
    return info.value.status, info.value.scim_type


def user_error(*ops: dict[str, Any]) -> tuple[int, str | None]:
    return error(lambda: user(*ops))


def group_error(*ops: dict[str, Any]) -> tuple[int, str | None]:
    return error(lambda: members(*ops))


def quirks_of(resource: ResourceType, doc: dict[str, Any], *ops: dict[str, Any]) -> str:
    parsed, parse_quirks = parse_patch(body(*ops))
    return "\n".join(parse_quirks + apply_patch(resource, doc, parsed).quirks)


# --- parse_patch -----------------------------------------------------------------------


def test_parse_patch_returns_operations_in_order() -> None:
    ops, quirks = parse_patch(
        body(
            add("title", "Boss"),
            remove("nickName"),
            {"op": "replace", "value": {"active": False}},
        )
    )
    assert ops == [
        PatchOperation(index=0, op="add", path="title", value="Boss"),
        PatchOperation(index=1, op="remove", path="nickName", value=None, has_value=False),
        PatchOperation(index=2, op="replace", path=None, value={"active": False}),
    ]
    assert quirks == []


def test_parse_patch_ignores_and_notes_members_it_does_not_define() -> None:
    """Microsoft's SCIMReferenceCode collections name operations ("name": "addMember") and
    repeat the resource's "id" in the body (issue #15 item 4)."""
    ops, quirks = parse_patch(
        {
            **body({"name": "addMember", "op": "add", "path": "members", "value": []}),
            "id": "x",
        }
    )
    assert ops == [PatchOperation(index=0, op="add", path="members", value=[])]
    assert quirks == [
        'PATCH body: ignored unknown member "id"',
        'Operations[0]: ignored unknown member "name"',
    ]


@pytest.mark.parametrize("op", ["Add", "Replace", "Remove", "REPLACE"])
def test_parse_patch_normalises_op_case_and_notes_it(op: str) -> None:
    ops, quirks = parse_patch(body({"op": op, "path": "title", "value": "x"}))
    assert ops[0].op == op.lower()
    assert quirks == [f'Operations[0]: op "{op}" normalised to "{op.lower()}"']


def test_parse_patch_reads_member_names_case_insensitively() -> None:
    # RFC 7643 §2.1: attribute names, message attributes included, are case-insensitive.
    ops, _ = parse_patch(
        {"SCHEMAS": [PATCH_OP_SCHEMA], "operations": [{"OP": "add", "Path": "title", "VALUE": "x"}]}
    )
    assert ops == [PatchOperation(index=0, op="add", path="title", value="x")]


def test_parse_patch_accepts_the_adscim_group_urn_and_notes_it() -> None:
    ops, quirks = parse_patch(
        {"schemas": [PATCH_OP_SCHEMA, ADSCIM_GROUP_SCHEMA], "Operations": [remove("members")]}
    )
    assert len(ops) == 1
    assert quirks == [f'ignored "{ADSCIM_GROUP_SCHEMA}" in "schemas" of a PATCH body']


def test_parse_patch_accepts_the_patchop_urn_in_any_case() -> None:
    ops, _ = parse_patch({"schemas": [PATCH_OP_SCHEMA.upper()], "Operations": [remove("title")]})
    assert len(ops) == 1


def test_parse_patch_accepts_exactly_the_maximum_number_of_operations() -> None:
    ops, _ = parse_patch(body(*[remove("title")] * MAX_OPERATIONS))
    assert len(ops) == MAX_OPERATIONS


REMOVE_TITLE = remove("title")


@pytest.mark.parametrize(
    ("request_body", "scim_type"),
    [
        pytest.param([REMOVE_TITLE], "invalidSyntax", id="body-not-object"),
        pytest.param({"Operations": [REMOVE_TITLE]}, "invalidSyntax", id="schemas-missing"),
        pytest.param(
            {"schemas": PATCH_OP_SCHEMA, "Operations": [REMOVE_TITLE]},
            "invalidSyntax",
            id="schemas-not-array",
        ),
        pytest.param(
            {"schemas": [USER_SCHEMA], "Operations": [REMOVE_TITLE]},
            "invalidSyntax",
            id="schemas-without-patchop",
        ),
        pytest.param(
            {"schemas": [PATCH_OP_SCHEMA, 1], "Operations": [REMOVE_TITLE]},
            "invalidSyntax",
            id="schemas-not-strings",
        ),
        pytest.param({"schemas": [PATCH_OP_SCHEMA]}, "invalidSyntax", id="operations-missing"),
        pytest.param(body(), "invalidSyntax", id="operations-empty"),
        pytest.param(
            {"schemas": [PATCH_OP_SCHEMA], "Operations": REMOVE_TITLE},
            "invalidSyntax",
            id="operations-not-array",
        ),
        pytest.param(
            body(*[REMOVE_TITLE] * (MAX_OPERATIONS + 1)), "invalidSyntax", id="too-many-operations"
        ),
        pytest.param(
            {**body(REMOVE_TITLE), "operations": []}, "invalidSyntax", id="duplicate-body-member"
        ),
        pytest.param(
            {"schemas": [PATCH_OP_SCHEMA], "Operations": ["remove"]},
            "invalidSyntax",
            id="operation-not-object",
        ),
        pytest.param(body({"path": "title", "value": "x"}), "invalidSyntax", id="op-missing"),
        pytest.param(body({"op": "move", "path": "title"}), "invalidSyntax", id="op-unknown"),
        pytest.param(body({"op": 1, "path": "title"}), "invalidSyntax", id="op-not-string"),
        pytest.param(
            body({"op": "add", "path": 1, "value": "x"}), "invalidSyntax", id="path-not-string"
        ),
        pytest.param(body({"op": "add", "path": "title"}), "invalidSyntax", id="add-without-value"),
        pytest.param(
            body({"op": "replace", "path": "title"}), "invalidSyntax", id="replace-without-value"
        ),
        # RFC 7644 §3.5.2.2: remove without a path is noTarget.
        pytest.param(body({"op": "remove"}), "noTarget", id="remove-without-path"),
        pytest.param(
            body({"op": "Remove", "value": [{"value": "u"}]}),
            "noTarget",
            id="remove-value-without-path",
        ),
    ],
)
def test_parse_patch_rejects(request_body: object, scim_type: str) -> None:
    assert error(lambda: parse_patch(request_body)) == (400, scim_type)


# --- real IdP request bodies -------------------------------------------------------------


def with_ent(doc: dict[str, Any], **ent: Any) -> dict[str, Any]:
    return {**doc, ENT: ent}


def with_work_email(doc: dict[str, Any], address: str) -> dict[str, Any]:
    return {**doc, "emails": [{**WORK, "value": address}, HOME]}


@pytest.mark.parametrize(
    ("name", "start", "expected", "notes"),
    [
        pytest.param(
            "entra/update_user_multi_valued.json",
            USER,
            {
                **with_work_email(USER, "updatedEmail@microsoft.com"),
                "name": {"givenName": "Barbara", "familyName": "updatedFamilyName"},
            },
            ['op "Replace" normalised to "replace"'],
            id="entra-update-user-multi-valued",
        ),
        pytest.param(
            "entra/update_user_single_valued.json",
            USER,
            {**USER, "userName": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},
            ['op "Replace" normalised'],
            id="entra-update-user-single-valued",
        ),
        pytest.param(
            "entra/disable_user.json", USER, {**USER, "active": False}, [], id="entra-disable-user"
        ),
        pytest.param(
            "entra/disable_user_string_false.json",
            USER,
            {**USER, "active": False},
            ['"active" string "False" read as boolean false'],
            id="entra-disable-user-string-false",
        ),
        pytest.param(
            "entra/add_single_value_attribute.json",
            USER,
            {**USER, "nickName": "Babs"},
            ['op "Add" normalised to "add"'],
            id="entra-add-single-value",
        ),
        pytest.param(
            "entra/replace_multiple_attributes.json",
            USER,
            {
                **with_work_email(USER, "TestBcwqnm@test.microsoft.com"),
                "displayName": "Pvlo",
                "name": {"givenName": "Gtfd", "familyName": "Pkqf"},
                "externalId": "Eqpj",
                ENT: {**USER[ENT], "employeeNumber": "Eqpj"},
            },
            [],
            id="entra-replace-multiple-attributes",
        ),
        pytest.param(
            "entra/replace_multiple_attributes_no_path.json",
            USER,
            {
                **with_work_email(USER, "TestMhvaes@test.microsoft.com"),
                "displayName": "Bjfe",
                "name": {"givenName": "Kkom", "familyName": "Unua"},
                ENT: {**USER[ENT], "employeeNumber": "Aklq"},
            },
            [
                'key "name.givenName" of a no-path value read as path "name.givenName"',
                f'key "{ENT}:employeeNumber" of a no-path value read as path',
            ],
            id="entra-replace-no-path-dotted-and-urn-keys",
        ),
        pytest.param(
            "entra/add_work_email_filter.json",
            USER_NO_WORK_EMAIL,
            {
                **USER_NO_WORK_EMAIL,
                "title": "tester",
                "emails": [HOME, {"type": "work", "value": "joe@example.com"}],
            },
            [],
            id="entra-add-work-email-by-filter",
        ),
        pytest.param(
            "entra/add_manager.json",
            USER,
            with_ent(
                USER,
                employeeNumber="701984",
                manager={"value": "26118915-6090-4610-87e4-49d8ca9f808d"},
            ),
            ['given as a bare id, read as {"value": id}'],
            id="entra-add-manager-bare-id",
        ),
        pytest.param(
            "entra/add_manager_reference_list.json",
            USER,
            with_ent(
                USER,
                employeeNumber="701984",
                manager={
                    "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                    "$ref": "http://example.com/scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                },
            ),
            [f'path "manager" read as "{ENT}:manager"', "given as a one-element array, unwrapped"],
            id="entra-add-manager-unqualified-list",
        ),
        pytest.param(
            "entra/remove_manager.json",
            USER,
            with_ent(USER, employeeNumber="701984"),
            [],
            id="entra-remove-manager",
        ),
        pytest.param(
            "entra/add_role_single_app_role_assignment.json",
            USER,
            {
                **USER,
                "roles": [{"value": json.dumps(ROLE, separators=(",", ":"))}],
            },
            [],
            id="entra-add-role",
        ),
        pytest.param(
            "entra/replace_roles_assertive.json",
            USER,
            {
                **USER,
                "roles": sample("entra/replace_roles_assertive.json")["Operations"][0]["value"],
            },
            [],
            id="entra-replace-roles",
        ),
        pytest.param(
            "entra/update_group_rename.json",
            GROUP,
            {**GROUP, "displayName": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"},
            [],
            id="entra-rename-group",
        ),
        pytest.param(
            "okta/deactivate_user.json",
            USER,
            {**USER, "active": False},
            [],
            id="okta-deactivate-user",
        ),
        pytest.param(
            "okta/rename_group.json",
            GROUP,
            {**GROUP, "displayName": "Test SCIMv2"},
            ['ignored "id" equal to the resource\'s own id'],
            id="okta-rename-group",
        ),
    ],
)
def test_idp_sample_patches_the_document(
    name: str, start: dict[str, Any], expected: dict[str, Any], notes: list[str]
) -> None:
    resource = GROUP_RESOURCE if start is GROUP else USER_RESOURCE
    ops, parse_quirks = parse_patch(sample(name))
    result = apply_patch(resource, start, ops, resource_id=GROUP_ID)
    assert result.doc == expected
    assert result.membership == []
    quirks = "\n".join(parse_quirks + result.quirks)
    for note in notes:
        assert note in quirks


@pytest.mark.parametrize(
    ("name", "expected", "notes"),
    [
        pytest.param(
            "entra/update_group_add_members.json",
            [MembershipChange("add", ("f648f8d5ea4e4cd38e9c",))],
            ['op "Add" normalised'],
            id="entra-add-members",
        ),
        pytest.param(
            "entra/update_group_remove_members.json",
            [MembershipChange("remove", ("f648f8d5ea4e4cd38e9c",))],
            ['"remove" of "members" with a value list read as removing those members'],
            id="entra-remove-members-value-list",
        ),
        pytest.param(
            "entra/update_group_remove_member_legacy.json",
            [MembershipChange("remove", ("u1091",))],
            ['"remove" of "members" with a value list'],
            id="entra-remove-member-legacy",
        ),
        pytest.param(
            "entra/update_group_remove_member_filter.json",
            [MembershipChange("remove", ("7f4bc1a3-285e-48ae-8202-5accb43efb0e",))],
            [],
            id="entra-remove-member-filter",
        ),
        pytest.param(
            "okta/update_group_members.json",
            [
                MembershipChange("remove", ("89bb1940-b905-4575-9e7f-6f887cfb368e",)),
                MembershipChange("add", ("23a35c27-23d3-4c03-b4c5-6443c09e7173",)),
            ],
            [],
            id="okta-remove-then-add-members",
        ),
        pytest.param(
            "okta/replace_group_members.json",
            [
                MembershipChange(
                    "replace",
                    (
                        "23a35c27-23d3-4c03-b4c5-6443c09e7173",
                        "89bb1940-b905-4575-9e7f-6f887cfb368e",
                    ),
                )
            ],
            [],
            id="okta-replace-members",
        ),
    ],
)
def test_idp_sample_changes_membership(
    name: str, expected: list[MembershipChange], notes: list[str]
) -> None:
    ops, parse_quirks = parse_patch(sample(name))
    result = apply_patch(GROUP_RESOURCE, GROUP, ops, resource_id=GROUP_ID)
    assert result.membership == expected
    assert result.doc == GROUP
    quirks = "\n".join(parse_quirks + result.quirks)
    for note in notes:
        assert note in quirks


def test_every_sample_file_is_in_a_table() -> None:
    # A sample added without a test would be a sample that proves nothing.
    source = Path(__file__).read_text()
    files = sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.glob("*/*.json"))
    assert [
        f for f in files if f.split("/")[0] in ("entra", "okta") and f'"{f}"' not in source
    ] == []


# --- Entra: replace with a value filter that matches nothing ----------------------------


def test_replace_filtered_sub_attribute_creates_the_missing_value() -> None:
    # Entra ID expects the work email to be created (RFC 7644 §3.5.2.3 would say noTarget).
    result = run(
        USER_RESOURCE,
        USER_NO_WORK_EMAIL,
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@x"},
    )
    assert result.doc["emails"] == [HOME, {"type": "work", "value": "new@x"}]
    assert result.quirks == [
        'Operations[0]: "emails[type eq "work"].value" matched no value; created one as Entra ID '
        'expects: {"type": "work", "value": "new@x"}'
    ]


def test_add_filtered_sub_attribute_creates_the_missing_value_without_a_note() -> None:
    result = run(USER_RESOURCE, USER_NO_WORK_EMAIL, add('emails[type eq "work"].value', "new@x"))
    assert result.doc["emails"] == [HOME, {"type": "work", "value": "new@x"}]
    assert result.quirks == []


def test_created_value_takes_every_equality_of_the_filter() -> None:
    doc = user(replace('phoneNumbers[type eq "mobile" and primary eq true].value', "555"))
    assert doc["phoneNumbers"] == [{"type": "mobile", "primary": True, "value": "555"}]


def test_created_primary_value_demotes_the_old_primary() -> None:
    doc = user(replace('emails[type eq "other" and primary eq true].value', "o@x"))
    assert doc["emails"] == [
        {**WORK, "primary": False},
        HOME,
        {"type": "other", "primary": True, "value": "o@x"},
    ]


def test_replace_filtered_sub_attribute_with_null_and_no_match_changes_nothing() -> None:
    assert user(replace('emails[type eq "other"].value', None)) == USER


@pytest.mark.parametrize(
    "path",
    [
        pytest.param('emails[value co "@other"].value', id="not-eq"),
        pytest.param('emails[type eq "x" or type eq "y"].value', id="or"),
        pytest.param("emails[not (value pr)].value", id="not"),
        pytest.param("emails[type eq null].value", id="eq-null"),
    ],
)
def test_filter_that_describes_no_value_is_no_target(path: str) -> None:
    assert user_error(replace(path, "a@x")) == (400, "noTarget")


# --- add, replace, remove (RFC 7644 §3.5.2.1–3) -----------------------------------------


def test_add_sets_a_single_valued_attribute() -> None:
    assert user(add("title", "Boss")) == {**USER, "title": "Boss"}


def test_add_replaces_an_existing_single_value() -> None:
    assert user(add("displayName", "B"))["displayName"] == "B"


def test_add_appends_to_a_multi_valued_attribute() -> None:
    doc = user(add("emails", [{"value": "c@x", "type": "other"}]))
    assert doc["emails"] == [WORK, HOME, {"value": "c@x", "type": "other"}]


def test_add_accepts_a_single_object_for_a_multi_valued_attribute() -> None:
    doc = user(add("emails", {"value": "c@x"}))
    assert doc["emails"] == [WORK, HOME, {"value": "c@x"}]


def test_add_skips_exact_duplicates() -> None:
    doc = user(add("emails", [HOME, {"type": "home", "value": "babs@home.example"}]))
    assert doc["emails"] == [WORK, HOME]


def test_add_merges_into_a_complex_attribute() -> None:
    doc = user(add("name", {"middleName": "J"}))
    assert doc["name"] == {"givenName": "Barbara", "familyName": "Jensen", "middleName": "J"}


def test_add_without_path_merges_attributes() -> None:
    doc = user({"op": "add", "value": {"title": "Boss", "name": {"honorificPrefix": "Ms."}}})
    assert doc == {**USER, "title": "Boss", "name": {**USER["name"], "honorificPrefix": "Ms."}}


def test_replace_sets_a_single_valued_attribute() -> None:
    assert user(replace("nickName", "Babs"))["nickName"] == "Babs"


def test_replace_replaces_all_values_of_a_multi_valued_attribute() -> None:
    doc = user(replace("emails", [{"value": "only@x", "primary": True}]))
    assert doc["emails"] == [{"value": "only@x", "primary": True}]


def test_replace_with_an_empty_array_clears_a_multi_valued_attribute() -> None:
    assert "emails" not in user(replace("emails", []))


def test_replace_leaves_unmentioned_sub_attributes_unchanged() -> None:
    doc = user(replace("name", {"givenName": "Babs"}))
    assert doc["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_replace_with_a_null_sub_attribute_removes_it() -> None:
    doc = user(replace("name", {"givenName": None}))
    assert doc["name"] == {"familyName": "Jensen"}


def test_replace_with_null_unassigns_the_attribute() -> None:
    # RFC 7643 §2.5: null is equivalent to unassigned.
    assert "displayName" not in user(replace("displayName", None))


def test_replace_without_path_sets_each_attribute() -> None:
    doc = user({"op": "replace", "value": {"displayName": "B", "active": False}})
    assert doc == {**USER, "displayName": "B", "active": False}


def test_remove_unassigns_the_attribute() -> None:
    assert "displayName" not in user(remove("displayName"))


def test_remove_of_an_unassigned_attribute_changes_nothing() -> None:
    assert user(remove("title")) == USER


def test_remove_of_a_multi_valued_attribute_removes_all_values() -> None:
    assert "emails" not in user(remove("emails"))


def test_operations_apply_in_order() -> None:
    doc = user(add("title", "A"), remove("title"), add("title", "B"))
    assert doc["title"] == "B"


# --- sub-attributes and value filters ---------------------------------------------------


def test_add_sets_a_sub_attribute() -> None:
    assert user(add("name.middleName", "J"))["name"]["middleName"] == "J"


def test_add_sub_attribute_creates_the_complex_attribute() -> None:
    doc = run(USER_RESOURCE, {"userName": "b"}, add("name.givenName", "B")).doc
    assert doc == {"userName": "b", "name": {"givenName": "B"}}


def test_remove_sub_attribute() -> None:
    assert user(remove("name.givenName"))["name"] == {"familyName": "Jensen"}


def test_removing_the_last_sub_attribute_removes_the_complex_attribute() -> None:
    doc = user(remove("name.givenName"), remove("name.familyName"))
    assert "name" not in doc


def test_replace_filtered_sub_attribute_changes_matching_values() -> None:
    doc = user(replace('emails[type eq "work"].value', "new@x"))
    assert doc["emails"] == [{**WORK, "value": "new@x"}, HOME]


def test_value_filters_compare_case_insensitively() -> None:
    doc = user(replace('emails[type eq "WORK"].value', "new@x"))
    assert doc["emails"] == [{**WORK, "value": "new@x"}, HOME]


def test_replace_filtered_value_replaces_matching_values_whole() -> None:
    doc = user(replace('emails[type eq "home"]', {"value": "h@x"}))
    assert doc["emails"] == [WORK, {"value": "h@x"}]


def test_add_filtered_value_merges_into_matching_values() -> None:
    doc = user(add('emails[type eq "home"]', {"display": "Home"}))
    assert doc["emails"] == [WORK, {**HOME, "display": "Home"}]


def test_remove_filtered_values() -> None:
    assert user(remove('emails[type eq "home"]'))["emails"] == [WORK]


def test_remove_filtered_sub_attribute() -> None:
    doc = user(remove('emails[type eq "work"].primary'))
    assert doc["emails"] == [{"value": "bjensen@example.com", "type": "work"}, HOME]


def test_removing_every_value_by_filter_removes_the_attribute() -> None:
    assert "emails" not in user(remove("emails[value pr]"))


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(remove('emails[type eq "other"]'), id="remove"),
        pytest.param(remove('emails[type eq "other"].display'), id="remove-sub"),
        pytest.param(replace('emails[type eq "other"]', {"value": "o@x"}), id="replace-value"),
        pytest.param(add('emails[type eq "other"]', {"value": "o@x"}), id="add-value"),
    ],
)
def test_filter_matching_nothing_is_no_target(op: dict[str, Any]) -> None:
    # RFC 7644 §3.5.2.2, §3.5.2.3.
    assert user_error(op) == (400, "noTarget")


# --- primary (RFC 7643 §2.4) -------------------------------------------------------------


def test_adding_a_primary_value_demotes_the_old_primary() -> None:
    doc = user(add("emails", [{"value": "c@x", "primary": True}]))
    assert doc["emails"] == [{**WORK, "primary": False}, HOME, {"value": "c@x", "primary": True}]


def test_setting_primary_through_a_filter_demotes_the_old_primary() -> None:
    doc = user(replace('emails[type eq "home"].primary', True))
    assert doc["emails"] == [{**WORK, "primary": False}, {**HOME, "primary": True}]


def test_re_adding_the_primary_value_keeps_it_primary() -> None:
    assert user(add("emails", [WORK]))["emails"] == [WORK, HOME]


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(
            replace("emails", [{"value": "a", "primary": True}, {"value": "b", "primary": True}]),
            id="replace",
        ),
        pytest.param(
            add("emails", [{"value": "a", "primary": True}, {"value": "b", "primary": True}]),
            id="add",
        ),
        pytest.param(replace("emails[value pr].primary", True), id="filter-matches-two"),
    ],
)
def test_two_primary_values_are_invalid(op: dict[str, Any]) -> None:
    assert user_error(op) == (400, "invalidValue")


# --- the enterprise extension -----------------------------------------------------------


def test_add_extension_attribute_by_urn_path() -> None:
    doc = user(add(f"{ENT}:department", "Tour Operations"))
    assert doc[ENT] == {**USER[ENT], "department": "Tour Operations"}


def test_add_extension_attribute_creates_the_extension_object() -> None:
    doc = run(USER_RESOURCE, {"userName": "b"}, add(f"{ENT}:costCenter", "4130")).doc
    assert doc == {"userName": "b", ENT: {"costCenter": "4130"}}


def test_add_whole_extension_object_merges_it() -> None:
    doc = user(add(ENT, {"division": "Theme Park"}))
    assert doc[ENT] == {**USER[ENT], "division": "Theme Park"}


def test_no_path_value_with_an_extension_object() -> None:
    doc = user({"op": "replace", "value": {ENT: {"employeeNumber": "2"}}})
    assert doc[ENT] == {**USER[ENT], "employeeNumber": "2"}


def test_remove_whole_extension_object() -> None:
    assert ENT not in user(remove(ENT))


def test_removing_the_last_extension_attribute_removes_the_extension_object() -> None:
    doc = user(remove(f"{ENT}:manager"), remove(f"{ENT}:employeeNumber"))
    assert ENT not in doc


def test_manager_as_object_keeps_its_reference() -> None:
    doc = user(replace(f"{ENT}:manager", {"value": "m-2", "$ref": "../Users/m-2"}))
    assert doc[ENT]["manager"] == {"value": "m-2", "$ref": "../Users/m-2"}


def test_manager_pointing_elsewhere_drops_the_stale_reference() -> None:
    doc = user(replace(f"{ENT}:manager", {"value": "m-2"}))
    assert doc[ENT]["manager"] == {"value": "m-2"}


def test_manager_value_sub_attribute_path() -> None:
    doc = user(replace(f"{ENT}:manager.value", "m-2"))
    assert doc[ENT]["manager"] == {"value": "m-2", "$ref": "../Users/m-1"}


def test_read_only_sub_attribute_in_a_value_is_ignored_and_noted() -> None:
    result = run(
        USER_RESOURCE, USER, replace(f"{ENT}:manager", {"value": "m-2", "displayName": "Boss"})
    )
    assert result.doc[ENT]["manager"] == {"value": "m-2"}
    assert result.quirks == [f'Operations[0]: ignored readOnly "{ENT}:manager.displayName"']


# --- quirks: names, types, URN and dotted keys -------------------------------------------


def test_attribute_names_are_case_insensitive() -> None:
    doc = user(replace("NAME.GIVENNAME", "B"), replace("UserName", "u"))
    assert (doc["name"]["givenName"], doc["userName"]) == ("B", "u")


def test_sub_attribute_keys_in_a_value_are_canonicalised_and_noted() -> None:
    result = run(USER_RESOURCE, USER, replace("name", {"GIVENNAME": "B"}))
    assert result.doc["name"] == {"givenName": "B", "familyName": "Jensen"}
    assert result.quirks == ['Operations[0]: "name.GIVENNAME" read as "name.givenName"']


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("displayname", {"displayName": "B"}, id="case"),
        pytest.param(f"{USER_SCHEMA}:displayName", {"displayName": "B"}, id="core-urn"),
        pytest.param(
            f"{ENT}:department", {ENT: {**USER[ENT], "department": "B"}}, id="extension-urn"
        ),
        pytest.param(
            "name.familyName", {"name": {"givenName": "Barbara", "familyName": "B"}}, id="dotted"
        ),
    ],
)
def test_no_path_key_read_as_a_path_is_noted(key: str, expected: dict[str, Any]) -> None:
    result = run(USER_RESOURCE, USER, {"op": "replace", "value": {key: "B"}})
    assert result.doc == {**USER, **expected}
    assert len(result.quirks) == 1
    assert f'key "{key}" of a no-path value read as path' in result.quirks[0]


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        pytest.param("True", True, id="True"),
        pytest.param("False", False, id="False"),
        pytest.param("true", True, id="lower"),
        pytest.param("FALSE", False, id="upper"),
    ],
)
def test_boolean_given_as_string_is_coerced_and_noted(text: str, flag: bool) -> None:
    result = run(USER_RESOURCE, USER, replace("active", text))
    assert result.doc["active"] is flag
    assert result.quirks == [
        f'Operations[0]: "active" string "{text}" read as boolean {text.lower()}'
    ]


def test_boolean_sub_attribute_given_as_string_is_coerced() -> None:
    doc = user(add("emails", [{"value": "c@x", "primary": "True"}]))
    assert doc["emails"][-1] == {"value": "c@x", "primary": True}


def test_okta_deactivation_without_path() -> None:
    assert user({"op": "replace", "value": {"active": False}})["active"] is False


def test_okta_group_rename_ignores_its_own_id() -> None:
    result = run(
        GROUP_RESOURCE,
        GROUP,
        {"op": "replace", "value": {"id": GROUP_ID, "displayName": "New"}},
        resource_id=GROUP_ID,
    )
    assert result.doc == {**GROUP, "displayName": "New"}


def test_password_is_accepted_and_discarded() -> None:
    result = run(USER_RESOURCE, USER, {"op": "replace", "value": {"password": "hunter2"}})
    assert result.doc == USER
    assert result.quirks == [
        'Operations[0]: "password" accepted and discarded (scimlite stores no passwords)'
    ]


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        # RFC 7644 §3.5.2: a client MUST NOT modify readOnly or immutable attributes.
        pytest.param(replace("id", "x"), (400, "mutability"), id="id"),
        pytest.param(
            replace("meta.created", "2020-01-01T00:00:00Z"), (400, "mutability"), id="meta-sub"
        ),
        pytest.param(remove("meta"), (400, "mutability"), id="meta"),
        pytest.param(
            {"op": "replace", "value": {"id": "other"}},
            (400, "mutability"),
            id="no-path-foreign-id",
        ),
        pytest.param(
            replace(f"{ENT}:manager.displayName", "x"),
            (400, "mutability"),
            id="manager-displayName",
        ),
        # RFC 7644 §3.12 invalidValue: a required value is missing.
        pytest.param(remove("userName"), (400, "invalidValue"), id="remove-userName"),
        pytest.param(replace("userName", None), (400, "invalidValue"), id="null-userName"),
        pytest.param(
            {"op": "replace", "value": {"userName": None}},
            (400, "invalidValue"),
            id="no-path-null-userName",
        ),
        # Paths that name nothing.
        pytest.param(add("shoeSize", "9"), (400, "invalidPath"), id="unknown-attribute"),
        pytest.param(add("name.nickName", "x"), (400, "invalidPath"), id="unknown-sub-attribute"),
        pytest.param(
            add(f"{ENT}:shoeSize", "9"), (400, "invalidPath"), id="unknown-extension-attribute"
        ),
        pytest.param(
            add("urn:example:ext:1.0:User:x", "9"), (400, "invalidPath"), id="unknown-schema"
        ),
        pytest.param(
            add(ENT, {"shoeSize": "9"}), (400, "invalidPath"), id="unknown-in-extension-object"
        ),
        pytest.param(
            {"op": "replace", "value": {"shoeSize": "9"}},
            (400, "invalidPath"),
            id="unknown-no-path-key",
        ),
        pytest.param(
            replace('emails[type eq "work"', "x"), (400, "invalidPath"), id="unclosed-filter"
        ),
        pytest.param(
            replace("emails.value", "x"), (400, "invalidPath"), id="multi-valued-sub-without-filter"
        ),
        pytest.param(
            replace('name[givenName eq "B"].familyName', "x"),
            (400, "invalidPath"),
            id="filter-on-single-valued",
        ),
        pytest.param(
            add("manager.bogus", "x"), (400, "invalidPath"), id="unqualified-extension-sub"
        ),
        # Values that do not fit the schema.
        pytest.param(replace("userName", ["u"]), (400, "invalidValue"), id="string-from-array"),
        pytest.param(replace("userName", {"u": 1}), (400, "invalidValue"), id="string-from-object"),
        pytest.param({"op": "replace", "value": None}, (400, "invalidValue"), id="no-path-null"),
        pytest.param(
            replace("active", "yes"), (400, "invalidValue"), id="boolean-from-other-string"
        ),
        pytest.param(replace("active", 1), (400, "invalidValue"), id="boolean-from-number"),
        pytest.param(replace("userName", 5), (400, "invalidValue"), id="string-from-number"),
        pytest.param(replace("name", "B J"), (400, "invalidValue"), id="complex-from-string"),
        pytest.param(
            replace("name", {"nick": "B"}), (400, "invalidValue"), id="unknown-sub-in-value"
        ),
        # A bare string is read as {"value": …} (LiteLLM), but addresses have no "value".
        pytest.param(
            add("addresses", ["1 Main St"]), (400, "invalidValue"), id="multi-complex-from-string"
        ),
        pytest.param(
            replace('emails[type eq "work"]', "a@x"),
            (400, "invalidValue"),
            id="filtered-value-from-string",
        ),
        pytest.param(replace(f"{ENT}:manager", 7), (400, "invalidValue"), id="manager-from-number"),
        pytest.param(replace(ENT, "x"), (400, "invalidValue"), id="extension-from-string"),
        pytest.param(
            {"op": "replace", "value": "x"}, (400, "invalidValue"), id="no-path-value-not-object"
        ),
        # remove takes no value except Entra's members list.
        pytest.param(
            {"op": "remove", "path": "emails", "value": [HOME]},
            (400, "invalidSyntax"),
            id="remove-with-value",
        ),
        pytest.param(
            {"op": "remove", "path": "name.givenName", "value": "B"},
            (400, "invalidSyntax"),
            id="remove-sub-with-value",
        ),
        pytest.param(
            {"op": "remove", "path": 'emails[type eq "work"]', "value": "x"},
            (400, "invalidSyntax"),
            id="remove-filter-with-value",
        ),
    ],
)
def test_user_patch_rejects(op: dict[str, Any], expected: tuple[int, str]) -> None:
    assert user_error(op) == expected


def test_error_detail_names_the_operation_and_the_position() -> None:
    with pytest.raises(ScimError) as info:
        user(remove("title"), add("emails[type eq]", "x"))
    assert info.value.detail.startswith('Operations[1]: path "emails[type eq]": ')
    assert "position" in info.value.detail


def test_value_error_detail_names_the_attribute_and_what_was_sent() -> None:
    with pytest.raises(ScimError) as info:
        user(replace("name.givenName", ["B"]))
    assert info.value.detail == 'Operations[0]: "name.givenName" must be a string, not an array'


def test_group_display_name_cannot_be_removed() -> None:
    assert group_error(remove("displayName")) == (400, "invalidValue")


def test_okta_style_id_without_a_known_resource_id_is_a_mutability_error() -> None:
    op = {"op": "replace", "value": {"id": GROUP_ID, "displayName": "New"}}
    assert error(lambda: run(GROUP_RESOURCE, GROUP, op)) == (400, "mutability")


NUMBERS = ResourceType(
    "Thing",
    "Thing",
    "/Things",
    "A resource with numbers.",
    Schema(
        "urn:example:thing",
        "Thing",
        "Thing",
        (Attribute("count", "integer"), Attribute("weight", "decimal")),
    ),
)


@pytest.mark.parametrize(
    ("path", "value", "ok"),
    [
        pytest.param("count", 3, True, id="integer"),
        pytest.param("count", 2.5, False, id="integer-from-float"),
        pytest.param("count", True, False, id="integer-from-boolean"),
        pytest.param("count", "3", False, id="integer-from-string"),
        pytest.param("weight", 2.5, True, id="decimal"),
        pytest.param("weight", 2, True, id="decimal-from-integer"),
        pytest.param("weight", "2.5", False, id="decimal-from-string"),
    ],
)
def test_numbers_are_type_checked(path: str, value: object, ok: bool) -> None:
    ops, _ = parse_patch(body(add(path, value)))
    if ok:
        assert apply_patch(NUMBERS, {}, ops).doc == {path: value}
    else:
        assert error(lambda: apply_patch(NUMBERS, {}, ops)) == (400, "invalidValue")


# --- Group members: O(changed members), never the roster ---------------------------------


def test_add_members_names_only_the_added_users() -> None:
    changes = members(add("members", [{"value": "u1"}, {"value": "u2"}]))
    assert changes == [MembershipChange("add", ("u1", "u2"))]


def test_add_members_accepts_a_single_object() -> None:
    assert members(add("members", {"value": "u1"})) == [MembershipChange("add", ("u1",))]


def test_member_ids_are_deduplicated_in_order() -> None:
    changes = members(add("members", [{"value": "u2"}, {"value": "u1"}, {"value": "u2"}]))
    assert changes == [MembershipChange("add", ("u2", "u1"))]


def test_member_reference_attributes_are_ignored() -> None:
    value = [{"value": "u1", "$ref": None, "display": "Babs", "type": "User"}]
    assert members(add("members", value)) == [MembershipChange("add", ("u1",))]


def test_remove_members_by_filter_with_or() -> None:
    changes = members(remove('members[value eq "u1" or value eq "u2"]'))
    assert changes == [MembershipChange("remove", ("u1", "u2"))]


def test_remove_members_without_value_clears_the_team() -> None:
    assert members(remove("members")) == [MembershipChange("replace", ())]


def test_replace_members_with_an_empty_array_clears_the_team() -> None:
    assert members(replace("members", [])) == [MembershipChange("replace", ())]


def test_add_members_with_an_empty_array_changes_nothing() -> None:
    assert members(add("members", [])) == []


@pytest.mark.parametrize("op", ["add", "replace"])
def test_no_path_value_with_members(op: Literal["add", "replace"]) -> None:
    result = run(
        GROUP_RESOURCE,
        GROUP,
        {"op": op, "value": {"displayName": "New", "members": [{"value": "u1"}]}},
    )
    assert result.doc == {**GROUP, "displayName": "New"}
    assert result.membership == [MembershipChange(op, ("u1",))]


def test_membership_changes_keep_their_order() -> None:
    changes = members(
        replace("members", [{"value": "u1"}]),
        add("members", [{"value": "u2"}]),
        remove('members[value eq "u1"]'),
    )
    assert changes == [
        MembershipChange("replace", ("u1",)),
        MembershipChange("add", ("u2",)),
        MembershipChange("remove", ("u1",)),
    ]


def test_add_members_with_a_filter_adds_the_ids_it_names() -> None:
    """The same rule as User.groups (LiteLLM): filter and value both name members to add."""
    changes = members(add('members[value eq "u1"]', {"value": "u2"}))
    assert changes == [MembershipChange("add", ("u1", "u2"))]


def test_removing_a_member_needs_no_roster() -> None:
    # The store removes what is there; a PATCH never needs the team's current members.
    result = run(GROUP_RESOURCE, {"displayName": "Empty"}, remove('members[value eq "nobody"]'))
    assert result.membership == [MembershipChange("remove", ("nobody",))]


@pytest.mark.parametrize(
    ("op", "scim_type"),
    [
        pytest.param(remove('members[display eq "Babs"]'), "invalidFilter", id="filter-on-display"),
        pytest.param(remove('members[value co "u"]'), "invalidFilter", id="filter-not-eq"),
        pytest.param(
            remove('members[value eq "u1" and type eq "User"]'), "invalidFilter", id="filter-and"
        ),
        pytest.param(replace("members.value", "u1"), "invalidPath", id="sub-attribute"),
        pytest.param(add("members", ["u1"]), "invalidValue", id="value-not-object"),
        pytest.param(add("members", [{"display": "Babs"}]), "invalidValue", id="value-without-id"),
        pytest.param(add("members", [{"value": ""}]), "invalidValue", id="empty-id"),
        pytest.param(
            add("members", [{"value": "g2", "type": "Group"}]), "invalidValue", id="nested-group"
        ),
    ],
)
def test_members_patch_rejects(op: dict[str, Any], scim_type: str) -> None:
    assert group_error(op) == (400, scim_type)


# --- User groups: the same membership rules, from the user's side -----------------------
# LiteLLM maps "SCIM User Group Memberships → LiteLLM User-Team relationships", and its tests
# (BerriAI/litellm tests/test_litellm/proxy/management_endpoints/scim/test_scim_patch_user.py)
# change a user's teams with PATCH /Users/{id} on path "groups".


def groups(*ops: dict[str, Any]) -> list[MembershipChange]:
    return run(USER_RESOURCE, USER, *ops).membership


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        pytest.param(
            # test_patch_user_manages_group_memberships: add with a value list ...
            [add("groups", [{"value": "new-team"}])],
            [MembershipChange("add", ("new-team",))],
            id="litellm-add",
        ),
        pytest.param(
            # ... and remove with a value list (Entra's members form, on the user's side).
            [{"op": "remove", "path": "groups", "value": [{"value": "old-team"}]}],
            [MembershipChange("remove", ("old-team",))],
            id="litellm-remove-value-list",
        ),
        pytest.param(
            # test_apply_patch_ops_remove_group_filtered_path_without_value
            [remove('groups[value eq "team-1"]')],
            [MembershipChange("remove", ("team-1",))],
            id="litellm-remove-filter",
        ),
        pytest.param(
            # test_apply_patch_ops_add_group_filtered_path_without_value (double quotes here:
            # the filter grammar is strict, RFC 7644 §3.4.2.2)
            [{"op": "add", "path": 'groups[value eq "team-3"]'}],
            [MembershipChange("add", ("team-3",))],
            id="litellm-add-filter-no-value",
        ),
        pytest.param(
            # test_apply_patch_ops_replace_groups_empty_value_does_not_use_path_filter
            [replace('groups[value eq "team-1"]', [])],
            [MembershipChange("remove", ("team-1",))],
            id="litellm-replace-filter-empty",
        ),
        pytest.param(
            [replace('groups[value eq "t1"]', [{"value": "t2"}])],
            [MembershipChange("remove", ("t1",)), MembershipChange("add", ("t2",))],
            id="replace-filter",
        ),
        pytest.param(
            [replace("groups", [{"value": "t1"}, {"value": "t2"}])],
            [MembershipChange("replace", ("t1", "t2"))],
            id="replace-all",
        ),
        pytest.param([remove("groups")], [MembershipChange("replace", ())], id="remove-all"),
        pytest.param(
            [{"op": "replace", "value": {"groups": [{"value": "t1", "type": "direct"}]}}],
            [MembershipChange("replace", ("t1",))],
            id="no-path",
        ),
    ],
)
def test_user_groups_patch_changes_memberships(
    ops: list[dict[str, Any]], expected: list[MembershipChange]
) -> None:
    result = run(USER_RESOURCE, USER, *ops)
    assert result.membership == expected
    assert result.doc == USER  # memberships never enter the document


@pytest.mark.parametrize(
    ("op", "scim_type"),
    [
        # A bare string could be an id or a name: reading it would guess.
        pytest.param(add("groups", ["t1"]), "invalidValue", id="bare-string"),
        pytest.param(add("groups", [{"value": "t1", "type": "indirect"}]), "invalidValue"),
        pytest.param(replace("groups.display", "x"), "invalidPath", id="sub-attribute"),
        pytest.param(remove('groups[display eq "x"]'), "invalidFilter", id="filter-on-display"),
        pytest.param({"op": "add", "path": "groups"}, "invalidSyntax", id="add-no-value"),
    ],
)
def test_user_groups_patch_rejects(op: dict[str, Any], scim_type: str) -> None:
    assert error(lambda: groups(op)) == (400, scim_type)


def test_filtered_add_without_value_is_refused_outside_memberships() -> None:
    """Only a membership filter names the whole value; `emails[type eq "work"]` does not."""
    op = {"op": "add", "path": 'emails[type eq "work"]'}
    assert error(lambda: user(op)) == (400, "invalidSyntax")


# --- all or nothing ----------------------------------------------------------------------


def test_a_failing_operation_raises_and_leaves_the_input_unchanged() -> None:
    doc = copy.deepcopy(USER)
    ops, _ = parse_patch(
        body(
            replace("displayName", "Changed"),
            add("emails", [{"value": "c@x"}]),
            remove("userName"),
        )
    )
    with pytest.raises(ScimError):
        apply_patch(USER_RESOURCE, doc, ops)
    assert doc == USER


def test_a_successful_patch_returns_a_new_document() -> None:
    doc = copy.deepcopy(USER)
    result = run(
        USER_RESOURCE,
        doc,
        replace('emails[type eq "work"].value', "new@x"),
        replace("name.givenName", "B"),
    )
    assert doc == USER
    assert result.doc is not doc
    assert result.doc["emails"] is not doc["emails"]
