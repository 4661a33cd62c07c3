"""POST /Bulk (RFC 7644 §3.7): many writes in one request, in a bounded number of transactions.

Operations run in dependency order (`bulk.plan`) in chunks of `CHUNK` per `Store.batch()`
transaction; each operation runs in its own savepoint, so a failing one rolls back alone and
the others commit (RFC 7644 §3.7 does not make a BulkRequest atomic). Failed operations are
journaled after their chunk commits. docs/bulk.md explains the choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from scimlite.api import SCIM_PREFIX, route
from scimlite.api.errors import scim_error, write_context
from scimlite.api.handlers.resources import patch_change
from scimlite.api.http import base_url, expected_versions, read_json, respond
from scimlite.keys import STORE
from scimlite.scim import bulk, render
from scimlite.scim import patch as scim_patch
from scimlite.scim.errors import InvalidValue, NotFound, ScimError
from scimlite.scim.models import parse_resource
from scimlite.scim.schema import RESOURCE_TYPES, ResourceType
from scimlite.store import Resource, ResourceStore, Store, WriteContext
from scimlite.store.database import Batch
from scimlite.store.errors import StoreError

# Operations per transaction: one fsync per chunk, and the writer lock is released between
# chunks so other clients' writes wait for at most one chunk.
CHUNK = 250


def _target(path: str) -> tuple[ResourceType, str | None]:
    """`/Users` → (User, None); `/Groups/{id}` → (Group, id)."""
    parts = path.strip("/").split("/")
    resource = next((r for r in RESOURCE_TYPES if r.endpoint == "/" + parts[0]), None)
    if resource is None or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
        raise NotFound(f'no SCIM endpoint at "{path}"; Bulk accepts /Users and /Groups paths')
    return resource, parts[1] if len(parts) == 2 else None


@dataclass(slots=True)
class _Run:
    """The state of one BulkRequest: ids created so far and results collected."""

    store: Store
    base: str
    request: web.Request
    created: dict[str, str] = field(default_factory=dict)  # bulkId → new id
    failed: set[str] = field(default_factory=set)  # bulkIds whose operation failed
    results: list[bulk.OperationResult] = field(default_factory=list)
    failures: list[tuple[WriteContext, ScimError, str]] = field(default_factory=list)

    def errors(self) -> int:
        return sum(1 for r in self.results if r.error is not None)

    def _check_refs(self, op: bulk.BulkOperation) -> None:
        for ref in sorted(op.refs):
            if ref in self.failed:
                detail = f'bulkId "{ref}" refers to an operation that failed'
                raise ScimError(detail, status=409)
            if ref not in self.created:
                raise InvalidValue(f'bulkId "{ref}" is not the bulkId of any POST in this request')

    async def run(self, op: bulk.BulkOperation, batch: Batch) -> None:
        """Run one operation in its own savepoint and record its result."""
        path = bulk.substitute(op.path, self.created, in_path=True)
        ctx = write_context(self.request, op.method, f"{SCIM_PREFIX}{path}")
        try:
            self._check_refs(op)
            resource, resource_id = _target(path)
            data = bulk.substitute(op.data, self.created)
            result = await self._execute(op, resource, resource_id, data, ctx, batch)
        except ScimError as error:
            self.fail(op, ctx, error, path)
            return
        except StoreError as refused:
            self.fail(op, ctx, scim_error(refused), path)
            return
        self.results.append(result)

    def fail(self, op: bulk.BulkOperation, ctx: WriteContext, error: ScimError, path: str) -> None:
        if op.bulk_id is not None:
            self.failed.add(op.bulk_id)
        self.failures.append((ctx, error, path))
        # RFC 7644 §3.7.3: location is REQUIRED in a response, except when a POST failed.
        where = None if op.method == "POST" else f"{self.base}{path}"
        self.results.append(bulk.OperationResult(op, error.status, location=where, error=error))

    async def journal_failures(self) -> None:
        """Journal the failures collected so far; called as soon as their chunk commits, so a
        crash in a later chunk cannot lose them (docs/bulk.md)."""
        failures, self.failures = self.failures, []
        for ctx, error, path in failures:
            try:
                resource, resource_id = _target(path)
            except NotFound:  # not a /Users or /Groups path: the journal names no resource
                await self.store.record_failure(ctx, error.status, error.detail)
                continue
            await self.store.record_failure(
                ctx, error.status, error.detail, resource.id, resource_id
            )

    def stopped(self, limit: int | None) -> bool:
        """RFC 7644 §3.7.3: processing stops once `failOnErrors` operations have failed."""
        return limit is not None and self.errors() >= limit

    async def _execute(
        self,
        op: bulk.BulkOperation,
        resource: ResourceType,
        resource_id: str | None,
        data: object,
        ctx: WriteContext,
        batch: Batch,
    ) -> bulk.OperationResult:
        if (resource_id is None) != (op.method == "POST"):
            shape = f"{resource.endpoint}" if op.method == "POST" else f"{resource.endpoint}/{{id}}"
            raise InvalidValue(f'a {op.method} operation needs a path of the form "{shape}"')
        store = self.store.resources(resource)
        if op.method == "DELETE":
            assert resource_id is not None
            await store.delete(resource_id, expected_versions(op.version), ctx, batch=batch)
            where = render.location(self.base, resource, resource_id)
            return bulk.OperationResult(op, 204, location=where)
        record = await self._write(op, resource, store, resource_id, data, ctx, batch)
        if op.bulk_id is not None:
            self.created[op.bulk_id] = record.id
        return bulk.OperationResult(
            op,
            201 if op.method == "POST" else 200,
            location=render.location(self.base, resource, record.id),
            version=render.etag(record.version),
        )

    @staticmethod
    async def _write(
        op: bulk.BulkOperation,
        resource: ResourceType,
        store: ResourceStore,
        resource_id: str | None,
        data: object,
        ctx: WriteContext,
        batch: Batch,
    ) -> Resource:
        if op.method == "PATCH":
            assert resource_id is not None
            operations, quirks = scim_patch.parse_patch(data)
            ctx.quirks.extend(quirks)
            change = patch_change(resource, resource_id, operations)
            return await store.update(
                resource_id, change, expected_versions(op.version), ctx, batch=batch
            )
        parsed = parse_resource(resource, data)
        if op.method == "POST":
            ctx.quirks.extend(parsed.quirks)
            return await store.create(parsed.doc, parsed.refs, ctx, batch=batch)
        assert resource_id is not None
        refs = parsed.replace_refs(resource)
        ctx.quirks.extend(parsed.quirks)
        return await store.replace(
            resource_id, parsed.doc, refs, expected_versions(op.version), ctx, batch=batch
        )


async def post_bulk(request: web.Request) -> web.Response:
    """POST /Bulk: 200 with a BulkResponse; per-operation outcomes are in its `status`es."""
    request_body = bulk.parse_bulk(await read_json(request))
    run = _Run(request.app[STORE], base_url(request), request)
    plan = bulk.plan(request_body.operations)
    limit = request_body.fail_on_errors
    for start in range(0, len(plan.ordered), CHUNK):
        if run.stopped(limit):
            break
        async with run.store.batch() as batch:
            for op in plan.ordered[start : start + CHUNK]:
                if run.stopped(limit):
                    break
                await run.run(op, batch)
        await run.journal_failures()
    for op in plan.circular:
        if run.stopped(limit):
            break
        # RFC 7644 §3.7.1: circular references the server cannot resolve are a 409.
        refs = ", ".join(f'"{r}"' for r in sorted(op.refs))
        detail = f"circular bulkId reference: bulkIds {refs} depend on each other"
        ctx = write_context(request, op.method, f"{SCIM_PREFIX}{op.path}")
        run.fail(op, ctx, ScimError(detail, status=409), op.path)
    await run.journal_failures()
    return respond(bulk.bulk_response(run.results))


def add_routes(app: web.Application) -> None:
    app.router.add_post(route("/Bulk"), post_bulk)
