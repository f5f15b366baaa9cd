"""The staff JSON API invites with a notice template (issue 15); the version used is kept with the request."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import seed
from tests.api.helpers import staff_headers
from tests.factories import SiteFacts


async def test_invitation_with_a_template(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    template_id = await conn.fetchval("SELECT id FROM notice_templates WHERE kind = 'mandatory'")
    headers = await staff_headers(client)
    body = {"phone": "+4915199880044", "concern": "job_offer", "language": "uk"}
    for bad in ("7", True, 999999):
        r = await client.post("/api/staff/invitations", headers=headers, json={**body, "template_id": bad})
        fields = (await r.json())["fields"]
        assert r.status == 422 and {"template_id", "template"} & set(fields), fields
    r = await client.post("/api/staff/invitations", headers=headers,
                          json={**body, "template_id": template_id, "bring": "Pass"})
    assert r.status == 201, await r.text()
    created = await r.json()
    assert created["invitation"] == "mandatory" and created["proposals"]
    row = await conn.fetchrow("SELECT template_id, version, bring FROM invitation_notices WHERE request_id = $1",
                              created["id"])
    assert tuple(row) == (template_id, 1, "Pass")
    kinds = [r["kind"] for r in await conn.fetch(
        "SELECT kind FROM invitation_evidence WHERE request_id = $1 ORDER BY id", created["id"])]
    assert "created" in kinds
