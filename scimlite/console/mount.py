"""Mount the console on the application: Jinja, routes, static files, sessions (its
middleware, console/middleware.py, is reached through app.py's dispatch)."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from scimlite.console import views, webhooks
from scimlite.console.links import journal_href, resource_href
from scimlite.console.live import setup_live


def asset_dir(name: str) -> Path:
    """`templates/` or `static/`: the wheel's copy in scimlite/_data, else the repository's."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "_data" / name
    return shipped if shipped.is_dir() else package.parent / name


def _short_time(value: str | None) -> str:
    """`2026-01-31T09:30:00.123Z` → `2026-01-31 09:30:00Z` for tables."""
    return f"{value[:10]} {value[11:19]}Z" if value else "—"


def setup_console(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(asset_dir("templates")),
        autoescape=True,  # everything user-supplied is escaped unless a template says otherwise
        default_helpers=False,
        filters={"short_time": _short_time},
    )
    env.globals.update(resource_href=resource_href, journal_href=journal_href)
    router = app.router
    router.add_get("/", views.dashboard, name="dashboard")
    signin = router.add_resource("/signin", name="signin")
    signin.add_route("GET", views.signin_form)
    signin.add_route("POST", views.signin)
    router.add_post("/signout", views.signout, name="signout")
    router.add_get("/users", views.users, name="users")
    router.add_get("/users/{id}", views.user, name="user")
    router.add_post("/users/{id}/active", views.set_active, name="user-active")
    router.add_get("/teams", views.teams, name="teams")
    router.add_get("/teams/{id}", views.team, name="team")
    router.add_post("/teams/{id}/remove-member", views.remove_member, name="team-remove")
    router.add_get("/journal", views.journal, name="journal")
    router.add_get("/events", views.events, name="events")
    setup_live(app)  # /journal/live, /events/live
    tokens = router.add_resource("/tokens", name="tokens")
    tokens.add_route("GET", views.tokens)
    tokens.add_route("POST", views.create_token)
    router.add_post("/tokens/revoke", views.revoke_token, name="token-revoke")
    webhooks.add_routes(router)
    router.add_static("/static/", asset_dir("static"), name="static")
