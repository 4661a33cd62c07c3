"""Text helpers shared by the protocol and the store: comparison keys (filters, PATCH, index
columns) and clipping client text quoted in errors and the journal."""

from __future__ import annotations

import unicodedata


def fold(value: str) -> str:
    """Case-insensitive comparison key: NFC-normalised, then Unicode case-folded.

    Used for every caseExact=false attribute (userName, emails.value, displayName) both
    when storing index columns and when binding filter values, so the two always agree.
    Two userNames are the same user when their folds are equal.
    """
    return unicodedata.normalize("NFC", value).casefold()


# How much client text is kept: one value quoted in a detail or stored in the journal, and
# a whole error detail. A 2 MB userName must not come back 2 MB long, nor stay in the journal.
VALUE_CHARS = 256
DETAIL_CHARS = 1024


def clip(text: str, limit: int = VALUE_CHARS) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"
