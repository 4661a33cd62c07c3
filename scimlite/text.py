"""Text comparison keys shared by the protocol (filters, PATCH) and the store (index columns)."""

from __future__ import annotations

import unicodedata


def fold(value: str) -> str:
    """Case-insensitive comparison key: NFC-normalised, then Unicode case-folded.

    Used for every caseExact=false attribute (userName, emails.value, displayName) both
    when storing index columns and when binding filter values, so the two always agree.
    Two userNames are the same user when their folds are equal.
    """
    return unicodedata.normalize("NFC", value).casefold()
