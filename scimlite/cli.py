"""The `scimlite` command: serve, tokens, demo database. Wiring only; logic lives elsewhere."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import orjson

from scimlite import __version__, demo, timeutil, tokens
from scimlite.api import SCIM_PREFIX, accesslog, server
from scimlite.api import events as events_api
from scimlite.api import webhooks as webhooks_api
from scimlite.api.workers import Supervisor, cores, inherited
from scimlite.app import create_app
from scimlite.assets import EXAMPLE_DB, shipped
from scimlite.banner import banner, describe, redacted
from scimlite.settings import Settings, SettingsError
from scimlite.store import Event, Store, TokenInfo, open_database
from scimlite.store.copy import Copied, copy_directory
from scimlite.store.database import Database, DatabaseError
from scimlite.store.errors import Conflict, NotFound
from scimlite.store.events import FellBehind, split_types, unknown_types
from scimlite.store.sqlite.backup import backup

BOOTSTRAP_TOKEN = "admin"  # noqa: S105 - the token's name, not a secret
MISSING = "check --db (or SCIMLITE_DB_PATH)"
# A copy reads the whole source in one snapshot: its read budget is an hour, not a request's.
COPY_BUDGET_MS = 3_600_000
Work = Callable[[Store], Awaitable[int]]


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(
        db_path=getattr(args, "db", None),
        database_url=getattr(args, "database_url", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        log_format=getattr(args, "log_format", None),
        workers=getattr(args, "workers", None),
        webhook_allow_private=getattr(args, "allow_private", None) or None,
    )


async def _with_store(settings: Settings, work: Work) -> int:
    db = open_database(
        path=settings.db_path,
        url=settings.database_url,
        readers=1,
        synchronous=settings.synchronous,
    )
    await db.open()
    try:
        return await work(Store(db))
    finally:
        await db.close()


def _run(settings: Settings, work: Work, *, create: bool = False, hint: str = MISSING) -> int:
    """Run `work` on the database: the one place subcommands open it.

    A missing file is refused unless `create` (a mistyped --db must not quietly make a new,
    empty database whose tokens the running server has never heard of); `hint` says what to
    do about it."""
    if settings.database_url is None and not create and not settings.db_path.exists():
        raise DatabaseError(f"no database at {settings.db_path}; {hint}")
    return asyncio.run(_with_store(settings, work))


def _bootstrap_token(settings: Settings, *, demo_run: bool = False) -> str | None:
    """On first start, create an admin token so the server is usable, and return it.

    A demo copy holds only its identity providers' tokens (`okta`, `entra`), whose secrets
    nobody knows: each demo run gets its own admin token."""
    secret: str | None = None

    async def work(store: Store) -> int:
        nonlocal secret
        if demo_run:
            _, secret = await store.create_token(BOOTSTRAP_TOKEN, "admin")
        elif (first := await store.create_first_token(BOOTSTRAP_TOKEN, "admin")) is not None:
            secret = first[1]
        return 0

    _run(settings, work, create=True)
    return secret


def _serve(settings: Settings, socket_sets: list[list[socket.socket]], *, demo: bool) -> int:
    """Create or open the database, print the banner, serve on the bound sockets: in this
    process, or in one worker process per socket set (api/workers.py)."""
    workers = len(socket_sets)
    try:
        created = settings.database_url is None and not settings.db_path.exists()
        secret = _bootstrap_token(settings, demo_run=demo)
        text = banner(settings, secret=secret, created=created, demo=demo, workers=workers)
        print(text, flush=True)
        if workers == 1:
            served = server.run(create_app(settings), settings, socket_sets[0])
            stopped = f"stopped: {served} request{'' if served == 1 else 's'} served"
        else:
            Supervisor(socket_sets).run()
            stopped = f"stopped: all {workers} workers"
    finally:
        for sockets in socket_sets:
            for sock in sockets:
                sock.close()
    print(stopped, file=sys.stderr)
    return 0


def _work(settings: Settings, index: int, sockets: list[socket.socket]) -> int:
    """One worker of `serve --workers N`: serve the sockets its supervisor handed down."""
    try:
        served = server.run(create_app(settings), settings, sockets)
    finally:
        for sock in sockets:
            sock.close()
    print(f"worker {index} stopped: {served} requests served", file=sys.stderr)
    return 0


def _listen(settings: Settings) -> list[list[socket.socket]]:
    """The listening sockets, one set per worker (SO_REUSEPORT when there are several).

    Bound before anything else: a port in use must not leave a new database and a printed
    token behind. Port 0 means the first free port, for every worker the same one."""
    workers = cores() if settings.workers == "auto" else settings.workers
    if workers == 1:
        return [server.listen(settings)]
    if not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
        raise SettingsError("--workers needs fork() and SO_REUSEPORT (Linux, BSD, macOS)")
    first = server.listen(settings, reuse_port=True)
    try:
        same = settings.model_copy(update={"port": first[0].getsockname()[1]})
        return [first, *(server.listen(same, reuse_port=True) for _ in range(workers - 1))]
    except BaseException:
        for sock in first:
            sock.close()
        raise


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    worker = inherited()
    if worker is not None:
        return _work(settings, *worker)
    return _serve(settings, _listen(settings), demo=False)


def cmd_demo(args: argparse.Namespace) -> int:
    """Serve a throwaway copy of the example directory, so a first look needs no setup."""
    example = shipped(EXAMPLE_DB)
    if not example.is_file():
        print(f"error: no demo directory at {example}; run `make demo-db`", file=sys.stderr)
        return 1
    settings = _settings(args)
    sockets = [server.listen(settings)]
    with tempfile.TemporaryDirectory(prefix="scimlite-demo-") as tmp:
        copy = Path(tmp) / "demo.db"
        shutil.copyfile(example, copy)  # not copy(): an installed file may be read-only
        return _serve(settings.model_copy(update={"db_path": copy}), sockets, demo=True)


def _print_secret(info: TokenInfo, secret: str, done: str) -> None:
    print(f"{done} token {info.name!r} (scope {info.scope}, prefix {info.prefix}).")
    print("It is shown once; only its hash is stored:")
    print(secret)


def cmd_token_create(args: argparse.Namespace) -> int:
    problem = tokens.valid_token_name(args.name)
    if problem is not None:  # the console's rule: names land in logs, lists and pages
        print(f"error: {problem}", file=sys.stderr)
        return 2

    async def work(store: Store) -> int:
        try:
            info, secret = await store.create_token(args.name, args.scope)
        except Conflict as exc:
            hint = f"`scimlite token rotate {args.name}` gives it a new secret"
            print(f"error: {exc.detail}; {hint}", file=sys.stderr)
            return 1
        _print_secret(info, secret, "Created")
        return 0

    hint = "pass --create to start a new database there"
    return _run(_settings(args), work, create=args.create, hint=hint)


def cmd_token_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        rows = await store.list_tokens()
        header = ("NAME", "PREFIX", "SCOPE", "CREATED", "LAST USED", "REVOKED")
        table = [header] + [
            (t.name, t.prefix, t.scope, t.created, t.last_used or "-", t.revoked or "-")
            for t in rows
        ]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        return 0

    return _run(_settings(args), work)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        if await store.revoke_token(args.name):
            print(f"Revoked token {args.name!r}; it is refused from the next request on.")
            return 0
        print(f"error: no live token named {args.name!r}", file=sys.stderr)
        return 1

    return _run(_settings(args), work)


def cmd_token_rotate(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        try:
            info, secret = await store.rotate_token(args.name)
        except NotFound as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
        _print_secret(info, secret, "Rotated")
        return 0

    return _run(_settings(args), work)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database's schema up to this version (`serve` does it too, at start)."""

    async def work(store: Store) -> int:
        print(f"{describe(_settings(args))}: schema version {await store.db.schema_version()}.")
        return 0

    return _run(_settings(args), work)


def cmd_events_tail(args: argparse.Namespace) -> int:
    """Print events as they commit (docs/events.md), until Ctrl-C."""
    settings = _settings(args)
    types, problem = _event_types(args.types)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    base = events_api.configured_base(settings)

    async def work(store: Store) -> int:
        try:
            position = await store.events_now() if args.after is None else args.after

            def read(after: str) -> Awaitable[tuple[list[Event], str]]:
                return store.events_after(after, 1_000, types)

            while True:  # every write is another process's here: seen at the next poll
                found, position = await events_api.wait_for_new(read, position, store.commits, 60)
                for event in found:
                    if args.json:
                        shown = events_api.render(event, base)
                        print(orjson.dumps(shown).decode(), flush=True)
                    else:
                        print(events_api.one_line(event), flush=True)
        except ValueError as exc:
            print(f"error: --after: {exc}", file=sys.stderr)
            return 2
        except FellBehind as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    try:
        return _run(settings, work)
    except KeyboardInterrupt:
        return 0


def _event_types(text: str | None) -> tuple[tuple[str, ...], str | None]:
    """`--types a,b` as a tuple, and the first unknown type's error line (or None)."""
    types = split_types(text) if text else ()
    unknown = unknown_types(types)
    return types, (f"unknown event type {unknown[0]!r}" if unknown else None)


def _webhook_id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def cmd_webhook_add(args: argparse.Namespace) -> int:
    """Add an endpoint; its secret is printed once, alone on the last line."""
    settings = _settings(args)
    types, problem = _event_types(args.types)
    problem = problem or asyncio.run(
        webhooks_api.check_receiver(args.url, settings.webhook_allow_private)
    )
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    async def work(store: Store) -> int:
        position = args.start or await store.events_now()
        try:
            hook, secret = await store.add_webhook(args.url, types, position, timeutil.now())
        except ValueError as exc:
            print(f"error: --from: {exc}", file=sys.stderr)
            return 2
        print(
            f"Added webhook {hook.id} to {hook.url} ({', '.join(types) or 'all event types'}; "
            f"events after {position})."
        )
        print("Its signing secret is shown once:")
        print(secret)
        return 0

    return _run(settings, work)


def cmd_webhook_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        header = ("ID", "URL", "TYPES", "STATUS", "LAST SUCCESS", "FAILURES", "NEXT ATTEMPT")
        table = [header] + [
            (
                str(h.id),
                h.url,
                ",".join(h.types) or "all",
                f"disabled ({h.disabled_reason})" if h.disabled else "enabled",
                h.last_success or "-",
                str(h.failures),
                "-" if h.next_attempt is None else timeutil.from_unix(h.next_attempt),
            )
            for h in await store.list_webhooks()
        ]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        return 0

    return _run(_settings(args), work)


def _on_webhook(args: argparse.Namespace, act: Callable[[Store, int], Awaitable[int]]) -> int:
    """Run `act` on the endpoint named by `args.id`; one line if there is no such one."""
    webhook_id = _webhook_id(args.id)
    if webhook_id is None:
        print(f"error: no webhook with id {args.id[:40]!r}", file=sys.stderr)
        return 1

    async def work(store: Store) -> int:
        try:
            return await act(store, webhook_id)
        except NotFound as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1

    return _run(_settings(args), work)


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    async def act(store: Store, webhook_id: int) -> int:
        await store.remove_webhook(webhook_id)
        print(f"Removed webhook {webhook_id} and its delivery log.")
        return 0

    return _on_webhook(args, act)


def cmd_webhook_rotate(args: argparse.Namespace) -> int:
    async def act(store: Store, webhook_id: int) -> int:
        secret = await store.rotate_webhook_secret(webhook_id)
        print(f"Rotated the secret of webhook {webhook_id}; it signs from the next delivery on.")
        print("The new secret is shown once:")
        print(secret)
        return 0

    return _on_webhook(args, act)


def _database_at(where: str, *, source: bool) -> Database:
    """A database named on the command line: a postgresql:// URL or a SQLite file path."""
    if where.startswith(("postgresql://", "postgres://")):
        return open_database(path=Path(), url=where, readers=1, read_timeout_ms=COPY_BUDGET_MS)
    path = Path(where)
    if source and not path.is_file():
        raise DatabaseError(f"no database at {path}; check --from")
    return open_database(path=path, readers=1, read_timeout_ms=COPY_BUDGET_MS)


def cmd_copy(args: argparse.Namespace) -> int:
    """A whole directory from one database into an empty one, SQLite ⇄ PostgreSQL."""

    async def run() -> Copied:
        source = _database_at(args.source, source=True)
        target = _database_at(args.target, source=False)
        await source.open()
        try:
            await target.open()
            try:
                return await copy_directory(source, target)
            finally:
                await target.close()
        finally:
            await source.close()

    copied = asyncio.run(run())
    print(
        f"Copied {copied.users} users, {copied.groups} teams, {copied.memberships} memberships, "
        f"{copied.tokens} tokens, {copied.journal} journal rows and {copied.events} events to "
        f"{redacted(args.target)}."
    )
    return 0


def cmd_demo_db(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists():
        if not args.force:
            print(f"error: {path} exists; pass --force to replace it", file=sys.stderr)
            return 1
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    with tempfile.TemporaryDirectory() as scratch:
        built = Path(scratch) / "demo.db"
        asyncio.run(demo.populate(Settings.load(db_path=built)))
        backup(built, path)  # one self-contained file, no -wal beside it, to commit or ship
    print(f"Wrote the demo directory to {path}.")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of a live database (SQLite online backup); the server may keep running."""
    source = _settings(args).db_path
    result = backup(source, Path(args.path))
    print(
        f"Backed up {source} to {result.path} "
        f"({result.bytes} bytes, schema version {result.schema_version})."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and flag, in one place so `--help` reads like the README's table;
    long because it is a declaration, not logic."""
    parser = argparse.ArgumentParser(
        prog="scimlite",
        description="A SCIM 2.0 service provider for users and teams over one SQLite file.",
        epilog="Start with `scimlite serve` (creates ./scimlite.db and prints the base URL and "
        "an admin token) or `scimlite demo` (a populated directory to look around in). "
        "`scimlite COMMAND --help` tells more.",
    )
    parser.add_argument("--version", action="version", version=f"scimlite {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def db_option(
        p: argparse.ArgumentParser,
        missing: str = "created and migrated if missing",
        *,
        url: bool = True,
    ) -> None:
        p.add_argument(
            "--db",
            metavar="PATH",
            help=f"SQLite file (default: ./scimlite.db, or SCIMLITE_DB_PATH); {missing}",
        )
        if url:
            url_option(p)

    def url_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--database-url",
            metavar="URL",
            help="a PostgreSQL database instead of the SQLite file, e.g. "
            "postgresql://user@host/dbname (or SCIMLITE_DATABASE_URL; docs/scale-out.md)",
        )

    def existing_db(p: argparse.ArgumentParser) -> None:
        db_option(p, "must exist")

    serve = sub.add_parser(
        "serve",
        help=f"serve SCIM 2.0 at {SCIM_PREFIX}",
        description=f"Serve SCIM 2.0 at {SCIM_PREFIX} and the console at / on one SQLite file. "
        "On the first start it creates the file and prints a one-time admin token with the "
        "URLs to paste into Okta or Entra ID. Ctrl-C or SIGTERM stops it cleanly.",
    )
    db_option(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers",
        help="processes serving the port: a number, or auto for one per core (default 1; "
        "or SCIMLITE_WORKERS)",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="one log line per request as text (default) or JSON (or SCIMLITE_LOG_FORMAT)",
    )
    serve.set_defaults(func=cmd_serve)

    demo_cmd = sub.add_parser(
        "demo",
        help="serve a throwaway copy of the demo directory",
        description="Serve a temporary copy of scimlite.db.example (25 users in 5 teams) with "
        "a new admin token, so the console has something to show. Nothing is kept: the copy "
        "is deleted when the server stops.",
    )
    demo_cmd.add_argument("--host", help="address to bind (default 127.0.0.1)")
    demo_cmd.add_argument("--port", type=int, help="port to bind (default 8000)")
    demo_cmd.set_defaults(func=cmd_demo)

    token = sub.add_parser(
        "token",
        help="create, list, revoke and rotate API tokens",
        description="Manage bearer tokens. Secrets are shown once.",
    )
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser(
        "create",
        help="create a token; prints it on the last line",
        description="Create a bearer token. The secret is printed once, alone on the last "
        "line; only its SHA-256 hash is stored.",
    )
    create.add_argument("name", help="a unique name, e.g. the IdP it is for ('okta')")
    create.add_argument(
        "--scope",
        choices=tokens.SCOPES,
        default="scim",
        help="scim: the SCIM API only (default); admin: everything, the console too; "
        "metrics: GET /metrics only; events: GET /api/v1/events only",
    )
    db_option(create, "must exist unless --create")
    create.add_argument(
        "--create",
        action="store_true",
        help="create and migrate the database file if it does not exist",
    )
    create.set_defaults(func=cmd_token_create)
    listing = token_sub.add_parser(
        "list",
        help="list tokens (never their secrets)",
        description="List tokens: name, prefix, scope, created, last used, revoked.",
    )
    existing_db(listing)
    listing.set_defaults(func=cmd_token_list)
    revoke = token_sub.add_parser(
        "revoke",
        help="revoke a token by name, at once",
        description="Revoke a token: it gets 401 from the next request on.",
    )
    revoke.add_argument("name", help="the token's name, as `scimlite token list` shows it")
    existing_db(revoke)
    revoke.set_defaults(func=cmd_token_revoke)
    rotate = token_sub.add_parser(
        "rotate",
        help="replace a token's secret; prints the new one on the last line",
        description="Give a token a new secret: a new token with the same name and scope is "
        "created and the old one revoked, in one transaction. The new secret is printed once, "
        "alone on the last line; the old one is refused from the next request on.",
    )
    rotate.add_argument("name", help="the token's name, as `scimlite token list` shows it")
    existing_db(rotate)
    rotate.set_defaults(func=cmd_token_rotate)

    demo_db = sub.add_parser(
        "demo-db",
        help="write the demo directory to a new SQLite file",
        description="Write 25 demo users in 5 teams to PATH, built by two identity "
        "providers (tokens okta and entra) through the SCIM API, so the journal has a story.",
    )
    demo_db.add_argument("path", help="where to write, e.g. scimlite.db.example")
    demo_db.add_argument("--force", action="store_true", help="replace PATH if it exists")
    demo_db.set_defaults(func=cmd_demo_db)

    backup_cmd = sub.add_parser(
        "backup",
        help="copy a live database consistently to PATH",
        description="Copy the database to PATH with SQLite's online backup API; the server "
        "can keep serving. Restore by stopping the server and putting the copy in place "
        "(docs/operations.md).",
    )
    migrate = sub.add_parser(
        "migrate",
        help="bring a database's schema up to this version",
        description="Apply scimlite's schema to the database, or upgrade it; harmless when "
        "it is up to date. `serve` does the same at start. On PostgreSQL an advisory lock "
        "makes processes that migrate together take turns.",
    )
    existing_db(migrate)
    migrate.set_defaults(func=cmd_migrate)

    copy_cmd = sub.add_parser(
        "copy",
        help="copy a whole directory into an empty database (SQLite <-> PostgreSQL)",
        description="Copy users, teams, memberships, tokens, the journal and the events — with "
        "their ids, "
        "versions, timestamps and token hashes — from one database into an empty one, in one "
        "transaction. Each side is a SQLite file path or a postgresql:// URL; a PostgreSQL "
        "target may be a freshly created database without scimlite's schema. Stop the servers "
        "writing to the source first (docs/scale-out.md).",
    )
    copy_cmd.add_argument("--from", dest="source", required=True, metavar="DB", help="the source")
    copy_cmd.add_argument(
        "--to", dest="target", required=True, metavar="DB", help="the empty target"
    )
    copy_cmd.set_defaults(func=cmd_copy)

    events_cmd = sub.add_parser(
        "events",
        help="follow the events applications read (docs/events.md)",
        description="The typed events each write yields (user.created, team.member_added …), "
        "as GET /api/v1/events serves them.",
    )
    events_sub = events_cmd.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    tail = events_sub.add_parser(
        "tail",
        help="print events as they commit, until Ctrl-C",
        description="Print each event as it commits, one line each (or the API's JSON with "
        "--json), for watching a provisioning run from a terminal. Reads the database "
        "directly, as the token commands do; a running server need not be asked.",
    )
    tail.add_argument(
        "--types", metavar="TYPE,…", help="only these event types, e.g. user.deleted,team.renamed"
    )
    tail.add_argument(
        "--after",
        metavar="ID",
        help="start after this event id (default: only what commits from now on)",
    )
    tail.add_argument("--json", action="store_true", help="each event as the API's JSON")
    existing_db(tail)
    tail.set_defaults(func=cmd_events_tail)

    webhook = sub.add_parser(
        "webhook",
        help="add, list, remove webhook endpoints and rotate their secrets (docs/webhooks.md)",
        description="Webhook endpoints receive each event as a signed POST (Standard "
        "Webhooks). A running server picks up changes within a second. Secrets are shown once.",
    )
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True, metavar="ACTION")
    add = webhook_sub.add_parser(
        "add",
        help="add an endpoint; prints its secret on the last line",
        description="Add an endpoint receiving the events that commit from now on (or after "
        "--from). Its signing secret is printed once, alone on the last line.",
    )
    add.add_argument("url", help="the receiver, http:// or https://")
    add.add_argument("--types", metavar="TYPE,…", help="only these event types (default: all)")
    add.add_argument(
        "--from",
        dest="start",
        metavar="POSITION",
        help="deliver the events after this event id (default: only what commits from now on)",
    )
    add.add_argument(
        "--allow-private",
        action="store_true",
        help="accept a receiver on a private or loopback address (or "
        "SCIMLITE_WEBHOOK_ALLOW_PRIVATE; the server must allow it too)",
    )
    existing_db(add)
    add.set_defaults(func=cmd_webhook_add)
    hooks = webhook_sub.add_parser(
        "list",
        help="list endpoints and their status (never their secrets)",
        description="List endpoints: id, URL, types, status (with the reason when "
        "auto-disabled), last success, failures in a row, and when the next retry is due.",
    )
    existing_db(hooks)
    hooks.set_defaults(func=cmd_webhook_list)
    remove = webhook_sub.add_parser(
        "remove",
        help="remove an endpoint and its delivery log",
        description="Remove an endpoint: nothing more is delivered to it.",
    )
    remove.add_argument("id", help="the endpoint's id, as `scimlite webhook list` shows it")
    existing_db(remove)
    remove.set_defaults(func=cmd_webhook_remove)
    rotate_secret = webhook_sub.add_parser(
        "rotate-secret",
        help="give an endpoint a new secret; prints it on the last line",
        description="Replace an endpoint's signing secret; deliveries are signed with the new "
        "one from the next on. It is printed once, alone on the last line.",
    )
    rotate_secret.add_argument("id", help="the endpoint's id, as `scimlite webhook list` shows it")
    existing_db(rotate_secret)
    rotate_secret.set_defaults(func=cmd_webhook_rotate)

    backup_cmd.add_argument("path", help="the new file to write (must not exist)")
    # SQLite only: PostgreSQL has pg_dump and point-in-time recovery (docs/scale-out.md).
    db_option(backup_cmd, "the database to copy; must exist", url=False)
    backup_cmd.set_defaults(func=cmd_backup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # bare `scimlite`: the commands, not a scold
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        accesslog.configure(_settings(args).log_format)
        code: int = args.func(args)
    except (SettingsError, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except server.ListenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path the command was given: one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
