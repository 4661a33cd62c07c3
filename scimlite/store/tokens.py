"""Tokens: created, listed, revoked and checked; only a digest of each secret is stored."""

from __future__ import annotations

from typing import Any

from scimlite import timeutil, tokens
from scimlite.scim.diff import diff_docs
from scimlite.store.database import Conn, Database
from scimlite.store.errors import Conflict, NotFound
from scimlite.store.journal import record
from scimlite.store.records import TokenInfo, WriteContext
from scimlite.store.rows import fetch_all, fetch_one_sync


class TokenQueries:
    """The Store's token methods (a mixin: `Store` provides `db`)."""

    db: Database

    async def create_token(
        self, name: str, scope: tokens.Scope, ctx: WriteContext | None = None
    ) -> tuple[TokenInfo, str]:
        """A new token; the secret is returned once and only its digest is kept.

        With a write context (the console) the creation is journaled in the same
        transaction; the CLI writes the file directly and has no request to journal.
        """
        prefix, secret = tokens.generate()
        stamp = timeutil.now()

        def write(conn: Conn) -> int:
            live = "SELECT 1 FROM tokens WHERE name = ? AND revoked IS NULL"
            if fetch_one_sync(conn, live, (name,)) is not None:
                raise Conflict(f"a token named {name!r} already exists")
            token_id = _insert(conn, name, prefix, secret, scope, stamp)
            if ctx is not None:
                changes = diff_docs({}, {"name": name, "prefix": prefix, "scope": scope})
                record(conn, ctx, "Token", name, 201, changes)
            return token_id

        token_id = await self.db.write(write)
        return TokenInfo(token_id, name, prefix, scope, stamp, None, None), secret

    async def rotate_token(self, name: str) -> tuple[TokenInfo, str]:
        """A new secret under the live token `name`'s name and scope, and that token revoked,
        in one transaction: there is never a moment with both or neither. NotFound unless
        `name` is live. The old row stays, revoked, so lists and the journal keep it."""
        prefix, secret = tokens.generate()
        stamp = timeutil.now()

        def write(conn: Conn) -> tuple[int, tokens.Scope]:
            sql = "SELECT id, scope FROM tokens WHERE name = ? AND revoked IS NULL"
            old = fetch_one_sync(conn, sql, (name,))
            if old is None:
                raise NotFound(f"no live token named {name!r}")
            conn.execute("UPDATE tokens SET revoked = ? WHERE id = ?", (stamp, old["id"]))
            return _insert(conn, name, prefix, secret, old["scope"], stamp), old["scope"]

        token_id, scope = await self.db.write(write)
        return TokenInfo(token_id, name, prefix, scope, stamp, None, None), secret

    async def create_first_token(
        self, name: str, scope: tokens.Scope
    ) -> tuple[TokenInfo, str] | None:
        """A token only if there is none at all (a new directory's first admin token).

        One transaction decides: processes starting together on one new database create
        exactly one (the others find it, also after a retry on the unique name)."""
        prefix, secret = tokens.generate()
        stamp = timeutil.now()

        def write(conn: Conn) -> int | None:
            if fetch_one_sync(conn, "SELECT 1 FROM tokens LIMIT 1") is not None:
                return None
            return _insert(conn, name, prefix, secret, scope, stamp)

        token_id = await self.db.write(write)
        if token_id is None:
            return None
        return TokenInfo(token_id, name, prefix, scope, stamp, None, None), secret

    async def list_tokens(self) -> list[TokenInfo]:
        sql = "SELECT id, name, prefix, scope, created, last_used, revoked FROM tokens ORDER BY id"
        async with self.db.read() as conn:
            rows = await fetch_all(conn, sql)
        return [TokenInfo(*tuple(r)) for r in rows]

    async def revoke_token(self, name: str) -> bool:
        """Revoke by name; True when a live token was revoked."""
        stamp = timeutil.now()
        revoked: int = await self.db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE tokens SET revoked = ? WHERE name = ? AND revoked IS NULL",
                    (stamp, name),
                ).rowcount
            )
        )
        return revoked > 0

    async def authenticate(self, presented: str) -> TokenInfo | None:
        """The live token matching `presented`, compared in constant time, or None."""
        prefix = tokens.prefix_of(presented)
        if prefix is None:
            return None
        sql = (
            "SELECT id, name, prefix, scope, created, last_used, revoked, hash "
            "FROM tokens WHERE prefix = ?"
        )
        rows = self.db.read_inline(sql, (prefix,))  # a unique-index point lookup
        if rows is None:  # the lookup lane: a token check never queues behind scans
            async with self.db.read(lookup=True) as conn:
                rows = await fetch_all(conn, sql, (prefix,))
        row = rows[0] if rows else None
        if row is None or row["revoked"] is not None or not tokens.matches(presented, row["hash"]):
            return None
        return TokenInfo(*tuple(row)[:7])

    async def touch_token(self, token_id: int, at: str) -> None:
        await self.db.write(
            lambda conn: conn.execute(
                "UPDATE tokens SET last_used = ? WHERE id = ?", (at, token_id)
            )
        )

    async def revoke_token_journaled(self, name: str, ctx: WriteContext) -> TokenInfo:
        """`revoke_token` for the console, journaled; NotFound unless the token is live."""
        stamp = timeutil.now()

        def write(conn: Conn) -> Any:
            row = fetch_one_sync(
                conn,
                "SELECT id, name, prefix, scope, created, last_used, revoked "
                "FROM tokens WHERE name = ? AND revoked IS NULL",
                (name,),
            )
            if row is None:
                raise NotFound(f"no live token named {name!r}")
            conn.execute("UPDATE tokens SET revoked = ? WHERE id = ?", (stamp, row["id"]))
            changes = diff_docs({"revoked": None}, {"revoked": stamp})
            record(conn, ctx, "Token", name, 200, changes)
            return row

        row = await self.db.write(write)
        return TokenInfo(
            row["id"], row["name"], row["prefix"], row["scope"], row["created"],
            row["last_used"], stamp,
        )  # fmt: skip


def _insert(conn: Conn, name: str, prefix: str, secret: str, scope: str, stamp: str) -> int:
    row = fetch_one_sync(
        conn,
        "INSERT INTO tokens (name, prefix, hash, scope, created) VALUES (?, ?, ?, ?, ?) "
        "RETURNING id",
        (name, prefix, tokens.digest(secret), scope, stamp),
    )
    return int(row[0])
