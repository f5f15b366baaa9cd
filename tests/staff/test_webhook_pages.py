"""Admin pages for outgoing webhooks: add (secret shown once), delivery log, retry now, rotate, deactivate;
admins of the site only, another site's endpoint is not found, every change audited."""

from __future__ import annotations

import re

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import webhooks
from scheduler.notify import webhook_send
from tests.factories import SiteFacts, create_request
from tests.staff.helpers import flash, sign_in
from tests.webhook_support import endpoint

ALL_TYPES = [t.value for t in webhooks.EventType]


def _secret(html: str) -> str:
    found = re.search(r'id="new-secret-value">(whsec_[A-Za-z0-9+/=]+)<', html)
    assert found, html
    return found.group(1)


async def test_the_admin_adds_an_endpoint_and_sees_its_secret_once(client: TestClient, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    html = await (await client.get("/staff/admin/webhooks")).text()
    assert 'href="/staff/admin/webhooks" aria-current="page"' in html and "Noch keine Webhooks." in html
    r = await client.post("/staff/admin/webhooks", data=[
        ("csrf_token", csrf), ("url", "https://fallakte.jobcenter.example/hooks"), ("description", "Fallakte"),
        ("event_types", "appointment.booked"), ("event_types", "appointment.cancelled")])
    assert r.status == 201
    secret = _secret(await r.text())
    row = await conn.fetchrow("SELECT * FROM webhook_endpoints WHERE site_id = $1", site.site_id)
    assert (row["url"], row["description"], row["event_types"], row["secret"], row["created_by"]) == (
        "https://fallakte.jobcenter.example/hooks", "Fallakte", ["appointment.booked", "appointment.cancelled"],
        secret, site.staff["admin"])
    again = await (await client.get("/staff/admin/webhooks")).text()
    assert secret not in again and "https://fallakte.jobcenter.example/hooks" in again
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'webhook.create' "
                               "AND subject_id = $1", row["id"]) == 1


async def test_bad_input_is_refused_field_by_field(client: TestClient, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    for url, types, text in (("http://fallakte.example/hooks", ["request.received"], "https"),
                             ("https://x.example/" + "a" * 600, ["request.received"], "500"),
                             ("https://fallakte.example/hooks", [], "Ereignis"),
                             ("https://fallakte.example/hooks", ["request.deleted"], "Ereignis")):
        r = await client.post("/staff/admin/webhooks", data=[("csrf_token", csrf), ("url", url)] + [
            ("event_types", t) for t in types])
        assert r.status == 200 and text in flash(await r.text()), (url, types)
    assert await conn.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_only_admins_of_the_site_reach_the_pages(client: TestClient, conn: asyncpg.Connection,
                                                       site: SiteFacts) -> None:
    other = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderstadt', 'JC Anderstadt') RETURNING id")
    theirs, secret = await endpoint(conn, other, "https://anderstadt.example/hooks")
    csrf = await sign_in(client, "lead.entrance")
    assert (await client.get("/staff/admin/webhooks")).status == 403
    r = await client.post("/staff/admin/webhooks", data={"csrf_token": csrf, "url": "https://evil.example/",
                                                         "event_types": "request.received"})
    assert r.status == 403
    await client.post("/staff/sign-out", data={"csrf_token": csrf})
    csrf = await sign_in(client, "admin")
    assert (await client.get(f"/staff/admin/webhooks/{theirs}")).status == 404
    for action in ("rotate", "deactivate", f"deliveries/msg_{'0' * 32}/retry"):
        r = await client.post(f"/staff/admin/webhooks/{theirs}/{action}", data={"csrf_token": csrf})
        assert r.status == 404, action
    row = await conn.fetchrow("SELECT active, secret FROM webhook_endpoints WHERE id = $1", theirs)
    assert (row["active"], row["secret"]) == (True, secret)
    assert "anderstadt.example" not in await (await client.get("/staff/admin/webhooks")).text()


async def test_log_retry_rotate_and_deactivate(client: TestClient, conn: asyncpg.Connection, site: SiteFacts,
                                               app_pool: asyncpg.Pool) -> None:
    endpoint_id, secret = await endpoint(conn, site.site_id, "http://127.0.0.1:9/nobody-listens",
                                         (webhooks.EventType.request_received,))
    await create_request(conn, site)
    await webhook_send.dispatch_due(app_pool, now=await conn.fetchval("SELECT now() + interval '1 minute'"))
    await conn.execute("UPDATE webhook_deliveries SET status = 'failed'")  # as after the last attempt
    delivery_id = await conn.fetchval("SELECT id FROM webhook_deliveries")
    csrf = await sign_in(client, "admin")
    html = await (await client.get(f"/staff/admin/webhooks/{endpoint_id}")).text()
    assert "request.received" in html and delivery_id in html and "Erneut senden" in html
    r = await client.post(f"/staff/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry",
                          data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/staff/admin/webhooks/{endpoint_id}"
    assert await conn.fetchval("SELECT status FROM webhook_deliveries") == "pending"
    r = await client.post(f"/staff/admin/webhooks/{endpoint_id}/rotate", data={"csrf_token": csrf})
    new_secret = _secret(await r.text())
    assert new_secret != secret
    assert await conn.fetchval("SELECT secret FROM webhook_endpoints WHERE id = $1", endpoint_id) == new_secret
    r = await client.post(f"/staff/admin/webhooks/{endpoint_id}/deactivate", data={"csrf_token": csrf})
    assert r.status == 200 and flash(await r.text())
    assert await conn.fetchval("SELECT active FROM webhook_endpoints WHERE id = $1", endpoint_id) is False
    assert await conn.fetchval("SELECT status FROM webhook_deliveries") == "failed"
    actions = [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_events WHERE subject_type = 'webhook_endpoint' ORDER BY id")]
    assert actions == ["webhook.retry", "webhook.rotate_secret", "webhook.deactivate"]
    missing = "msg_" + "0" * 32
    assert (await client.post(f"/staff/admin/webhooks/{endpoint_id}/deliveries/{missing}/retry",
                              data={"csrf_token": csrf}, allow_redirects=False)).status == 404
