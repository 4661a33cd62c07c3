"""The `scimlite` command: serve, tokens, demo database. Wiring only; logic lives elsewhere."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web

from scimlite import __version__, demo, tokens
from scimlite.app import create_app
from scimlite.db import Database, DatabaseError
from scimlite.scim.errors import Conflict
from scimlite.settings import Settings, SettingsError
from scimlite.store import Store

BOOTSTRAP_TOKEN = "admin"  # noqa: S105 - the token's name, not a secret
Work = Callable[[Store], Awaitable[int]]


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(
        db_path=getattr(args, "db", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


async def _with_store(settings: Settings, work: Work) -> int:
    db = Database(settings.db_path, readers=1, synchronous=settings.synchronous)
    await db.open()
    try:
        return await work(Store(db))
    finally:
        await db.close()


def _run(settings: Settings, work: Work) -> int:
    return asyncio.run(_with_store(settings, work))


def _bootstrap_token(settings: Settings) -> str | None:
    """On first start, create an admin token so the server is usable, and return it."""
    secret: str | None = None

    async def work(store: Store) -> int:
        nonlocal secret
        if await store.count_tokens() == 0:
            _, secret = await store.create_token(BOOTSTRAP_TOKEN, "admin")
        return 0

    _run(settings, work)
    return secret


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    secret = _bootstrap_token(settings)
    shown_host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    base = settings.public_url or f"http://{shown_host}:{settings.port}"
    print(f"scimlite {__version__} serving {settings.db_path}")
    print(f"  SCIM base URL : {base.rstrip('/')}/scim/v2")
    print(f"  Health        : {base.rstrip('/')}/healthz")
    if secret is not None:
        print()
        print(f"  Admin token (shown once, stored only as a hash; name {BOOTSTRAP_TOKEN!r}):")
        print(f"    {secret}")
        print("  Paste the base URL and this token into your identity provider.")
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"\n  WARNING: listening on {settings.host}, beyond this machine. Put a reverse "
            "proxy with TLS in front: bearer tokens travel in every request.",
        )
    print(flush=True)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        shutdown_timeout=10,
        access_log=logging.getLogger("scimlite.access"),
    )
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        try:
            info, secret = await store.create_token(args.name, args.scope)
        except Conflict as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
        print(f"Created token {info.name!r} (scope {info.scope}, prefix {info.prefix}).")
        print("It is shown once; only its hash is stored:")
        print(secret)
        return 0

    return _run(_settings(args), work)


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


def cmd_demo_db(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists():
        if not args.force:
            print(f"error: {path} exists; pass --force to replace it", file=sys.stderr)
            return 1
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    async def work(store: Store) -> int:
        await demo.populate(store)
        return 0

    code = _run(Settings.load(db_path=path), work)
    print(f"Wrote the demo directory to {path}.")
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scimlite",
        description="A SCIM 2.0 service provider for users and teams over one SQLite file.",
    )
    parser.add_argument("--version", action="version", version=f"scimlite {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def db_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            metavar="PATH",
            help="SQLite file (default: ./scimlite.db, "
            "or SCIMLITE_DB_PATH); created and migrated if missing",
        )

    serve = sub.add_parser(
        "serve",
        help="serve SCIM 2.0 at /scim/v2",
        description="Serve SCIM 2.0 at /scim/v2 on one SQLite file.",
    )
    db_option(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000)")
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser(
        "token",
        help="create, list and revoke API tokens",
        description="Manage bearer tokens. Secrets are shown once.",
    )
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="create a token; prints it on the last line")
    create.add_argument("name", help="a unique name, e.g. the IdP it is for ('okta')")
    create.add_argument(
        "--scope",
        choices=tokens.SCOPES,
        default="scim",
        help="scim: the SCIM API only (default); admin: also the console",
    )
    db_option(create)
    create.set_defaults(func=cmd_token_create)
    listing = token_sub.add_parser("list", help="list tokens (never their secrets)")
    db_option(listing)
    listing.set_defaults(func=cmd_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke a token by name, at once")
    revoke.add_argument("name")
    db_option(revoke)
    revoke.set_defaults(func=cmd_token_revoke)

    demo_db = sub.add_parser(
        "demo-db",
        help="write the demo directory to a new SQLite file",
        description="Write 25 demo users in 5 teams to PATH.",
    )
    demo_db.add_argument("path", help="where to write, e.g. scimlite.db.example")
    demo_db.add_argument("--force", action="store_true", help="replace PATH if it exists")
    demo_db.set_defaults(func=cmd_demo_db)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        code: int = args.func(args)
    except (SettingsError, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
