"""Every web.AppKey: what a handler may reach as request.app[KEY]."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from scheduler.config import Config
from scheduler.dispatch import Senders

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
ROLE = web.AppKey("role", str)

SENDERS = web.AppKey("senders", Senders)
