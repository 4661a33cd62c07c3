"""The web console's pages as a test reads them: structure, not markup; sign-in, posting."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

HTML = "text/html"


class Doc(HTMLParser):
    """Just enough structure: title, headings, links, forms and their fields, all text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.title = ""
        self.h1: list[str] = []
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.raw = text  # the markup itself, for attributes the structure above leaves out
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("title", "h1"):
            self._in.append(tag)
            if tag == "h1":
                self.h1.append("")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        elif tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": {}})
        elif tag in ("input", "select", "textarea") and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""
        elif tag == "script":
            self.scripts.append(a)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if "title" in self._in:
            self.title += data
        if "h1" in self._in:
            self.h1[-1] += data

    def form(self, action: str) -> dict[str, str]:
        for form in self.forms:
            if form["action"] == action:
                fields: dict[str, str] = form["fields"]
                return fields
        raise AssertionError(f"no form posting to {action}: {[f['action'] for f in self.forms]}")

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


async def get_page(client: TestClient[Any, Any], path: str, status: int = 200) -> Doc:
    resp = await client.get(path, allow_redirects=False)
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == HTML
    assert resp.charset == "utf-8"
    doc = Doc(text)
    assert doc.title.strip().endswith("· scimlite")
    assert len(doc.h1) == 1
    return doc


async def post(
    client: TestClient[Any, Any], path: str, data: dict[str, str], status: int = 303
) -> ClientResponse:
    resp = await client.post(path, data=data, allow_redirects=False)
    assert resp.status == status, await resp.text()
    return resp


async def sign_in(client: TestClient[Any, Any], secret: str, status: int = 303) -> ClientResponse:
    doc = await get_page(client, "/signin")
    fields = doc.form("/signin")
    return await post(client, "/signin", {**fields, "token": secret}, status)


async def csrf(client: TestClient[Any, Any]) -> str:
    return (await get_page(client, "/tokens")).form("/tokens")["csrf"]
