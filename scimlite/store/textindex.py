"""The users_text search index: an FTS5 trigram table over each user's folded names and
emails, brought up to date after writes (migration 6) and probed before a substring filter.
"""

from __future__ import annotations

from scimlite.store.database import Conn, ReadConn
from scimlite.store.rows import fetch_one

_RARE_MIN = 1000  # a substring needle this many users contain is still read from users_text


# What users_text indexes for a user row `u`: its folded userName, displayName and email
# values, one per line. A needle instr() finds in one of them is in this text, so a MATCH
# only ever narrows the candidates (sqlfilter.py); the store writes it (index_pending_text).
USER_TEXT = (
    "u.user_name_ci || char(10) || coalesce(u.display_name_ci, '') || coalesce(("
    "SELECT char(10) || group_concat(e.value_ci, char(10)) "
    "FROM user_emails e WHERE e.user_id = u.id), '')"
)


def reindex_user_text(user_id: str) -> str:
    """Trigger statements that rewrite one user's users_text row (none if it is gone)."""
    return (  # user_id is a trigger's NEW.id or OLD.user_id, never input
        f"DELETE FROM users_text WHERE rowid = (SELECT seq FROM users WHERE id = {user_id}); "  # noqa: S608
        f"INSERT INTO users_text (rowid, text) SELECT u.seq, {USER_TEXT} "
        f"FROM users u WHERE u.id = {user_id};"
    )


def stale(seq: str) -> str:
    """A trigger statement marking one user's users_text row out of date (once)."""
    return (  # seq is a trigger's NEW.seq or OLD.seq, never input
        f"INSERT INTO users_text_pending (seq) SELECT {seq} "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM users_text_pending WHERE seq = {seq});"
    )


def stale_user(user_id: str) -> str:
    """The same, for the user with this id (none when the user is being deleted)."""
    return (  # user_id is a trigger's NEW.user_id or OLD.user_id, never input
        "INSERT INTO users_text_pending (seq) SELECT u.seq FROM users u "  # noqa: S608
        f"WHERE u.id = {user_id} AND NOT EXISTS "
        "(SELECT 1 FROM users_text_pending p WHERE p.seq = u.seq);"
    )


def index_pending_text(conn: Conn, limit: int) -> int:
    """Rewrite the users_text rows of up to `limit` pending users, in the caller's transaction."""
    pending = "SELECT seq FROM users_text_pending ORDER BY seq LIMIT ?"
    conn.execute(f"DELETE FROM users_text WHERE rowid IN ({pending})", (limit,))  # noqa: S608
    conn.execute(
        f"INSERT INTO users_text (rowid, text) SELECT u.seq, {USER_TEXT} "  # noqa: S608
        f"FROM users u WHERE u.seq IN ({pending})",
        (limit,),
    )
    done = f"DELETE FROM users_text_pending WHERE seq IN ({pending})"  # noqa: S608
    return conn.execute(done, (limit,)).rowcount


async def rare_phrases(conn: ReadConn, phrases: set[str]) -> set[str]:
    """The users_text phrases that match few enough users to read them from the index.

    "Few" is a tenth of all users (at least 1,000): beyond that a MATCH hands SQLite
    nearly every rowid, and testing each row is cheaper (docs/benchmarks.md). The LIMIT
    keeps the probe cheap for a needle everybody has.
    """
    if not phrases:
        return set()
    row = await fetch_one(conn, "SELECT n FROM row_counts WHERE name = 'users'", ())
    limit = max(_RARE_MIN, (int(row[0]) if row else 0) // 10)
    rare = set()
    for phrase in phrases:
        row = await fetch_one(
            conn,
            "SELECT count(*) FROM (SELECT 1 FROM users_text WHERE users_text MATCH ? LIMIT ?)",
            (phrase, limit + 1),
        )
        if row is not None and int(row[0]) <= limit:
            rare.add(phrase)
    return rare
