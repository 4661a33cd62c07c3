"""The SQLite schema: each migration upgrades PRAGMA user_version by one, in one transaction."""

from __future__ import annotations

import sqlite3
from contextlib import suppress

from scimlite.store.database import DatabaseError
from scimlite.store.textindex import USER_TEXT, reindex_user_text, stale, stale_user

# Each entry upgrades the schema from version i to i+1 (PRAGMA user_version).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        user_name_ci TEXT NOT NULL UNIQUE,
        external_id TEXT,
        display_name TEXT,
        display_name_ci TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        email TEXT,
        version INTEGER NOT NULL,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX users_external_id ON users(external_id);
    CREATE INDEX users_display_name_ci ON users(display_name_ci);
    CREATE INDEX users_created ON users(created);
    CREATE INDEX users_last_modified ON users(last_modified);

    CREATE TABLE user_emails (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        value_ci TEXT NOT NULL,
        type_ci TEXT,
        is_primary INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX user_emails_value ON user_emails(value_ci);

    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        display_name_ci TEXT NOT NULL,
        external_id TEXT,
        version INTEGER NOT NULL,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX groups_display_name_ci ON groups(display_name_ci);
    CREATE INDEX groups_external_id ON groups(external_id);
    CREATE INDEX groups_created ON groups(created);
    CREATE INDEX groups_last_modified ON groups(last_modified);

    CREATE TABLE memberships (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX memberships_user ON memberships(user_id, group_id);

    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('scim', 'admin')),
        created TEXT NOT NULL,
        last_used TEXT,
        revoked TEXT
    );

    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        token_name TEXT,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        resource_type TEXT,
        resource_id TEXT,
        status INTEGER NOT NULL,
        latency_ms REAL,
        changes TEXT,
        quirks TEXT,
        detail TEXT
    );
    CREATE INDEX journal_at ON journal(at);
    CREATE INDEX journal_resource ON journal(resource_id, id);
    """,
    # 2: the console's "last write per token" reads the journal by token.
    """
    CREATE INDEX journal_token ON journal(token_name, id);
    """,
    # 3: totals of unfiltered lists in O(1): count(*) read every row, 27 ms at 1M users.
    """
    CREATE TABLE row_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO row_counts VALUES
        ('users', (SELECT count(*) FROM users)), ('groups', (SELECT count(*) FROM groups));
    CREATE TRIGGER users_counted AFTER INSERT ON users
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'users'; END;
    CREATE TRIGGER users_uncounted AFTER DELETE ON users
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'users'; END;
    CREATE TRIGGER groups_counted AFTER INSERT ON groups
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'groups'; END;
    CREATE TRIGGER groups_uncounted AFTER DELETE ON groups
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'groups'; END;
    """,
    # 4: the console's plain-text search (userName, displayName) reads this narrow index
    # instead of every row; 43 -> 26 ms for a count at 100k users.
    """
    CREATE INDEX users_names ON users(user_name_ci, display_name_ci, id);
    """,
    # 5: stable row numbers and a substring index. `seq INTEGER PRIMARY KEY` is the rowid,
    # and VACUUM keeps such values (it may renumber an implicit rowid), so list cursors and
    # users_text can refer to rows by it. users_text is a trigram index over the folded
    # userName, displayName and emails of each user, kept by triggers in the writing
    # transaction: `co`/`ew` filters read candidates from it instead of every row (a
    # console search at 100k users: 63 -> 2 ms). The tables are rebuilt as SQLite's
    # ALTER TABLE documentation prescribes (migrate() runs with foreign keys off).
    f"""
    CREATE TABLE users_v5 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        user_name TEXT NOT NULL,
        user_name_ci TEXT NOT NULL UNIQUE,
        external_id TEXT,
        display_name TEXT,
        display_name_ci TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        email TEXT,
        version INTEGER NOT NULL,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    INSERT INTO users_v5 SELECT rowid, * FROM users;
    DROP TABLE users;
    ALTER TABLE users_v5 RENAME TO users;
    CREATE INDEX users_external_id ON users(external_id);
    CREATE INDEX users_display_name_ci ON users(display_name_ci);
    CREATE INDEX users_created ON users(created);
    CREATE INDEX users_last_modified ON users(last_modified);
    CREATE TRIGGER users_counted AFTER INSERT ON users
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'users'; END;
    CREATE TRIGGER users_uncounted AFTER DELETE ON users
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'users'; END;

    CREATE TABLE groups_v5 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        display_name_ci TEXT NOT NULL,
        external_id TEXT,
        version INTEGER NOT NULL,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    INSERT INTO groups_v5 SELECT rowid, * FROM groups;
    DROP TABLE groups;
    ALTER TABLE groups_v5 RENAME TO groups;
    CREATE INDEX groups_display_name_ci ON groups(display_name_ci);
    CREATE INDEX groups_external_id ON groups(external_id);
    CREATE INDEX groups_created ON groups(created);
    CREATE INDEX groups_last_modified ON groups(last_modified);
    CREATE TRIGGER groups_counted AFTER INSERT ON groups
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'groups'; END;
    CREATE TRIGGER groups_uncounted AFTER DELETE ON groups
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'groups'; END;

    CREATE VIRTUAL TABLE users_text USING fts5(text, tokenize = 'trigram case_sensitive 1');
    INSERT INTO users_text (rowid, text) SELECT u.seq, {USER_TEXT} FROM users u;
    CREATE TRIGGER users_text_added AFTER INSERT ON users
        BEGIN {reindex_user_text("NEW.id")} END;
    CREATE TRIGGER users_text_renamed AFTER UPDATE OF user_name_ci, display_name_ci ON users
        WHEN OLD.user_name_ci IS NOT NEW.user_name_ci
            OR OLD.display_name_ci IS NOT NEW.display_name_ci
        BEGIN {reindex_user_text("NEW.id")} END;
    CREATE TRIGGER users_text_removed AFTER DELETE ON users
        BEGIN DELETE FROM users_text WHERE rowid = OLD.seq; END;
    CREATE TRIGGER user_emails_text_added AFTER INSERT ON user_emails
        BEGIN {reindex_user_text("NEW.user_id")} END;
    CREATE TRIGGER user_emails_text_changed AFTER UPDATE ON user_emails
        BEGIN {reindex_user_text("OLD.user_id")} {reindex_user_text("NEW.user_id")} END;
    CREATE TRIGGER user_emails_text_removed AFTER DELETE ON user_emails
        BEGIN {reindex_user_text("OLD.user_id")} END;
    """,  # noqa: S608 (composed from this module's constants only)
    # 6: users_text is brought up to date after the write, not in it. An FTS5 table writes a
    # new segment at every commit: the triggers of migration 5 took a POST from 124 to 673
    # microseconds of writer time. Now a write only notes the user in users_text_pending
    # (+11 us), and the server indexes what is pending about once a second, many users to a
    # transaction (8 us a user). Filters treat a pending user as a candidate for every MATCH
    # and test it exactly (sqlfilter.py), so answers never wait for the index.
    f"""
    DROP TRIGGER users_text_added;
    DROP TRIGGER users_text_renamed;
    DROP TRIGGER users_text_removed;
    DROP TRIGGER user_emails_text_added;
    DROP TRIGGER user_emails_text_changed;
    DROP TRIGGER user_emails_text_removed;
    CREATE TABLE users_text_pending (seq INTEGER PRIMARY KEY);
    CREATE TRIGGER users_text_stale_added AFTER INSERT ON users
        BEGIN {stale("NEW.seq")} END;
    CREATE TRIGGER users_text_stale_renamed AFTER UPDATE OF user_name_ci, display_name_ci ON users
        WHEN OLD.user_name_ci IS NOT NEW.user_name_ci
            OR OLD.display_name_ci IS NOT NEW.display_name_ci
        BEGIN {stale("NEW.seq")} END;
    CREATE TRIGGER users_text_stale_removed AFTER DELETE ON users
        BEGIN {stale("OLD.seq")} END;
    CREATE TRIGGER user_emails_stale_added AFTER INSERT ON user_emails
        BEGIN {stale_user("NEW.user_id")} END;
    CREATE TRIGGER user_emails_stale_changed AFTER UPDATE ON user_emails
        BEGIN {stale_user("OLD.user_id")} {stale_user("NEW.user_id")} END;
    CREATE TRIGGER user_emails_stale_removed AFTER DELETE ON user_emails
        BEGIN {stale_user("OLD.user_id")} END;
    """,
    # 7: the dashboard in O(1). Its counts by status read every user (442 ms at 1M users)
    # and its member count every membership; triggers now keep both in row_counts. Its
    # "recent errors" scanned the journal back until ten were found (all of it, when errors
    # are rare); a partial index holds just the error rows.
    """
    INSERT INTO row_counts VALUES
        ('users_inactive', (SELECT count(*) FROM users WHERE active = 0)),
        ('memberships', (SELECT count(*) FROM memberships));
    CREATE TRIGGER users_inactive_counted AFTER INSERT ON users WHEN NEW.active = 0
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'users_inactive'; END;
    CREATE TRIGGER users_inactive_uncounted AFTER DELETE ON users WHEN OLD.active = 0
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'users_inactive'; END;
    CREATE TRIGGER users_activity_changed AFTER UPDATE OF active ON users
        WHEN OLD.active IS NOT NEW.active
        BEGIN
            UPDATE row_counts SET n = n + (NEW.active = 0) - (OLD.active = 0)
            WHERE name = 'users_inactive';
        END;
    CREATE TRIGGER memberships_counted AFTER INSERT ON memberships
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'memberships'; END;
    CREATE TRIGGER memberships_uncounted AFTER DELETE ON memberships
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'memberships'; END;
    CREATE INDEX journal_errors ON journal(id) WHERE status >= 400;
    """,
    # 8: a write shows in the history of every resource whose representation it changed,
    # including through the other side of a membership (a PATCH adding users to a team
    # changes each user's `groups`). The journal row stays one per write; journal_refs
    # indexes it under each such other-side id: one narrow row each (~40 bytes), so a PATCH
    # adding 500 members writes one journal row and 500 index rows, not 500 journal rows.
    # Pruning a journal row removes its refs (ON DELETE CASCADE, by journal_refs_entry).
    # Rows written before this version are indexed from their membership changes.
    """
    CREATE TABLE journal_refs (
        resource_id TEXT NOT NULL,
        journal_id INTEGER NOT NULL REFERENCES journal(id) ON DELETE CASCADE,
        PRIMARY KEY (resource_id, journal_id)
    ) WITHOUT ROWID;
    CREATE INDEX journal_refs_entry ON journal_refs(journal_id);
    INSERT INTO journal_refs (resource_id, journal_id)
        SELECT DISTINCT v.value, j.id
        FROM journal j, json_each(j.changes) c, json_each(c.value, '$.values') v
        WHERE j.changes IS NOT NULL AND json_type(c.value, '$.values') = 'array';
    """,
    # 9: tokens. A name is unique among live tokens only, so a revoked token keeps its row
    # (and its place in the journal) while a new one takes its name, which is what
    # `scimlite token rotate` does; and a third scope, `metrics`, for a Prometheus scraper
    # (GET /metrics only). SQLite cannot drop a UNIQUE or change a CHECK in place: the
    # table is rebuilt, ids kept (nothing refers to them by foreign key).
    """
    CREATE TABLE tokens_v9 (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('scim', 'admin', 'metrics')),
        created TEXT NOT NULL,
        last_used TEXT,
        revoked TEXT
    );
    INSERT INTO tokens_v9 (id, name, prefix, hash, scope, created, last_used, revoked)
        SELECT id, name, prefix, hash, scope, created, last_used, revoked FROM tokens;
    DROP TABLE tokens;
    ALTER TABLE tokens_v9 RENAME TO tokens;
    CREATE UNIQUE INDEX tokens_live_name ON tokens(name) WHERE revoked IS NULL;
    """,
    # 10: console sessions in the database (store/sessions.py), so every process knows
    # them; stored under the SHA-256 of the cookie.
    """
    CREATE TABLE console_sessions (
        key TEXT PRIMARY KEY,
        token_id INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
        token_name TEXT NOT NULL,
        csrf TEXT NOT NULL,
        seen REAL NOT NULL,
        flashes TEXT
    ) WITHOUT ROWID;
    CREATE INDEX console_sessions_token ON console_sessions(token_id);
    CREATE INDEX console_sessions_seen ON console_sessions(seen);
    """,
    # 11: events for applications (store/events.py, docs/events.md), written by the same
    # call and transaction as their journal row; AUTOINCREMENT, so an id is never given out
    # twice even when retention has emptied the table (a consumer's position stays ahead).
    # And the `events` scope (GET /api/v1/events), so tokens is rebuilt for its CHECK.
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        journal_id INTEGER NOT NULL,
        at TEXT NOT NULL,
        type TEXT NOT NULL,
        token_name TEXT,
        user_id TEXT,
        group_id TEXT,
        user_snapshot TEXT,
        team_snapshot TEXT,
        changes TEXT
    );
    CREATE INDEX events_at ON events(at);
    -- The newest event retention deleted: a consumer behind it has missed events.
    CREATE TABLE events_pruned (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        txid INTEGER NOT NULL,
        id INTEGER NOT NULL
    );
    CREATE TABLE tokens_v11 (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('scim', 'admin', 'metrics', 'events')),
        created TEXT NOT NULL,
        last_used TEXT,
        revoked TEXT
    );
    INSERT INTO tokens_v11 (id, name, prefix, hash, scope, created, last_used, revoked)
        SELECT id, name, prefix, hash, scope, created, last_used, revoked FROM tokens;
    DROP TABLE tokens;
    ALTER TABLE tokens_v11 RENAME TO tokens;
    CREATE UNIQUE INDEX tokens_live_name ON tokens(name) WHERE revoked IS NULL;
    """,
    # 12: sortBy meta.created / meta.lastModified descending. Ties keep insertion order
    # (seq ascending, RFC 7644 §3.4.2.3 leaves it to us), which a backward scan of
    # (created) cannot give, so every deep descending page sorted the whole table (90,000
    # deep at 200k users: 80 -> 3 ms). A forward scan of (created DESC, seq) is that order;
    # ascending sorts and userName (unique) already walk an index (docs/scim.md).
    """
    CREATE INDEX users_created_desc ON users(created DESC, seq);
    CREATE INDEX users_last_modified_desc ON users(last_modified DESC, seq);
    """,
    # 13: webhooks (docs/webhooks.md). An endpoint's position is the last event it was
    # delivered: the durable queue is the events table read from there. The secret is
    # stored as it is, because signing needs it. `leased_by`/`leased_until` (unix seconds):
    # the process delivering to it; `failing_since`, `next_attempt`: unix seconds too.
    """
    CREATE TABLE webhooks (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        types TEXT,
        secret TEXT NOT NULL,
        created TEXT NOT NULL,
        position TEXT NOT NULL,
        disabled TEXT,
        disabled_reason TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        failing_since REAL,
        last_success TEXT,
        next_attempt REAL,
        leased_by TEXT,
        leased_until REAL
    );
    CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        at TEXT NOT NULL,
        request_headers TEXT NOT NULL,
        request_body TEXT NOT NULL,
        body_bytes INTEGER NOT NULL,
        status INTEGER,
        latency_ms REAL NOT NULL,
        error TEXT
    );
    CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
    CREATE INDEX webhook_deliveries_at ON webhook_deliveries(at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file up to SCHEMA_VERSION; refuse a file written by a newer scimlite.

    Runs on the writer's thread at open (store/sqlite/db.py)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise DatabaseError(
            f"database schema version {current} is newer than this scimlite supports "
            f"({SCHEMA_VERSION}); upgrade scimlite or use a backup made by this version"
        )
    # Off while tables are rebuilt: dropping the old users table must not cascade to the
    # memberships that the new one takes over. foreign_key_check holds the line instead.
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for version in range(current, SCHEMA_VERSION):
            _migrate_one(conn, version)
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return SCHEMA_VERSION


def _migrate_one(conn: sqlite3.Connection, version: int) -> None:
    """Apply MIGRATIONS[version] in one transaction: all of it or none of it."""
    try:
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};"
        )
        broken = conn.execute("PRAGMA foreign_key_check").fetchone()
        if broken is not None:
            raise DatabaseError(
                f"upgrading to schema version {version + 1} would leave a row in {broken[0]} "
                f"pointing at a missing {broken[2]} row, so the file was not changed; "
                "PRAGMA foreign_key_check in the sqlite3 shell lists such rows"
            )
        conn.execute("COMMIT")
    except (sqlite3.Error, DatabaseError):
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
