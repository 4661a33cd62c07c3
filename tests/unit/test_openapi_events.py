"""The events feed in the OpenAPI document (issue #18): documented beside the SCIM API, with
the same event schema docs/events.md publishes, and every /api/ route of the app covered."""

from __future__ import annotations

import json
import re
from pathlib import Path

from scimlite.api import openapi
from scimlite.app import create_app
from scimlite.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_docs_publish_the_documents_event_schema() -> None:
    section = DOCS.read_text().split("## An event (JSON Schema)", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert block is not None
    published = json.loads(block.group(1))
    for key in ("$schema", "$id", "title"):
        published.pop(key)
    assert published == openapi.event_schema()


def test_every_api_route_is_documented() -> None:
    doc = openapi.document(Settings())
    documented = {
        server["url"] + path
        for path, item in doc["paths"].items()
        for server in item.get("servers", [])
    }
    routes = {
        r.canonical for r in create_app(Settings()).router.resources() if "/api/" in r.canonical
    }
    assert routes and routes <= documented
    assert doc["paths"]["/events"]["get"]["responses"]["200"]
