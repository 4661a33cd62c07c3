"""Everything HTTP (aiohttp): handlers, the error funnel, auth, rendering, OpenAPI, queries."""

SCIM_PREFIX = "/scim/v2"  # where the SCIM API is mounted (RFC 7644 §3.13 leaves it to us)
