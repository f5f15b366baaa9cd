"""Staff sign-in, sessions, CSRF and roles, through the real app and a real PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from scheduler.app import create_app
from scheduler.config import Config
from scheduler.errors import Forbidden, TooManyRequests, Unauthorized
from scheduler.permissions import Role
from scheduler.staff import auth
from scheduler.staff.signin_limits import PasswordChecks
from tests.factories import SiteFacts

PASSWORDS = {"admin": "demo-admin", "lead.entrance": "demo-lead", "cw.meyer": "demo-caseworker"}


async def protected(request: web.Request) -> web.Response:
    user = await auth.require_staff(request)
    return web.json_response({"username": user.username})


async def admins_only(request: web.Request) -> web.Response:
    user = await auth.require_staff(request, Role.admin)
    return web.json_response({"username": user.username})


@pytest.fixture
def app(config: Config, pool: asyncpg.Pool) -> web.Application:
    app = create_app(config)
    app.router.add_post("/test/protected", protected, name="test-protected")
    app.router.add_post("/test/admins-only", admins_only, name="test-admins-only")
    return app


def url(client: TestClient, name: str) -> str:
    return str(client.app.router[name].url_for())


async def sign_in(client: TestClient, username: str, password: str | None = None, *,
                  bearer: bool = False) -> dict[str, object]:
    r = await client.post(url(client, "staff-signin"), json={
        "username": username, "password": password or PASSWORDS[username], "session": "bearer" if bearer else "cookie"})
    assert r.status == 201, await r.text()
    body: dict[str, object] = await r.json()
    return body


def without_request_id(body: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in body.items() if k != "request_id"}


async def test_role_enum_equals_db_check(conn: asyncpg.Connection) -> None:
    definition = await conn.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'staff'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%role%'"
    )
    assert set(re.findall(r"'([a-z_]+)'", definition)) == {r.value for r in Role}


async def test_sign_in_sets_cookie_and_session_works(client: TestClient, site: SiteFacts) -> None:
    r = await client.post(url(client, "staff-signin"),
                          json={"username": "cw.meyer", "password": "demo-caseworker"})
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["user"]["username"] == "cw.meyer"
    assert body["user"]["role"] == "caseworker"
    assert body["user"]["id"] == site.staff["cw.meyer"]
    cookie = r.headers["Set-Cookie"]
    assert "staff_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie

    r = await client.get(url(client, "staff-session"))
    assert r.status == 200
    me = await r.json()
    assert me["user"] == body["user"]
    assert me["csrf_token"] == body["csrf_token"]


async def test_only_the_token_hash_is_stored(client: TestClient, conn: asyncpg.Connection) -> None:
    body = await sign_in(client, "admin", bearer=True)
    stored = await conn.fetchval("SELECT token_hash FROM staff_sessions")
    assert stored == auth.token_hash(str(body["token"])) != body["token"]


async def test_sign_in_renews_the_session_each_time(client: TestClient, conn: asyncpg.Connection) -> None:
    first = await sign_in(client, "admin", bearer=True)
    second = await sign_in(client, "admin", bearer=True)
    assert first["token"] != second["token"]
    assert await conn.fetchval("SELECT count(*) FROM staff_sessions WHERE revoked_at IS NULL") == 2


async def test_wrong_password_and_unknown_user_look_the_same(client: TestClient) -> None:
    english = {"Accept-Language": "en"}
    wrong = await client.post(url(client, "staff-signin"), json={"username": "admin", "password": "nope"},
                              headers=english)
    unknown = await client.post(url(client, "staff-signin"), json={"username": "nobody", "password": "nope"},
                                headers=english)
    assert wrong.status == unknown.status == 401
    assert without_request_id(await wrong.json()) == without_request_id(await unknown.json())
    assert (await wrong.json())["message"] == "Username or password is wrong."
    assert "Set-Cookie" not in wrong.headers


async def test_failures_are_recorded_and_cleared_on_success(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    await client.post(url(client, "staff-signin"), json={"username": "admin", "password": "nope"})
    await client.post(url(client, "staff-signin"), json={"username": "ghost", "password": "nope"})
    rows = await conn.fetch("SELECT username, site_id FROM sign_in_failures ORDER BY id")
    assert [(r["username"], r["site_id"]) for r in rows] == [("admin", site.site_id), ("ghost", None)]
    await sign_in(client, "admin")
    assert await conn.fetchval("SELECT count(*) FROM sign_in_failures WHERE username = 'admin'") == 0


async def test_five_failures_throttle_even_the_right_password(client: TestClient) -> None:
    for _ in range(5):
        r = await client.post(url(client, "staff-signin"), json={"username": "admin", "password": "nope"})
        assert r.status == 401
    r = await client.post(url(client, "staff-signin"), json={"username": "Admin", "password": "demo-admin"})
    assert r.status == 429
    retry_after = int(r.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    assert (await r.json())["retry_after"] == retry_after
    # Another account is not affected.
    await sign_in(client, "cw.meyer")


async def test_throttle_ends_after_the_delay(pool: asyncpg.Pool, checks: PasswordChecks) -> None:
    now = datetime.now(UTC)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await auth.sign_in(pool, checks=checks, username="admin", password="nope", now=now)
    with pytest.raises(TooManyRequests) as caught:
        await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin",
                           now=now + timedelta(seconds=1))
    assert caught.value.extra["retry_after"] == 3
    later = now + timedelta(seconds=4)
    signed = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=later)
    assert signed.user.role is Role.admin


async def test_inactive_staff_cannot_sign_in(client: TestClient, conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE staff SET active = false WHERE username = 'cw.meyer'")
    inactive = await client.post(url(client, "staff-signin"),
                                 json={"username": "cw.meyer", "password": "demo-caseworker"})
    unknown = await client.post(url(client, "staff-signin"), json={"username": "nobody", "password": "x"})
    assert inactive.status == 401
    assert without_request_id(await inactive.json()) == without_request_id(await unknown.json())


async def test_deactivating_staff_ends_their_sessions(pool: asyncpg.Pool, conn: asyncpg.Connection, checks: PasswordChecks) -> None:
    now = datetime.now(UTC)
    signed = await auth.sign_in(pool, checks=checks, username="cw.meyer", password="demo-caseworker", now=now)
    await conn.execute("UPDATE staff SET active = false WHERE username = 'cw.meyer'")
    assert await auth.session_user(pool, signed.token, now=now, idle_minutes=30) is None


@pytest.mark.parametrize("payload", [{}, {"username": "", "password": ""}, {"username": 3, "password": None}])
async def test_missing_fields_are_named(client: TestClient, payload: dict[str, object]) -> None:
    r = await client.post(url(client, "staff-signin"), json=payload)
    assert r.status == 422
    body = await r.json()
    assert body["error"] == "validation"
    assert set(body["fields"]) == {"username", "password"}


@pytest.mark.parametrize(("data", "content_type", "status", "error"), [
    ("{not json", "application/json", 400, "malformed-json"),
    ("[1, 2]", "application/json", 400, "malformed-json"),
    (b"\xff\xfe", "application/json", 400, "malformed-json"),
    ("username=admin&password=x", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
])
async def test_bad_bodies_are_4xx(client: TestClient, data: str | bytes, content_type: str, status: int,
                                  error: str) -> None:
    r = await client.post(url(client, "staff-signin"), data=data, headers={"Content-Type": content_type})
    assert r.status == status, await r.text()
    assert (await r.json())["error"] == error


async def test_idle_timeout(pool: asyncpg.Pool, checks: PasswordChecks) -> None:
    now = datetime.now(UTC)
    signed = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now)
    assert await auth.session_user(pool, signed.token, now=now + timedelta(minutes=29), idle_minutes=30)
    # Being seen at minute 29 keeps it alive until minute 59.
    assert await auth.session_user(pool, signed.token, now=now + timedelta(minutes=58), idle_minutes=30)
    late = now + timedelta(minutes=89)
    assert await auth.session_user(pool, signed.token, now=late, idle_minutes=30) is None


async def test_last_seen_is_written_at_most_once_a_minute(pool: asyncpg.Pool,
                                                          conn: asyncpg.Connection, checks: PasswordChecks) -> None:
    now = datetime.now(UTC)
    signed = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now)
    await auth.session_user(pool, signed.token, now=now + timedelta(seconds=30), idle_minutes=30)
    assert await conn.fetchval("SELECT last_seen_at FROM staff_sessions") == now
    await auth.session_user(pool, signed.token, now=now + timedelta(minutes=2), idle_minutes=30)
    assert await conn.fetchval("SELECT last_seen_at FROM staff_sessions") == now + timedelta(minutes=2)


async def test_session_expires_after_max_hours(pool: asyncpg.Pool, checks: PasswordChecks) -> None:
    now = datetime.now(UTC)
    signed = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now, max_hours=10)
    assert await auth.session_user(pool, signed.token, now=now + timedelta(hours=9), idle_minutes=24 * 60)
    expired = now + timedelta(hours=10)
    assert await auth.session_user(pool, signed.token, now=expired, idle_minutes=24 * 60) is None


async def test_unknown_token_is_no_session(pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    assert await auth.session_user(pool, "made-up", now=now, idle_minutes=30) is None
    assert await auth.session_user(pool, "x" * 10_000, now=now, idle_minutes=30) is None


async def test_sign_out_revokes_and_clears_cookie(client: TestClient, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    body = await sign_in(client, "lead.entrance")
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))["staff_session"].value
    r = await client.delete(url(client, "staff-sign-out"), headers={"X-CSRF-Token": str(body["csrf_token"])})
    assert r.status == 204
    assert 'staff_session=""' in r.headers["Set-Cookie"]
    assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM staff_sessions")
    # The token no longer works, even when presented again explicitly.
    r = await client.get(url(client, "staff-session"), headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401
    r = await client.get(url(client, "staff-session"))
    assert r.status == 401
    assert (await r.json())["error"] == "unauthorized"
    # Signing out again is harmless.
    assert (await client.delete(url(client, "staff-sign-out"))).status == 204


async def test_sign_out_by_cookie_needs_csrf(client: TestClient) -> None:
    await sign_in(client, "admin")
    r = await client.delete(url(client, "staff-sign-out"))
    assert r.status == 403
    assert (await r.json())["error"] == "csrf"
    assert (await client.get(url(client, "staff-session"))).status == 200


async def test_revoke_all(pool: asyncpg.Pool, site: SiteFacts, checks: PasswordChecks) -> None:
    now = datetime.now(UTC)
    first = await auth.sign_in(pool, checks=checks, username="cw.meyer", password="demo-caseworker", now=now)
    second = await auth.sign_in(pool, checks=checks, username="cw.meyer", password="demo-caseworker", now=now)
    other = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now)
    assert await auth.revoke_all(pool, site.staff["cw.meyer"], actor=other.user.actor) == 2
    for signed in (first, second):
        assert await auth.session_user(pool, signed.token, now=now, idle_minutes=30) is None
    assert await auth.session_user(pool, other.token, now=now, idle_minutes=30) is not None
    assert await auth.revoke(pool, auth.token_hash(first.token), actor="system") is False


async def test_csrf_required_for_cookie_posts(client: TestClient) -> None:
    body = await sign_in(client, "cw.meyer")
    r = await client.post(url(client, "test-protected"))
    assert r.status == 403
    assert (await r.json())["error"] == "csrf"
    r = await client.post(url(client, "test-protected"), headers={"X-CSRF-Token": "wrong"})
    assert (await r.json())["error"] == "csrf"
    r = await client.post(url(client, "test-protected"), headers={"X-CSRF-Token": "ünïcode"})
    assert (await r.json())["error"] == "csrf"
    r = await client.post(url(client, "test-protected"), headers={"X-CSRF-Token": str(body["csrf_token"])})
    assert r.status == 200
    assert await r.json() == {"username": "cw.meyer"}
    r = await client.post(url(client, "test-protected"), data={"csrf_token": str(body["csrf_token"])})
    assert r.status == 200


async def test_bearer_requests_are_exempt_from_csrf(client: TestClient) -> None:
    body = await sign_in(client, "cw.meyer", bearer=True)
    assert not client.session.cookie_jar.filter_cookies(client.make_url("/"))  # a token or a cookie, not both
    r = await client.post(url(client, "test-protected"), headers={"Authorization": f"Bearer {body['token']}"})
    assert r.status == 200
    r = await client.post(url(client, "test-protected"), headers={"Authorization": "Bearer wrong"})
    assert r.status == 401


async def test_no_session_is_401(client: TestClient) -> None:
    r = await client.post(url(client, "test-protected"))
    assert r.status == 401
    assert (await r.json())["error"] == "unauthorized"


async def test_role_check(client: TestClient) -> None:
    body = await sign_in(client, "cw.meyer")
    r = await client.post(url(client, "test-admins-only"), headers={"X-CSRF-Token": str(body["csrf_token"])})
    assert r.status == 403
    assert (await r.json())["error"] == "forbidden"
    body = await sign_in(client, "admin")
    r = await client.post(url(client, "test-admins-only"), headers={"X-CSRF-Token": str(body["csrf_token"])})
    assert r.status == 200


async def test_require_site(pool: asyncpg.Pool, site: SiteFacts, checks: PasswordChecks) -> None:
    signed = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=datetime.now(UTC))
    auth.require_site(signed.user, site.site_id)
    with pytest.raises(Forbidden):
        auth.require_site(signed.user, site.site_id + 1)


async def test_audit_rows(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    body = await sign_in(client, "admin")
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))["staff_session"].value
    await client.delete(url(client, "staff-sign-out"), headers={"X-CSRF-Token": str(body["csrf_token"])})
    rows = await conn.fetch(
        "SELECT site_id, actor, action, subject_type, subject_id, details->>'session' FROM audit_events "
        "WHERE action LIKE 'staff.%' ORDER BY id"
    )
    admin_id, session = site.staff["admin"], auth.token_hash(token)[:12]
    assert [tuple(r) for r in rows] == [
        (site.site_id, f"staff:{admin_id}", "staff.sign_in", "staff", admin_id, session),
        (site.site_id, f"staff:{admin_id}", "staff.session_revoked", "staff", admin_id, session),
    ]


async def test_outdated_hash_is_upgraded(pool: asyncpg.Pool, conn: asyncpg.Connection, checks: PasswordChecks) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("demo-admin")
    await conn.execute("UPDATE staff SET password_hash = $1 WHERE username = 'admin'", weak)
    await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=datetime.now(UTC))
    upgraded = await conn.fetchval("SELECT password_hash FROM staff WHERE username = 'admin'")
    assert upgraded != weak
    assert PasswordHasher().verify(upgraded, "demo-admin")


async def test_hash_password_round_trip() -> None:
    assert PasswordHasher().verify(auth.hash_password("s3cret"), "s3cret")



async def test_control_characters_in_the_username_are_a_plain_refusal(client: TestClient) -> None:
    r = await client.post(url(client, "staff-signin"), json={"username": "\x00adm\x05in", "password": "x\x00"})
    assert r.status == 401


async def test_page_scripts_never_receive_the_session_token(client: TestClient) -> None:
    # A script on a staff page (an injected one, say) reads the answer of the JSON sign-in.
    r = await client.post(url(client, "staff-signin"), json={"username": "admin", "password": "demo-admin"},
                          headers={"Origin": str(client.make_url("")).rstrip("/")})
    assert r.status == 201
    body = await r.json()
    assert "token" not in body and body["csrf_token"]
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["staff_session"].value
    assert cookie not in await r.text()
    assert "HttpOnly" in r.headers["Set-Cookie"]
    # Nor can it ask for a Bearer token: browsers send Origin with every scripted POST.
    r = await client.post(url(client, "staff-signin"), headers={"Origin": "https://staff.example", "Accept-Language": "en"},
                          json={"username": "admin", "password": "demo-admin", "session": "bearer"})
    assert r.status == 422
    assert set((await r.json())["fields"]) == {"session"}


async def test_api_clients_get_a_bearer_token_and_no_cookie(client: TestClient) -> None:
    body = await sign_in(client, "admin", bearer=True)
    assert body["token"]
    assert "staff_session" not in client.session.cookie_jar.filter_cookies(client.make_url("/"))


async def test_accounts_marked_for_single_sign_on_cannot_use_a_password(client: TestClient,
                                                                         conn: asyncpg.Connection) -> None:
    english = {"Accept-Language": "en"}
    await conn.execute("UPDATE staff SET sso = 'subject', oidc_subject = 'https://idp.example|42' "
                       "WHERE username = 'cw.meyer'")
    await conn.execute("UPDATE staff SET sso = 'username' WHERE username = 'lead.entrance'")
    wrong = await client.post(url(client, "staff-signin"), json={"username": "admin", "password": "nope"},
                              headers=english)
    for username in ("cw.meyer", "lead.entrance"):
        r = await client.post(url(client, "staff-signin"), headers=english,
                              json={"username": username, "password": PASSWORDS[username]})
        assert r.status == 401
        assert without_request_id(await r.json()) == without_request_id(await wrong.json())
    # The form says the same.
    r = await client.get("/staff/sign-in")
    token = r.cookies["staff_signin"].value
    r = await client.post("/staff/sign-in", data={"username": "cw.meyer", "password": PASSWORDS["cw.meyer"],
                                                  "signin_token": token}, allow_redirects=False)
    assert r.status == 401 and "staff_session" not in r.cookies
