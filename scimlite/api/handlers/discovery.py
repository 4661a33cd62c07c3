"""Discovery endpoints (RFC 7644 §4) and /Me (§3.11), which scimlite does not offer."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from scimlite.api import SCIM_BASE, SCIM_PREFIX, fold, route
from scimlite.api.http import base_url, respond
from scimlite.keys import SETTINGS
from scimlite.scim import discovery, render
from scimlite.scim.errors import Forbidden, NotFound, NotImplementedScim

T = TypeVar("T")

# /serviceConfiguration: SCIM 1.1's name for /ServiceProviderConfig, which connectors use.
_PUBLIC = frozenset({"ServiceProviderConfig", "serviceConfiguration", "ResourceTypes", "Schemas"})


def is_public(path: str) -> bool:
    """Discovery may be read without a token (RFC 7644 §4): IdPs probe it before setup.
    A set lookup of the first segment after the base URL: it runs on every request."""
    folded = fold(path)
    if not folded.startswith(SCIM_BASE):
        return False
    return folded[len(SCIM_BASE) :].partition("/")[0] in _PUBLIC


def _no_filter(request: web.Request) -> None:
    # RFC 7644 §4: a filter on a discovery endpoint SHOULD be answered with 403.
    if "filter" in request.query:
        raise Forbidden(f"{request.path} does not support filtering; GET it without a filter")


async def service_provider_config(request: web.Request) -> web.Response:
    _no_filter(request)
    settings = request.app[SETTINGS]
    return respond(discovery.service_provider_config(settings, base_url(request)))


async def resource_types(request: web.Request) -> web.Response:
    _no_filter(request)
    items = discovery.resource_types(base_url(request))
    return respond(render.list_response(items, len(items), 1))


async def resource_type(request: web.Request) -> web.Response:
    _no_filter(request)
    wanted = request.match_info["id"]
    found = _one(discovery.find_resource_type(wanted), wanted, "resource type", "/ResourceTypes")
    return respond(discovery.resource_type(found, base_url(request)))


async def schemas(request: web.Request) -> web.Response:
    _no_filter(request)
    items = discovery.schemas(base_url(request))
    return respond(render.list_response(items, len(items), 1))


async def schema(request: web.Request) -> web.Response:
    _no_filter(request)
    wanted = request.match_info["urn"]
    found = _one(discovery.find_schema(wanted), wanted, "schema", "/Schemas")
    return respond(discovery.schema(found, base_url(request)))


def _one(found: T | None, wanted: str, what: str, listing: str) -> T:
    """The document asked for by its id, or a 404 that says where the list is."""
    if found is None:
        raise NotFound(f"no {what} {wanted!r}; GET {listing} lists them")
    return found


async def me(request: web.Request) -> web.Response:
    """RFC 7644 §3.11: /Me is optional; tokens here belong to IdPs, not to users."""
    raise NotImplementedScim(
        "/Me is not implemented: scimlite tokens identify a provisioning client, not a user"
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get(route("/ServiceProviderConfig"), service_provider_config)
    app.router.add_get(route("/serviceConfiguration"), service_provider_config)
    app.router.add_get(route("/ResourceTypes"), resource_types)
    app.router.add_get(route("/ResourceTypes/{id}"), resource_type)
    app.router.add_get(route("/Schemas"), schemas)
    app.router.add_get(route("/Schemas/{urn}"), schema)
    app.router.add_route("*", route("/Me"), me)
    app.router.add_route("*", SCIM_PREFIX + "/Me/{tail:.*}", me)
