"""Every `web.AppKey` scimlite uses, in one place, so state is typed and never global.

Handlers read `request.app[KEY]` (there is one app): `request.config_dict` builds a new
ChainMapProxy on each access, a measurable share of a GET by id (docs/benchmarks.md).
"""

from __future__ import annotations

from aiohttp import web

from scimlite.api.auth import AuthState
from scimlite.api.metrics import Metrics
from scimlite.settings import Settings
from scimlite.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
AUTH = web.AppKey("auth", AuthState)
METRICS = web.AppKey("metrics", Metrics)
