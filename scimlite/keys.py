"""Every `web.AppKey` scimlite uses, in one place, so state is typed and never global.

The /scim/v2 sub-app holds the root's settings, store, auth and metrics as well
(`create_scim_app`), so every handler reads `request.app[KEY]`: `request.config_dict`
builds a new ChainMapProxy on each access and raises a KeyError through each app that
lacks the key — a measurable share of a GET by id (docs/benchmarks.md).
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
