"""The users search box: a SCIM filter when the text is one, else a plain-text match (pure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from scimlite.scim.errors import InvalidFilter
from scimlite.scim.filter import Filter, parse_filter
from scimlite.scim.schema import USER_RESOURCE

MAX_QUERY = 200
PLAIN_TEXT_ATTRIBUTES = ("userName", "displayName", "emails.value")
# Text with an operator or a quote was probably meant as a filter: say why it was not one.
_FILTER_LIKE = re.compile(r'"|\b(eq|ne|co|sw|ew|gt|ge|lt|le|pr|and|or|not)\b', re.IGNORECASE)


def plain_text_filter(text: str) -> Filter:
    """`userName co "x" or displayName co "x" or emails.value co "x"`.

    RFC 7644 §3.4.2.2: filter values are JSON strings, so json.dumps escapes quotes,
    backslashes and control characters exactly as the grammar expects.
    """
    literal = json.dumps(text, ensure_ascii=False)  # stays well under filter.MAX_LENGTH
    return parse_filter(
        " or ".join(f"{attr} co {literal}" for attr in PLAIN_TEXT_ATTRIBUTES), USER_RESOURCE
    )


@dataclass(frozen=True, slots=True)
class Search:
    filter: Filter | None
    note: str | None = None  # why filter-like text was searched as plain text


def user_search(text: str) -> Search:
    """The filter for the search box and, when filter-like text did not parse, why not."""
    text = text.strip()[:MAX_QUERY]
    if not text:
        return Search(None)
    try:
        return Search(parse_filter(text, USER_RESOURCE))
    except InvalidFilter as exc:
        note = None
        if _FILTER_LIKE.search(text):
            note = f"Not a valid SCIM filter ({exc.detail}), so it was searched as plain text."
        return Search(plain_text_filter(text), note)
