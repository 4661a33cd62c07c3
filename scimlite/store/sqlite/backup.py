"""Consistent copies of a live database with SQLite's online backup API.

Why not `cp`: copying the file while the server writes can catch a transaction half in the
main file and half in the `-wal` file. `sqlite3.Connection.backup` copies every page under
one read transaction, so the copy is exactly one committed state; in WAL mode that read
does not block the server's writer, so the server keeps serving while it runs.

The copy is written next to the target, checked with `PRAGMA integrity_check`, switched to
rollback-journal mode (one self-contained file, no `-wal` beside it), flushed to disk and only
then renamed into place: a crash mid-backup never leaves a half-written file under the
target's name. docs/operations.md describes restore.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

from scimlite.store.database import DatabaseError
from scimlite.store.sqlite.db import create_private
from scimlite.store.sqlite.migrations import SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    bytes: int
    schema_version: int


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX: a rename lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(source: Path, target: Path, *, busy_timeout_ms: int = 10_000) -> BackupResult:
    """Copy `source` to `target` (which must not exist) as one committed state."""
    if not source.is_file():
        what = "is not a database file" if source.exists() else "does not exist"
        raise DatabaseError(f"{source} {what}")
    if target.exists():
        raise DatabaseError(f"{target} exists; choose a new name or remove it first")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(source, timeout=busy_timeout_ms / 1000)) as src:
            version = int(src.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise DatabaseError(
                    f"{source} has schema version {version}, newer than this scimlite "
                    f"({SCHEMA_VERSION}); back it up with the scimlite that serves it"
                )
            create_private(partial)  # the copy holds what the database holds: owner only
            with closing(sqlite3.connect(partial)) as dst:
                src.backup(dst)  # pages=-1: all pages in one step, under one read snapshot
                dst.execute("PRAGMA journal_mode = DELETE")
                problems = [r[0] for r in dst.execute("PRAGMA integrity_check").fetchall()]
                if problems != ["ok"]:
                    raise DatabaseError(f"the copy failed its integrity check: {problems[:3]}")
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        _fsync_dir(target.resolve().parent)
    except BaseException as exc:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.Error):
            raise DatabaseError(f"backup of {source} failed: {exc}") from exc
        if isinstance(exc, OSError):
            raise DatabaseError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise
    return BackupResult(target, target.stat().st_size, version)
