"""Idempotency keys of submissions: server-made keys apart from client keys, client keys bound to their sender.

A key the server makes (converting a callback, the demo seed) is looked up only among server keys, so a
client who sends the same text neither gets that request's link nor takes the key before staff use it.
A client key is bound to a hash of the number and the body it first came with: a retry with the same
number and body gets the first answer (it is the same caller: they sent what only they had), anything else
with that key is refused with 409 and no token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

import asyncpg

from scheduler import callbacks
from scheduler import requests as requests_
from scheduler.errors import DomainError
from scheduler.i18n import N_


class KeyReused(DomainError):
    status, code = 409, "idempotency-key-reused"
    default_message = N_("This request was already sent with other details.")


REUSED_FIELD = N_("This key was already used for a different request. Please send a new key.")


def fingerprint(fields: Mapping[str, object]) -> str:
    """sha256 of a submission's number and body, in one canonical form (sorted keys, no spaces)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def find_earlier(conn: asyncpg.Connection, site_id: int, *, callback: bool, client_key: str | None,
                       server_key: str | None, bound_to: str | None) -> requests_.Request | callbacks.Callback | None:
    """The request (or callback) an earlier submit with this key made; KeyReused when a client key is not ours."""
    key, server = (server_key, True) if server_key else (client_key, False)
    if not key:
        return None
    found = await (callbacks.find_by_key if callback else requests_.find_by_key)(conn, site_id, key, server=server)
    if found is None:
        return None
    item, bound = found
    # Rows stored before keys were bound (no hash) match no replay.
    if not server and (bound is None or bound_to is None or not hmac.compare_digest(bound, bound_to)):
        raise KeyReused(fields={"idempotency_key": REUSED_FIELD})
    return item
