"""/Users and /Groups (RFC 7644 §3.3–3.6): one set of handlers serves both resource types."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from aiohttp import web

from scimlite.api import route
from scimlite.api.errors import write_context
from scimlite.api.http import base_url, expected_versions, read_json, respond, respond_chunks
from scimlite.api.query import QueryPlan, encode_cursor, plan_query, refs_attr, search_params
from scimlite.keys import SETTINGS, STORE
from scimlite.scim import patch as scim_patch
from scimlite.scim import render
from scimlite.scim.errors import ScimError
from scimlite.scim.evaluate import for_resource_type
from scimlite.scim.models import parse_resource, validate_patched
from scimlite.scim.project import Projection, parse_projection
from scimlite.scim.schema import RESOURCE_TYPES, ResourceType
from scimlite.store import ListQuery, Page, Resource, ResourceStore, Update


@dataclass(frozen=True, slots=True)
class ResourceEndpoints:
    resource: ResourceType

    def _store(self, request: web.Request) -> ResourceStore:
        return request.app[STORE].resources(self.resource)

    def _projection(self, request: web.Request) -> Projection:
        return parse_projection(
            self.resource,
            request.query.get("attributes"),
            request.query.get("excludedAttributes"),
        )

    def _render(
        self,
        request: web.Request,
        record: Resource,
        status: int = 200,
        projection: Projection | None = None,
        *,
        created: bool = False,
    ) -> web.Response:
        base = base_url(request)
        shown = self._projection(request) if projection is None else projection
        tag = render.etag(record.version)
        where = render.location(base, self.resource, record.id) if created else None
        if render.large(record):
            chunks = render.wire_chunks(self.resource, record, base, shown)
            return respond_chunks(chunks, status, etag=tag, location=where)
        body = render.to_wire(self.resource, record, base, shown)
        return respond(body, status, etag=tag, location=where)

    async def list(self, request: web.Request) -> web.Response:
        """GET /Users, GET /Groups (RFC 7644 §3.4.2)."""
        return await self._query(request, dict(request.query))

    async def search(self, request: web.Request) -> web.Response:
        """POST /{type}/.search (RFC 7644 §3.4.3): the query travels in a SearchRequest."""
        return await self._query(request, await search_params(request))

    async def _query(self, request: web.Request, params: dict[str, str]) -> web.Response:
        plan = plan_query(self.resource, params, request.app[SETTINGS])
        page = await self._store(request).list_page(plan.query)
        base, n = base_url(request), len(page.items)
        start: int | None = plan.query.start_index
        next_cursor = None
        if plan.cursor:
            start = None
            if page.more and plan.query.sort_by is None and page.last_position is not None:
                next_cursor = encode_cursor("k", page.last_position)
            elif page.more:
                next_cursor = encode_cursor("o", plan.query.start_index - 1 + n)
        records: Sequence[Resource] = page.items
        if n <= 1:  # an exists-check's answer: rendered in one piece, unless a large roster
            records = list(records)  # parsed once
            if not any(render.large(r) for r in records):
                shown = [render.to_wire(self.resource, r, base, plan.projection) for r in records]
                return respond(render.list_response(shown, page.total, start, next_cursor))
        # Streamed: page.items parses each row only when it is rendered (store/kinds.py Rows).
        items = (render.wire_chunks(self.resource, r, base, plan.projection) for r in records)
        return respond_chunks(render.list_chunks(items, n, page.total, start, next_cursor))

    async def get(self, request: web.Request) -> web.StreamResponse:
        """GET /{type}/{id} (RFC 7644 §3.4.1); If-None-Match → 304 (§3.14)."""
        projection = self._projection(request)
        record = await self._store(request).get(
            request.match_info["id"], load_refs=projection.wants(refs_attr(self.resource))
        )
        if request.headers.get("If-None-Match") == render.etag(record.version):
            return web.Response(status=304, headers={"ETag": render.etag(record.version)})
        return self._render(request, record, projection=projection)

    async def create(self, request: web.Request) -> web.Response:
        """POST /{type} (RFC 7644 §3.3): 201 with Location."""
        parsed = parse_resource(self.resource, await read_json(request))
        ctx = write_context(request)
        ctx.quirks.extend(parsed.quirks)
        projection = self._projection(request)
        record = await self._store(request).create(
            parsed.doc, parsed.refs, ctx, load_refs=projection.wants(refs_attr(self.resource))
        )
        return self._render(request, record, 201, projection, created=True)

    async def replace(self, request: web.Request) -> web.Response:
        """PUT /{type}/{id} (RFC 7644 §3.5.1): replace; readOnly attributes are ignored."""
        parsed = parse_resource(self.resource, await read_json(request))
        refs = parsed.replace_refs(self.resource)
        ctx = write_context(request)
        ctx.quirks.extend(parsed.quirks)
        projection = self._projection(request)
        record = await self._store(request).replace(
            request.match_info["id"],
            parsed.doc,
            refs,
            expected_versions(request.headers.get("If-Match")),
            ctx,
            load_refs=projection.wants(refs_attr(self.resource)),
        )
        return self._render(request, record, projection=projection)

    async def patch(self, request: web.Request) -> web.Response:
        """PATCH /{type}/{id} (RFC 7644 §3.5.2): all operations apply, or none do."""
        resource_id = request.match_info["id"]
        operations, quirks = scim_patch.parse_patch(await read_json(request))
        ctx = write_context(request)
        ctx.quirks.extend(quirks)
        change = patch_change(self.resource, resource_id, operations)
        projection = self._projection(request)
        record = await self._store(request).update(
            resource_id,
            change,
            expected_versions(request.headers.get("If-Match")),
            ctx,
            load_refs=projection.wants(refs_attr(self.resource)),
        )
        return self._render(request, record, projection=projection)

    async def delete(self, request: web.Request) -> web.Response:
        """DELETE /{type}/{id} (RFC 7644 §3.6): 204, memberships go with it."""
        expected = expected_versions(request.headers.get("If-Match"))
        resource_id, ctx = request.match_info["id"], write_context(request)
        await self._store(request).delete(resource_id, expected, ctx)
        return web.Response(status=204)


def patch_change(
    resource: ResourceType, resource_id: str, operations: list[scim_patch.PatchOperation]
) -> Callable[[Resource], Update]:
    """The read-modify-write step of a PATCH, shared by PATCH /{type}/{id} and /Bulk."""

    def change(current: Resource) -> Update:
        result = scim_patch.apply_patch(resource, current.doc, operations, resource_id=resource_id)
        # One validation of the result; models.validate_patched says why one is enough.
        doc = validate_patched(resource, result.doc)
        return Update(doc=doc, membership=result.membership, quirks=result.quirks)

    return change


async def root_search(request: web.Request) -> web.Response:
    """POST /.search (RFC 7644 §3.4.3): Users, then Groups, paged as one list."""
    return await _root_query(request, await search_params(request))


async def root_list(request: web.Request) -> web.Response:
    """GET /scim/v2 and /scim/v2/: the root query (RFC 7644 §3.4.2.1), as POST /.search.

    It also says where discovery is (RFC 8288 links), for a client that starts at the base
    URL it was given instead of 404.
    """
    response = await _root_query(request, dict(request.query))
    base = base_url(request)
    response.headers["Link"] = ", ".join(
        f'<{base}{p}>; rel="describedby"'
        for p in ("/ResourceTypes", "/Schemas", "/ServiceProviderConfig")
    )
    return response


async def _root_query(request: web.Request, params: dict[str, str]) -> web.Response:
    """A query across resource types: Users, then Groups, paged as one list.

    A filter naming attributes of one type only searches that type, as does one testing
    `meta.resourceType`; one that fits no type is a 400 invalidFilter.
    """
    settings = request.app[SETTINGS]
    store = request.app[STORE]
    plans: list[tuple[ResourceType, ResourceStore, QueryPlan]] = []
    first_error: ScimError | None = None
    paging: ListQuery | None = None  # startIndex and count, read as any type reads them
    for resource in RESOURCE_TYPES:  # Users, then Groups
        try:
            plan = plan_query(resource, params, settings, lenient=True)
        except ScimError as exc:
            first_error = first_error or exc
            continue
        paging = paging or plan.query
        narrowed = (
            True if plan.query.filter is None else for_resource_type(plan.query.filter, resource)
        )
        if narrowed is False:
            continue  # this type is not asked for
        query = replace(plan.query, filter=None if narrowed is True else narrowed)
        plans.append((resource, store.resources(resource), replace(plan, query=query)))
    if paging is None:
        assert first_error is not None
        raise first_error
    start, count = paging.start_index, paging.count
    skip, base, total, n = start - 1, base_url(request), 0, 0
    pages: list[tuple[ResourceType, QueryPlan, Page]] = []
    for resource, rstore, plan in plans:
        page = await rstore.list_page(replace(plan.query, start_index=skip + 1, count=count - n))
        skip = max(0, skip - page.total)
        total += page.total
        n += len(page.items)
        pages.append((resource, plan, page))
    items = (
        render.wire_chunks(resource, r, base, plan.projection)
        for resource, plan, page in pages
        for r in page.items
    )
    return respond_chunks(render.list_chunks(items, n, total, start))


def add_routes(app: web.Application, resource: ResourceType) -> None:
    endpoints = ResourceEndpoints(resource)
    base, one = route(resource.endpoint), route(f"{resource.endpoint}/{{id}}")
    app.router.add_get(base, endpoints.list)
    app.router.add_post(base, endpoints.create)
    app.router.add_post(route(f"{resource.endpoint}/.search"), endpoints.search)
    app.router.add_get(one, endpoints.get)
    app.router.add_put(one, endpoints.replace)
    app.router.add_patch(one, endpoints.patch)
    app.router.add_delete(one, endpoints.delete)
