"""Helpers for staff UI tests: sign in through the form, create requests through intake."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import intake
from scheduler.policy.rules import Kind

PASSWORDS = {"admin": "demo-admin", "lead.entrance": "demo-lead", "lead.u25": "demo-lead", "lead.placement": "demo-lead",
             "cw.meyer": "demo-caseworker", "cw.demir": "demo-caseworker", "cw.yilmaz": "demo-caseworker"}
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data


async def sign_in(client: TestClient, username: str) -> str:
    """Sign in through the HTML form (the session cookie stays in the client); returns the CSRF token."""
    r = await client.post("/staff/sign-in", data={"username": username, "password": PASSWORDS[username],
                                                  "signin_token": await signin_token(client)},
                          allow_redirects=False)
    assert r.status == 303, await r.text()
    session = await (await client.get("/api/staff/session")).json()
    token: str = session["csrf_token"]
    return token


async def signin_token(client: TestClient) -> str:
    """Open the sign-in form as a browser would: its token, with the matching cookie kept in the client."""
    html = await (await client.get("/staff/sign-in")).text()
    found = re.search(r'name="signin_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def submit(pool: asyncpg.Pool, *, kind: Kind = Kind.appointment, phone: str | None = None,
                 concern: str = "general", channel: str = "web") -> intake.Submitted:
    """A client request through the real intake (policy, proposals, notices)."""
    return await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=kind, channel=channel, concern=concern,
        phone=phone or f"+49151{secrets.randbelow(10**8):08d}", language="de", sms_consent=True,
        modes=("in_person",)), now=datetime.now(UTC))


def flash(html: str) -> str:
    """The flash message text on a page ('' when there is none)."""
    found = re.search(r'<p class="flash (?:ok|error)"[^>]*>(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""
