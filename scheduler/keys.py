"""Every web.AppKey: what a handler may reach as request.app[KEY]."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from scheduler.config import Config
from scheduler.holds import Holds
from scheduler.lobby_feed import LobbyFeed
from scheduler.notify.dispatch import Senders
from scheduler.site_directory import AddressBook
from scheduler.sites import SetupCache

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
ROLE = web.AppKey("role", str)

SENDERS = web.AppKey("senders", Senders)
HOLDS = web.AppKey("holds", Holds)  # this process's recent proposals (see scheduler/holds.py)
SITE_SETUPS = web.AppKey("site_setups", SetupCache)  # each site's teams, concerns and rule sets, by config stamp
LOBBY_FEED = web.AppKey("lobby_feed", LobbyFeed)  # calls and arrivals heard by this process (LISTEN lobby)
ADDRESS_BOOK = web.AppKey("address_book", AddressBook)  # host and number -> site (see scheduler/site_directory.py)

# The office a request is for (channels/site_choice.py), set before the rate limits count it; SITE_EXPLICIT: chosen
# by a known host, path prefix, cookie or called number (links of another office then answer 404), not the default.
SITE_ID = web.RequestKey("site_id", int)
SITE_EXPLICIT = web.RequestKey("site_explicit", bool)
