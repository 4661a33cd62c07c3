"""/Users and /Groups (RFC 7644 §3.3–3.6): one set of handlers serves both resource types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from scimlite.keys import SETTINGS, STORE
from scimlite.scim import patch as scim_patch
from scimlite.scim import render
from scimlite.scim.errors import InvalidValue
from scimlite.scim.filter import parse_filter, parse_path
from scimlite.scim.http import base_url, read_json, respond
from scimlite.scim.middleware import write_context
from scimlite.scim.models import parse_resource
from scimlite.scim.project import Projection, parse_projection
from scimlite.scim.schema import GROUP_RESOURCE, ResourceType
from scimlite.store import ListQuery, MembershipChange, Resource, ResourceStore, Update


@dataclass(frozen=True, slots=True)
class ResourceEndpoints:
    resource: ResourceType

    def _store(self, request: web.Request) -> ResourceStore:
        store = request.config_dict[STORE]
        return store.groups if self.resource is GROUP_RESOURCE else store.users

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
        body = render.to_wire(
            self.resource,
            record,
            base,
            self._projection(request) if projection is None else projection,
        )
        where = render.location(base, self.resource, record.id)
        return respond(
            body, status, etag=render.etag(record.version), location=where if created else None
        )

    async def list(self, request: web.Request) -> web.Response:
        """GET /Users, GET /Groups (RFC 7644 §3.4.2)."""
        return await self._query(request, dict(request.query))

    async def search(self, request: web.Request) -> web.Response:
        """POST /{type}/.search (RFC 7644 §3.4.3): the query travels in a SearchRequest."""
        body = await read_json(request)
        if not isinstance(body, dict):
            raise InvalidValue("a SearchRequest must be a JSON object")
        params = {
            k: v if isinstance(v, str) else ",".join(v) if isinstance(v, list) else str(v)
            for k, v in body.items()
            if k != "schemas"
        }
        return await self._query(request, params)

    async def _query(self, request: web.Request, params: dict[str, str]) -> web.Response:
        settings = request.config_dict[SETTINGS]
        start = max(1, _param_int(params, "startIndex", 1))
        count = min(max(0, _param_int(params, "count", settings.default_count)), settings.max_count)
        projection = parse_projection(
            self.resource, params.get("attributes"), params.get("excludedAttributes")
        )
        text = params.get("filter")
        sort_by = params.get("sortBy")
        order = (params.get("sortOrder") or "ascending").lower()
        if order not in ("ascending", "descending"):
            raise InvalidValue('sortOrder must be "ascending" or "descending"')
        query = ListQuery(
            filter=parse_filter(text, self.resource) if text else None,
            start_index=start,
            count=count,
            sort_by=parse_path(sort_by, self.resource).path if sort_by else None,
            descending=order == "descending",
            load_refs=projection.wants(_refs_attr(self.resource)),
        )
        page = await self._store(request).list(query)
        base = base_url(request)
        items = [render.to_wire(self.resource, r, base, projection) for r in page.items]
        return respond(render.list_response(items, page.total, start))

    async def get(self, request: web.Request) -> web.StreamResponse:
        """GET /{type}/{id} (RFC 7644 §3.4.1); If-None-Match → 304 (§3.14)."""
        projection = self._projection(request)
        record = await self._store(request).get(
            request.match_info["id"], load_refs=projection.wants(_refs_attr(self.resource))
        )
        if request.headers.get("If-None-Match") == render.etag(record.version):
            return web.Response(status=304, headers={"ETag": render.etag(record.version)})
        return self._render(request, record, projection=projection)

    async def create(self, request: web.Request) -> web.Response:
        """POST /{type} (RFC 7644 §3.3): 201 with Location."""
        parsed = parse_resource(self.resource, await read_json(request))
        ctx = write_context(request)
        ctx.quirks.extend(parsed.quirks)
        record = await self._store(request).create(parsed.doc, parsed.refs, ctx)
        return self._render(request, record, 201, created=True)

    async def replace(self, request: web.Request) -> web.Response:
        """PUT /{type}/{id} (RFC 7644 §3.5.1): replace; readOnly attributes are ignored."""
        parsed = parse_resource(self.resource, await read_json(request))
        ctx = write_context(request)
        ctx.quirks.extend(parsed.quirks)
        refs = parsed.refs
        if refs is None and self.resource is GROUP_RESOURCE:
            refs = []  # members is readWrite: a replace without it empties the team
        record = await self._store(request).replace(
            request.match_info["id"],
            parsed.doc,
            refs,
            request.headers.get("If-Match"),
            ctx,
        )
        return self._render(request, record)

    async def patch(self, request: web.Request) -> web.Response:
        """PATCH /{type}/{id} (RFC 7644 §3.5.2): all operations apply, or none do."""
        resource_id = request.match_info["id"]
        operations, quirks = scim_patch.parse_patch(await read_json(request))
        ctx = write_context(request)
        ctx.quirks.extend(quirks)

        def change(current: Resource) -> Update:
            result = scim_patch.apply_patch(
                self.resource, current.doc, operations, resource_id=resource_id
            )
            body: dict[str, Any] = {"schemas": [self.resource.schema.id], **result.doc}
            parsed = parse_resource(self.resource, body)
            return Update(
                doc=parsed.doc,
                membership=[MembershipChange(m.kind, tuple(m.user_ids)) for m in result.membership],
                quirks=result.quirks,
            )

        record = await self._store(request).update(
            resource_id, change, request.headers.get("If-Match"), ctx
        )
        return self._render(request, record)

    async def delete(self, request: web.Request) -> web.Response:
        """DELETE /{type}/{id} (RFC 7644 §3.6): 204, memberships go with it."""
        await self._store(request).delete(
            request.match_info["id"], request.headers.get("If-Match"), write_context(request)
        )
        return web.Response(status=204)


def _refs_attr(resource: ResourceType) -> str:
    return "members" if resource is GROUP_RESOURCE else "groups"


def _param_int(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidValue(f"{name} must be an integer, got {raw!r}") from None


def add_routes(app: web.Application, resource: ResourceType) -> None:
    endpoints = ResourceEndpoints(resource)
    base = resource.endpoint
    app.router.add_get(base, endpoints.list)
    app.router.add_post(base, endpoints.create)
    app.router.add_post(f"{base}/.search", endpoints.search)
    app.router.add_get(f"{base}/{{id}}", endpoints.get)
    app.router.add_put(f"{base}/{{id}}", endpoints.replace)
    app.router.add_patch(f"{base}/{{id}}", endpoints.patch)
    app.router.add_delete(f"{base}/{{id}}", endpoints.delete)
