"""Staff single sign-on (OIDC) against a small local provider running on a free port."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from yarl import URL

from scheduler.app import create_app
from scheduler.config import Config
from scheduler.i18n import translate
from scheduler.staff import auth, oidc
from scheduler.staff.auth import SESSION_COOKIE

CLIENT_ID = "jobcenter-scheduler"
CLIENT_SECRET = "test-client-secret"
REQUIRED_GROUP = "jobcenter-staff"


def rsa_key(kid: str) -> RSAKey:
    """A fresh RSA signing key (made with cryptography) as a JWK."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return RSAKey.import_key(pem, {"kid": kid, "use": "sig", "alg": "RS256"})


@pytest.fixture(scope="module")
def signing_keys() -> tuple[RSAKey, RSAKey, RSAKey]:
    """The provider's key, a stranger's key with the same kid, and a rotated key."""
    return rsa_key("key-1"), rsa_key("key-1"), rsa_key("key-2")


class FakeProvider:
    """Discovery, /authorize (answers at once for the configured user), /token (RS256 ID token), /jwks."""

    def __init__(self, key: RSAKey) -> None:
        self.key = key
        self.sign_with: RSAKey = key
        self.issuer = ""
        self.claims: dict[str, Any] = {"sub": "sso-4711", "preferred_username": "cw.meyer",
                                       "groups": ["jobcenter-staff", "other"]}
        self.tamper: Callable[[dict[str, Any]], None] = lambda claims: None
        self.codes: dict[str, dict[str, str]] = {}
        self.jwks_requests = 0
        self.app = web.Application()
        self.app.router.add_get("/.well-known/openid-configuration", self.discovery)
        self.app.router.add_get("/authorize", self.authorize)
        self.app.router.add_post("/token", self.token)
        self.app.router.add_get("/jwks", self.jwks)

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        })

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
        assert q["code_challenge_method"] == "S256" and "openid" in q["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        target = URL(q["redirect_uri"]).update_query(code=code, state=q["state"])
        raise web.HTTPFound(str(target))

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.codes.pop(str(form.get("code")), None)  # codes work once
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if (form.get("grant_type") != "authorization_code" or grant is None or challenge != grant["challenge"]
                or form.get("redirect_uri") != grant["redirect_uri"]):
            return web.json_response({"error": "invalid_grant"}, status=400)
        now = issued_now()
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"],
                  **self.claims}
        self.tamper(claims)
        id_token = jwt.encode({"alg": "RS256", "kid": self.sign_with.kid}, claims, self.sign_with)
        return web.json_response({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                  "expires_in": 300, "id_token": id_token})

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        return web.json_response({"keys": [self.key.as_dict(private=False)]})


@pytest.fixture
async def provider(signing_keys: tuple[RSAKey, RSAKey, RSAKey]) -> Any:
    fake = FakeProvider(signing_keys[0])
    server = TestServer(fake.app, host="127.0.0.1", port=0)  # a free port
    await server.start_server()
    fake.issuer = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
def config(base_config: Config, provider: FakeProvider) -> Config:
    return dataclasses.replace(base_config, oidc=dataclasses.replace(
        base_config.oidc, enabled=True, issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        required_claim="groups", required_value=REQUIRED_GROUP))


@pytest.fixture(autouse=True)
async def marked_for_sso(conn: asyncpg.Connection) -> None:
    """An admin marked cw.meyer for single sign-on by username (lead.entrance and admin are not marked)."""
    await conn.execute("UPDATE staff SET sso = 'username' WHERE username = 'cw.meyer'")


async def sso(client: TestClient, provider: FakeProvider, *, next_path: str | None = None,
              state: str | None = None) -> Any:
    """Walk the redirects by hand: service -> provider /authorize -> service callback; returns the last answer."""
    r = await client.get("/staff/sign-in/oidc", params={"next": next_path} if next_path else None,
                         allow_redirects=False)
    assert r.status == 303, await r.text()
    to_provider = URL(r.headers["Location"])
    assert str(to_provider).startswith(provider.issuer + "/authorize")
    r = await client.session.get(to_provider, allow_redirects=False)
    assert r.status == 302
    back = URL(r.headers["Location"])
    assert back.path == "/staff/sign-in/oidc/callback"
    if state is not None:
        back = back.update_query(state=state)
    return await client.get(back.path_qs, allow_redirects=False)


async def session_count(conn: asyncpg.Connection, username: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM staff_sessions s JOIN staff st ON st.id = s.staff_id WHERE st.username = $1",
        username)
    return count


def forget_session(client: TestClient) -> None:
    client.session.cookie_jar.clear()


async def test_button_only_when_enabled(client: TestClient, aiohttp_client: Any, base_config: Config) -> None:
    r = await client.get("/staff/sign-in", params={"lang": "de"})
    assert 'id="sign-in-sso"' in (html := await r.text())
    assert translate("de", "Sign in with single sign-on") in html
    off = await aiohttp_client(create_app(base_config))
    r = await off.get("/staff/sign-in")
    assert "sign-in-sso" not in await r.text()
    r = await off.get("/staff/sign-in/oidc", allow_redirects=False)
    assert r.status == 404


async def test_redirect_carries_pkce_state_nonce_and_flow_cookie(client: TestClient, provider: FakeProvider) -> None:
    r = await client.get("/staff/sign-in/oidc", allow_redirects=False)
    assert r.status == 303
    query = URL(r.headers["Location"]).query
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["state"] and query["nonce"] and query["redirect_uri"].endswith("/staff/sign-in/oidc/callback")
    cookie = r.cookies[oidc.FLOW_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/staff/sign-in/oidc"
    assert 0 < int(cookie["max-age"]) <= 600


async def test_first_sign_in_links_by_username_then_by_subject(client: TestClient, provider: FakeProvider,
                                                               conn: asyncpg.Connection) -> None:
    r = await sso(client, provider)
    assert r.status == 303, await r.text()
    assert r.headers["Location"] == "/staff/inbox"
    assert SESSION_COOKIE in r.cookies and r.cookies[oidc.FLOW_COOKIE].value == ""
    subject = f"{provider.issuer}|sso-4711"
    assert await conn.fetchval("SELECT username FROM staff WHERE oidc_subject = $1", subject) == "cw.meyer"
    row = await conn.fetchrow(
        "SELECT details FROM audit_events WHERE action = 'staff.sign_in' ORDER BY id DESC LIMIT 1")
    assert row["details"]["method"] == "oidc"
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'staff.oidc_linked'") == 1

    # The second time the subject decides, whatever the username claim says now.
    forget_session(client)
    provider.claims["preferred_username"] = "renamed.in.directory"
    r = await sso(client, provider)
    assert r.status == 303, await r.text()
    session = await (await client.get("/api/staff/session")).json()
    assert session["user"]["username"] == "cw.meyer"
    assert await session_count(conn, "cw.meyer") == 2
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'staff.oidc_linked'") == 1


async def test_session_works_on_staff_pages(client: TestClient, provider: FakeProvider) -> None:
    r = await sso(client, provider, next_path="/staff/callbacks")
    assert r.status == 303 and r.headers["Location"] == "/staff/callbacks"
    r = await client.get("/staff", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/staff/inbox"
    r = await client.get("/staff/inbox", allow_redirects=False)
    assert r.status == 200
    session = await (await client.get("/api/staff/session")).json()
    r = await client.post("/staff/sign-out", data={auth.CSRF_FIELD: session["csrf_token"]}, allow_redirects=False)
    assert r.status == 303
    r = await client.get("/staff/inbox", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/staff/sign-in")


def _wrong_nonce(claims: dict[str, Any]) -> None:
    claims["nonce"] = "not-the-nonce"


def issued_now() -> int:
    """The `iat` of a token issued now: the service checks ID tokens against its own clock."""
    return int(datetime.now(UTC).timestamp())


def _wrong_audience(claims: dict[str, Any]) -> None:
    claims["aud"] = "another-client"


def _expired(claims: dict[str, Any]) -> None:
    claims["iat"], claims["exp"] = issued_now() - 900, issued_now() - 600


def _wrong_issuer(claims: dict[str, Any]) -> None:
    claims["iss"] = "https://evil.example"


def _control_characters(claims: dict[str, Any]) -> None:
    claims["sub"] = "sso\x004711"


REASONS = {"wrong nonce": "'nonce'", "wrong audience": "'aud'", "expired": "expired_token",
           "wrong issuer": "'iss'", "bad signature": "bad_signature", "state mismatch": "state mismatch",
           "unusable subject": "unusable sub"}


@pytest.mark.parametrize("case", list(REASONS))
async def test_untrusted_answers_are_refused(client: TestClient, provider: FakeProvider, conn: asyncpg.Connection,
                                            signing_keys: tuple[RSAKey, RSAKey, RSAKey], case: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    tampering = {"wrong nonce": _wrong_nonce, "wrong audience": _wrong_audience, "expired": _expired,
                 "wrong issuer": _wrong_issuer, "unusable subject": _control_characters}
    if case in tampering:
        provider.tamper = tampering[case]
    if case == "bad signature":
        provider.sign_with = signing_keys[1]  # same kid, another private key
    r = await sso(client, provider, state="forged-state" if case == "state mismatch" else None)
    assert r.status == 403
    assert translate("de", oidc.SIGN_IN_FAILED) in await r.text()
    assert SESSION_COOKIE not in r.cookies
    assert await session_count(conn, "cw.meyer") == 0
    assert await conn.fetchval("SELECT count(*) FROM staff WHERE oidc_subject IS NOT NULL") == 0
    logged = " ".join(rec.getMessage() + str(getattr(rec, "reason", "")) for rec in caplog.records)
    assert REASONS[case] in logged  # refused for this reason, not by accident
    assert (await client.get("/api/staff/session")).status == 401


async def test_callback_without_flow_cookie_is_refused(client: TestClient, provider: FakeProvider,
                                                       conn: asyncpg.Connection) -> None:
    r = await client.get("/staff/sign-in/oidc/callback", params={"code": "x", "state": "y"}, allow_redirects=False)
    assert r.status == 403
    assert await conn.fetchval("SELECT count(*) FROM staff_sessions") == 0


async def test_code_is_not_accepted_twice(client: TestClient, provider: FakeProvider,
                                          conn: asyncpg.Connection) -> None:
    r = await client.get("/staff/sign-in/oidc", allow_redirects=False)
    r = await client.session.get(URL(r.headers["Location"]), allow_redirects=False)
    back = URL(r.headers["Location"]).path_qs
    assert (await client.get(back, allow_redirects=False)).status == 303
    forget_session(client)
    assert (await client.get(back, allow_redirects=False)).status == 403  # the flow cookie is gone
    assert await session_count(conn, "cw.meyer") == 1


async def test_inactive_staff_is_refused(client: TestClient, provider: FakeProvider,
                                         conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE staff SET active = false WHERE username = 'cw.meyer'")
    r = await sso(client, provider)
    assert r.status == 403
    assert translate("de", auth.INACTIVE_ACCOUNT) in await r.text()
    assert await session_count(conn, "cw.meyer") == 0
    assert await conn.fetchval("SELECT oidc_subject FROM staff WHERE username = 'cw.meyer'") is None


async def test_unknown_or_already_linked_username_is_refused(client: TestClient, provider: FakeProvider,
                                                             conn: asyncpg.Connection) -> None:
    provider.claims["preferred_username"] = "nobody.here"
    r = await sso(client, provider)
    assert r.status == 403
    assert translate("de", auth.UNKNOWN_ACCOUNT) in await r.text()
    # An account linked to one identity cannot be taken over by another identity with the same username.
    await conn.execute("UPDATE staff SET oidc_subject = 'https://other.example|1' WHERE username = 'cw.meyer'")
    provider.claims["preferred_username"] = "cw.meyer"
    r = await sso(client, provider)
    assert r.status == 403
    assert await conn.fetchval("SELECT count(*) FROM staff_sessions") == 0


async def test_rotated_signing_key_is_fetched_again(client: TestClient, provider: FakeProvider,
                                                    signing_keys: tuple[RSAKey, RSAKey, RSAKey]) -> None:
    assert (await sso(client, provider)).status == 303
    assert provider.jwks_requests == 1
    forget_session(client)
    assert (await sso(client, provider)).status == 303
    assert provider.jwks_requests == 1  # cached
    provider.key = provider.sign_with = signing_keys[2]
    forget_session(client)
    assert (await sso(client, provider)).status == 303
    assert provider.jwks_requests == 2


def test_texts_are_translated() -> None:
    for msgid in (oidc.SIGN_IN_FAILED, oidc.PROVIDER_UNAVAILABLE, auth.UNKNOWN_ACCOUNT, auth.INACTIVE_ACCOUNT,
                  "Sign in with single sign-on"):
        assert translate("de", msgid) != msgid
        assert translate("en", msgid) == msgid


async def test_an_unmarked_account_is_never_linked(client: TestClient, provider: FakeProvider,
                                                   conn: asyncpg.Connection) -> None:
    # Anyone the issuer lets pick a username (a self-service directory, another office's realm) claims "admin".
    for username in ("admin", "lead.entrance"):
        provider.claims["preferred_username"] = username
        r = await sso(client, provider)
        assert r.status == 403
        assert translate("de", auth.UNKNOWN_ACCOUNT) in await r.text()
    assert await conn.fetchval("SELECT count(*) FROM staff WHERE oidc_subject IS NOT NULL") == 0
    assert await conn.fetchval("SELECT count(*) FROM staff_sessions") == 0


@pytest.mark.parametrize("groups", [None, [], ["other"], "other", ["Jobcenter-Staff"], [["jobcenter-staff"]]])
async def test_linking_by_username_needs_the_required_group(client: TestClient, provider: FakeProvider,
                                                            conn: asyncpg.Connection, groups: Any) -> None:
    if groups is None:
        del provider.claims["groups"]
    else:
        provider.claims["groups"] = groups
    r = await sso(client, provider)
    assert r.status == 403
    assert await conn.fetchval("SELECT oidc_subject FROM staff WHERE username = 'cw.meyer'") is None
    assert await session_count(conn, "cw.meyer") == 0


async def test_a_linked_account_that_left_the_group_is_refused(client: TestClient, provider: FakeProvider,
                                                               conn: asyncpg.Connection) -> None:
    assert (await sso(client, provider)).status == 303
    forget_session(client)
    provider.claims["groups"] = ["other"]
    assert (await sso(client, provider)).status == 403
    assert await session_count(conn, "cw.meyer") == 1


async def test_no_required_value_means_no_linking_by_username(aiohttp_client: Any, config: Config,
                                                              provider: FakeProvider, conn: asyncpg.Connection) -> None:
    open_config = dataclasses.replace(config, oidc=dataclasses.replace(config.oidc, required_value=""))
    client = await aiohttp_client(create_app(open_config))
    assert (await sso(client, provider)).status == 403
    assert await conn.fetchval("SELECT oidc_subject FROM staff WHERE username = 'cw.meyer'") is None


async def admin_client(aiohttp_client: Any, config: Config) -> tuple[TestClient, str]:
    admin = await aiohttp_client(create_app(config))
    r = await admin.post("/api/staff/session", json={"username": "admin", "password": "demo-admin"})
    assert r.status == 201, await r.text()
    return admin, (await r.json())["csrf_token"]


async def test_admin_marks_an_account_for_one_identity(client: TestClient, aiohttp_client: Any, config: Config,
                                                       provider: FakeProvider, conn: asyncpg.Connection) -> None:
    staff_id = await conn.fetchval("SELECT id FROM staff WHERE username = 'lead.entrance'")
    path = f"/staff/admin/staff/{staff_id}/sso"
    admin, csrf = await admin_client(aiohttp_client, config)
    # Without the form's CSRF token nothing changes.
    r = await admin.post(path, data={"mode": "subject", "subject": "sso-0815"}, allow_redirects=False)
    assert r.status == 403
    assert await conn.fetchval("SELECT sso FROM staff WHERE id = $1", staff_id) is None
    r = await admin.post(path, data={"mode": "subject", "subject": "sso-0815", auth.CSRF_FIELD: csrf},
                         allow_redirects=False)
    assert r.status == 303
    assert await conn.fetchval("SELECT oidc_subject FROM staff WHERE id = $1", staff_id) == \
        f"{provider.issuer}|sso-0815"
    # That identity signs in (whatever its username claim); another identity with the username does not.
    provider.claims.update(sub="sso-0815", preferred_username="someone.else", groups=[])
    r = await sso(client, provider)
    assert r.status == 303
    assert (await (await client.get("/api/staff/session")).json())["user"]["username"] == "lead.entrance"
    forget_session(client)
    provider.claims.update(sub="sso-9999", preferred_username="lead.entrance", groups=[REQUIRED_GROUP])
    assert (await sso(client, provider)).status == 403
    # Marked accounts no longer take a password.
    r = await client.post("/api/staff/session", json={"username": "lead.entrance", "password": "demo-lead"})
    assert r.status == 401
    # Unmarking gives the password back and drops the link.
    r = await admin.post(path, data={"mode": "off", auth.CSRF_FIELD: csrf}, allow_redirects=False)
    assert r.status == 303
    assert await conn.fetchval("SELECT oidc_subject FROM staff WHERE id = $1", staff_id) is None
    r = await client.post("/api/staff/session", json={"username": "lead.entrance", "password": "demo-lead"})
    assert r.status == 201


async def test_sso_marking_is_admin_only_and_checks_its_input(aiohttp_client: Any, config: Config,
                                                              conn: asyncpg.Connection) -> None:
    staff_id = await conn.fetchval("SELECT id FROM staff WHERE username = 'lead.entrance'")
    path = f"/staff/admin/staff/{staff_id}/sso"
    lead = await aiohttp_client(create_app(config))
    r = await lead.post("/api/staff/session", json={"username": "cw.meyer", "password": "demo-caseworker"})
    assert r.status == 401  # cw.meyer is marked for single sign-on here
    r = await lead.post("/api/staff/session", json={"username": "admin", "password": "demo-admin"})
    admin_csrf = (await r.json())["csrf_token"]
    for data in ({"mode": "subject", "subject": ""}, {"mode": "subject", "subject": "x" * 256},
                 {"mode": "everyone"}):
        r = await lead.post(path, data={**data, auth.CSRF_FIELD: admin_csrf}, allow_redirects=False)
        assert r.status == 303  # back to the page with a message
        assert await conn.fetchval("SELECT sso FROM staff WHERE id = $1", staff_id) is None
    admin_id = await conn.fetchval("SELECT id FROM staff WHERE username = 'admin'")
    r = await lead.post(f"/staff/admin/staff/{admin_id}/sso", data={"mode": "username", auth.CSRF_FIELD: admin_csrf},
                        allow_redirects=False)
    assert await conn.fetchval("SELECT sso FROM staff WHERE id = $1", admin_id) is None  # not oneself
    caseworker = await aiohttp_client(create_app(config))
    await conn.execute("UPDATE staff SET sso = NULL WHERE username = 'cw.meyer'")
    r = await caseworker.post("/api/staff/session", json={"username": "cw.meyer", "password": "demo-caseworker"})
    csrf = (await r.json())["csrf_token"]
    r = await caseworker.post(path, data={"mode": "off", auth.CSRF_FIELD: csrf}, allow_redirects=False)
    assert r.status == 403

