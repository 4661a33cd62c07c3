"""scim2-models as an independent oracle: response bodies must validate in their context.

scimlite does not use scim2-models at run time; the tests use it to catch wire shapes that
only our own models would accept.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    BulkResponse,
    Context,
    EnterpriseUser,
    Error,
    Group,
    ListResponse,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    User,
)

UserModel = User[EnterpriseUser]
CREATED = Context.RESOURCE_CREATION_RESPONSE
QUERIED = Context.RESOURCE_QUERY_RESPONSE
REPLACED = Context.RESOURCE_REPLACEMENT_RESPONSE
PATCHED = Context.RESOURCE_PATCH_RESPONSE
SEARCHED = Context.SEARCH_RESPONSE


def user(body: dict[str, Any], context: Context = QUERIED) -> Any:
    return UserModel.model_validate(body, scim_ctx=context)


def group(body: dict[str, Any], context: Context = QUERIED) -> Any:
    return Group.model_validate(body, scim_ctx=context)


def users(body: dict[str, Any]) -> Any:
    return ListResponse[UserModel].model_validate(body, scim_ctx=QUERIED)


def groups(body: dict[str, Any]) -> Any:
    return ListResponse[Group].model_validate(body, scim_ctx=QUERIED)


def error(body: dict[str, Any]) -> Any:
    return Error.model_validate(body)


def service_provider_config(body: dict[str, Any]) -> Any:
    return ServiceProviderConfig.model_validate(body, scim_ctx=QUERIED)


def schemas(body: dict[str, Any]) -> Any:
    return ListResponse[Schema].model_validate(body, scim_ctx=QUERIED)


def schema(body: dict[str, Any]) -> Any:
    return Schema.model_validate(body, scim_ctx=QUERIED)


def resource_types(body: dict[str, Any]) -> Any:
    return ListResponse[ResourceType].model_validate(body, scim_ctx=QUERIED)


def resource_type(body: dict[str, Any]) -> Any:
    return ResourceType.model_validate(body, scim_ctx=QUERIED)


def bulk_response(body: dict[str, Any]) -> Any:
    return BulkResponse[UserModel | Group].model_validate(body, scim_ctx=Context.BULK_RESPONSE)
