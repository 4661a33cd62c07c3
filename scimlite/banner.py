"""What `scimlite serve` prints on start: everything a newcomer needs, in one short block.

Kept apart from the CLI wiring so the text is a pure function a test can read line by line.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from scimlite import __version__
from scimlite.api import SCIM_PREFIX
from scimlite.settings import Settings


def is_loopback(host: str) -> bool:
    """True when only this machine can connect: 127.0.0.0/8, ::1 or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def base_url(settings: Settings) -> str:
    """The server's own address as an IdP or a browser should use it (no trailing slash)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def redacted(where: str) -> str:
    """A database URL without its password, for messages and logs."""
    parts = urlsplit(where)
    if parts.password is None:
        return where
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def describe(settings: Settings) -> str:
    """Which database a command works on, in words (no password)."""
    if settings.database_url is not None:
        return f"PostgreSQL {redacted(settings.database_url)}"
    return str(settings.db_path)


def banner(
    settings: Settings, *, secret: str | None, created: bool, demo: bool, workers: int = 1
) -> str:
    """The start-up block: URLs, the one-time admin token, what goes where in Okta/Entra ID."""
    base = base_url(settings)
    if demo:
        what = "demo on a temporary copy of scimlite.db.example (discarded when you stop)"
    else:
        what = f"{'created' if created else 'serving'} {describe(settings)}"
    lines = [
        f"scimlite {__version__} · {what}",
        "",
        f"  SCIM base URL  {base}{SCIM_PREFIX}",
        f"  Console        {base}/",
        "",
    ]
    if workers > 1:
        lines[-1:-1] = [f"  Workers        {workers} processes on this port"]
    if secret is not None:
        lines += [
            "  Admin token, shown this once (only its hash is stored):",
            f"    {secret}",
            "",
            "  Okta      Provisioning > Integration: SCIM connector base URL = the base URL,",
            "            Authentication Mode = HTTP Header, Authorization = the token",
            "  Entra ID  Provisioning > Admin Credentials: Tenant URL = the base URL,",
            "            Secret Token = the token",
            "  The token also signs in to the console.",
        ]
    else:
        lines.append(
            "  Tokens exist already; for a new one: scimlite token create NAME [--scope admin]"
        )
    if not is_loopback(settings.host):
        lines += [
            "",
            f"  WARNING: listening on {settings.host}, reachable from other machines.",
            "  Anyone who can reach this port can try tokens and the console sign-in:",
            "  put a reverse proxy with TLS in front and set SCIMLITE_PUBLIC_URL.",
        ]
        if not settings.public_url:
            lines += [
                "  WARNING: SCIMLITE_PUBLIC_URL is not set: Location headers and discovery",
                "  documents are built from the Host header each client sends.",
            ]
    lines += ["", "  Ctrl-C stops the server.", ""]
    return "\n".join(lines)
