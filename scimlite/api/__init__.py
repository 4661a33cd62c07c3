"""Everything HTTP (aiohttp): handlers, the error funnel, auth, rendering, OpenAPI, queries."""

import functools

SCIM_PREFIX = "/scim/v2"  # where the SCIM API is mounted (RFC 7644 §3.13 leaves it to us)
SCIM_BASE = SCIM_PREFIX + "/"  # what every path under it starts with (not /scim/v2foo)


def route(path: str) -> str:
    """The route pattern of a SCIM endpoint such as `/Users/{id}` under /scim/v2, matching it
    with extra slashes after the base URL and one trailing slash (`/scim/v2//Users`,
    `/scim/v2/Users/?filter=…`): admins paste base URLs ending in "/", and IdPs append
    paths to them as they are. `fold()` reads a path the same way."""
    return SCIM_PREFIX + "/{_lead:/*}" + path.removeprefix("/") + "{_trail:/?}"


@functools.lru_cache(maxsize=256)
def route_label(canonical: str) -> str:
    """A route's pattern as logs and metrics name it: `route()`'s slash groups left out
    (`/scim/v2/{_lead}Users{_trail}` → `/scim/v2/Users`)."""
    return canonical.replace("{_lead}", "").replace("{_trail}", "")


def fold(path: str) -> str:
    """A request path as `route()` patterns read it: `/scim/v2//Users/` → `/scim/v2/Users`."""
    if not path.startswith(SCIM_BASE):
        return path
    rest = path[len(SCIM_PREFIX) :]  # starts with "/"; no regex: this runs on every request
    if rest.startswith("//"):
        rest = "/" + rest.lstrip("/")
    return SCIM_PREFIX + (rest[:-1] if rest.endswith("/") and len(rest) > 1 else rest)
