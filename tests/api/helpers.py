"""Helpers for API tests: signed-in staff clients and request payloads."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp.test_utils import TestClient


async def staff_headers(client: TestClient, username: str = "cw.meyer", password: str = "demo-caseworker") -> dict[str, str]:
    """Sign in and return Bearer headers for that staff member."""
    r = await client.post("/api/staff/session", json={"username": username, "password": password,
                                                            "session": "bearer"})
    assert r.status == 201, await r.text()
    return {"Authorization": f"Bearer {(await r.json())['token']}"}


def appointment_body(**overrides: Any) -> dict[str, Any]:
    """A valid appointment request with a fresh mobile number."""
    body: dict[str, Any] = {
        "concern": "general", "phone": f"0151 {secrets.randbelow(10**8):08d}", "language": "de",
        "modes": ["in_person"], "windows": {}, "note": "", "sms_consent": True,
    }
    body.update(overrides)
    return body
