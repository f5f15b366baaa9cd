"""Staff single sign-on with OpenID Connect: the authorization code flow with PKCE, state and nonce.

Authlib supplies the protocol pieces (random values, the PKCE challenge, the authorization URL, the token
request and client authentication, the ID-token claim checks). Signatures are verified with joserfc, which
Authlib 1.9 uses in place of its deprecated ``authlib.jose``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
from aiohttp import web
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from scheduler.config import OidcConfig
from scheduler.errors import Forbidden
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.staff import auth, signin_form, ui
from scheduler.staff.auth import SESSION_COOKIE

log = logging.getLogger(__name__)

FLOW_COOKIE: Final = "staff_oidc_flow"
FLOW_COOKIE_PATH: Final = "/staff/sign-in/oidc"
FLOW_SECONDS: Final = 600
CALLBACK_PATH: Final = "/staff/sign-in/oidc/callback"
CLOCK_LEEWAY_SECONDS: Final = 60
METADATA_SECONDS: Final = 3600
# Only public-key signatures: "none" and HS* (keyed with the client secret) are never accepted.
SIGNING_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                                       "ES512", "EdDSA"})
_MAX_COOKIE_CHARS: Final = 2000
_MAX_PARAM_CHARS: Final = 2000

SIGN_IN_FAILED: Final = N_("Single sign-on did not work. Please try again or sign in with your password.")
PROVIDER_UNAVAILABLE: Final = N_("The single sign-on service cannot be reached. Please try again later or "
                                 "sign in with your password.")


class OidcError(Exception):
    """The provider's answer is missing, malformed or cannot be trusted."""


class ProviderUnavailable(OidcError):
    """The provider could not be reached or answered with a server error."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Flow:
    """What the browser carries between the redirect to the provider and the callback."""

    state: str = field(repr=False)
    nonce: str = field(repr=False)
    verifier: str = field(repr=False)
    next: str = ""


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str  # "<issuer>|<sub>": sub is only unique per issuer
    username: str
    entitled: bool = False  # carries the configured group/role claim (needed to link by username)


class OidcClient:
    """One issuer: discovery and signing keys (cached), the token request and ID-token validation."""

    def __init__(self, config: OidcConfig, http: aiohttp.ClientSession) -> None:
        self._config = config
        self._http = http
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> ProviderMetadata:
        """The issuer's discovery document, fetched at most once an hour."""
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_SECONDS:
                url = self._config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                self._metadata = _parse_metadata(await self._get_json(url), self._config.issuer)
                self._metadata_at = time.monotonic()
                self._keys = None
            return self._metadata

    async def keys(self, *, refresh: bool = False) -> KeySet:
        """The issuer's signing keys (JWKS), cached until a token names a key that is not in the set."""
        meta = await self.metadata()
        async with self._lock:
            if self._keys is None or refresh:
                try:
                    self._keys = KeySet.import_key_set(await self._get_json(meta.jwks_uri))  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError, KeyError) as e:
                    raise OidcError(f"unusable JWKS: {e}") from e
            return self._keys

    def authorization_url(self, meta: ProviderMetadata, flow: Flow, *, redirect_uri: str) -> str:
        """Where to send the browser: code flow with S256 PKCE, state and nonce."""
        url: str = prepare_grant_uri(
            meta.authorization_endpoint, self._config.client_id, "code", redirect_uri=redirect_uri,
            scope=self._config.scopes, state=flow.state, nonce=flow.nonce,
            code_challenge=create_s256_code_challenge(flow.verifier), code_challenge_method="S256",
        )
        return url

    async def exchange(self, meta: ProviderMetadata, *, code: str, verifier: str,
                       redirect_uri: str) -> dict[str, Any]:
        """Trade the authorization code for tokens at the token endpoint."""
        body: str = prepare_token_request("authorization_code", redirect_uri=redirect_uri, code=code,
                                          code_verifier=verifier)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        client_auth = ClientAuth(self._config.client_id, self._config.client_secret, self._auth_method(meta))
        url, headers, body = client_auth.prepare("POST", meta.token_endpoint, headers, body)
        try:
            async with self._http.post(url, data=body.encode(), headers=headers) as r:
                if r.status >= 500:
                    raise ProviderUnavailable(f"token endpoint answered {r.status}")
                answer = await r.json(content_type=None)
                if r.status != 200:
                    error = answer.get("error") if isinstance(answer, dict) else None
                    raise OidcError(f"token endpoint refused the code: {r.status} {error}")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ProviderUnavailable(f"token endpoint unreachable: {e!r}") from e
        except ValueError as e:
            raise OidcError("token endpoint answered no JSON") from e
        if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
            raise OidcError("token response without id_token")
        return answer

    async def validate_id_token(self, meta: ProviderMetadata, tokens: Mapping[str, Any], *,
                                nonce: str) -> CodeIDToken:
        """Verify the ID token's signature with the issuer's keys and check iss, aud, exp, iat and nonce."""
        id_token: str = tokens["id_token"]
        registry = JWSRegistry(algorithms=list(meta.algorithms), strict_check_header=False)
        try:
            try:
                token = jwt.decode(id_token, await self.keys(), registry=registry)
            except InvalidKeyIdError:
                # The issuer rotated its keys since we cached them.
                token = jwt.decode(id_token, await self.keys(refresh=True), registry=registry)
            claims = CodeIDToken(
                token.claims, token.header,
                {"iss": {"essential": True, "value": meta.issuer},
                 "aud": {"essential": True, "value": self._config.client_id},
                 "sub": {"essential": True}, "exp": {"essential": True},
                 "nonce": {"essential": True, "value": nonce}},
                {"nonce": nonce, "client_id": self._config.client_id,
                 "access_token": tokens.get("access_token")},
            )
            claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
        except (JoseError, ValueError, TypeError) as e:
            raise OidcError(f"ID token refused: {e!r}") from e
        return claims

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        """The account key ("<issuer>|<sub>") and the username claim of a validated ID token."""
        if not str(claims["sub"]).isprintable() or len(str(claims["sub"])) > 255:
            raise OidcError("unusable sub claim")  # OIDC Core 2: at most 255 ASCII characters
        username = claims.get(self._config.username_claim)
        return Identity(subject=f"{claims['iss']}|{claims['sub']}",
                        username=username if isinstance(username, str) else "", entitled=self.entitled(claims))

    def entitled(self, claims: Mapping[str, Any]) -> bool:
        """True when the required claim is, or is a list containing, the required value (never when unset)."""
        wanted = self._config.required_value
        found = claims.get(self._config.required_claim)
        values = found if isinstance(found, list) else [found]
        return bool(wanted) and any(isinstance(v, str) and v == wanted for v in values)

    def _auth_method(self, meta: ProviderMetadata) -> str:
        if not self._config.client_secret:
            return "none"  # a public client: PKCE alone binds the code to us
        if "client_secret_basic" in meta.token_auth_methods:
            return "client_secret_basic"
        return "client_secret_post"

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._http.get(url, headers={"Accept": "application/json"}) as r:
                if r.status >= 500:
                    raise ProviderUnavailable(f"{url} answered {r.status}")
                if r.status != 200:
                    raise OidcError(f"{url} answered {r.status}")
                data = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ProviderUnavailable(f"{url} unreachable: {e!r}") from e
        except ValueError as e:
            raise OidcError(f"{url} answered no JSON") from e
        if not isinstance(data, dict):
            raise OidcError(f"{url} answered no JSON object")
        return data


def _parse_metadata(data: Mapping[str, Any], issuer: str) -> ProviderMetadata:
    # OpenID Connect Discovery 1.0, section 4.3: the document must name exactly the configured issuer.
    if data.get("issuer") != issuer:
        raise OidcError(f"discovery names issuer {data.get('issuer')!r}, configured is {issuer!r}")
    try:
        endpoints = {name: str(data[name]) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")}
    except KeyError as e:
        raise OidcError(f"discovery document lacks {e}") from None
    offered = data.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in offered if a in SIGNING_ALGORITHMS)
    if not algorithms:
        raise OidcError(f"no acceptable ID-token signing algorithm among {offered!r}")
    methods = data.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return ProviderMetadata(issuer=issuer, algorithms=algorithms, token_auth_methods=tuple(map(str, methods)),
                            **endpoints)


def new_flow(next_path: str) -> Flow:
    """Fresh state, nonce and PKCE verifier for one sign-in attempt."""
    return Flow(state=generate_token(43), nonce=generate_token(43), verifier=generate_token(64), next=next_path)


def encode_flow(flow: Flow) -> str:
    """The flow as a cookie value."""
    data = {"s": flow.state, "n": flow.nonce, "v": flow.verifier, "x": flow.next}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def decode_flow(value: str | None) -> Flow | None:
    """The flow from a cookie value, or None when it is missing or malformed."""
    if not value or len(value) > _MAX_COOKIE_CHARS:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        flow = Flow(state=data["s"], nonce=data["n"], verifier=data["v"], next=data["x"])
    except (ValueError, TypeError, KeyError):
        return None
    if not all(isinstance(v, str) for v in (flow.state, flow.nonce, flow.verifier, flow.next)):
        return None
    return flow if flow.state and flow.nonce and flow.verifier else None


OIDC = web.AppKey("oidc_client", OidcClient)


async def client_ctx(app: web.Application) -> AsyncIterator[None]:
    """An HTTP session towards the issuer, open while the app runs (only when single sign-on is on)."""
    config = app[CONFIG].oidc
    if not config.enabled:
        yield
        return
    timeout = aiohttp.ClientTimeout(total=config.http_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as http:
        app[OIDC] = OidcClient(config, http)
        yield


def _redirect_uri(request: web.Request) -> str:
    # The URL the provider has registered; we may sit behind a proxy, so never the Host header.
    return request.app[CONFIG].server.public_base_url.rstrip("/") + CALLBACK_PATH


def _refused(request: web.Request, message: str, *, next_path: str = "", status: int = 403) -> web.Response:
    lang = ui.language(request, None)
    response = signin_form.render(request, next_=next_path, username="", error=translate(lang, message),
                                  status=status)
    _clear_flow(request, response)
    return response


def _clear_flow(request: web.Request, response: web.StreamResponse) -> None:
    if FLOW_COOKIE in request.cookies:
        response.del_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH, httponly=True, samesite="Lax",
                            secure=request.app[CONFIG].security.cookie_secure)


routes = web.RouteTableDef()


@routes.get("/staff/sign-in/oidc", name="staff-signin-oidc")
async def start(request: web.Request) -> web.Response:
    """Send the browser to the provider; state, nonce and PKCE verifier wait in a short-lived cookie."""
    if not request.app[CONFIG].oidc.enabled:
        raise web.HTTPNotFound()
    next_path = ui.safe_next(request.query.get("next"), "")
    client = request.app[OIDC]
    try:
        meta = await client.metadata()
    except OidcError as e:
        log.warning("single sign-on unavailable", extra={"reason": str(e)})
        return _refused(request, PROVIDER_UNAVAILABLE, next_path=next_path, status=502)
    flow = new_flow(next_path)
    response = ui.see_other(client.authorization_url(meta, flow, redirect_uri=_redirect_uri(request)))
    # Lax: the provider's redirect back is a top-level GET, which still carries the cookie.
    response.set_cookie(FLOW_COOKIE, encode_flow(flow), max_age=FLOW_SECONDS, path=FLOW_COOKIE_PATH,
                        httponly=True, samesite="Lax", secure=request.app[CONFIG].security.cookie_secure)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get(CALLBACK_PATH, name="staff-signin-oidc-callback")
async def callback(request: web.Request) -> web.Response:
    """Check the provider's answer, find the staff member and open a session like the password sign-in."""
    config = request.app[CONFIG]
    if not config.oidc.enabled:
        raise web.HTTPNotFound()
    flow = decode_flow(request.cookies.get(FLOW_COOKIE))
    state, code = request.query.get("state", ""), request.query.get("code", "")
    if flow is None or not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
        log.warning("single sign-on refused: state mismatch", extra={"has_flow": flow is not None})
        return _refused(request, SIGN_IN_FAILED)
    if "error" in request.query or not code or len(code) > _MAX_PARAM_CHARS:
        log.info("single sign-on refused by the provider", extra={"error": request.query.get("error", "")[:100]})
        return _refused(request, SIGN_IN_FAILED, next_path=flow.next)
    client = request.app[OIDC]
    try:
        meta = await client.metadata()
        tokens = await client.exchange(meta, code=code, verifier=flow.verifier, redirect_uri=_redirect_uri(request))
        claims = await client.validate_id_token(meta, tokens, nonce=flow.nonce)
        identity = client.identity(claims)
    except ProviderUnavailable as e:
        log.warning("single sign-on unavailable", extra={"reason": str(e)})
        return _refused(request, PROVIDER_UNAVAILABLE, next_path=flow.next, status=502)
    except OidcError as e:
        log.warning("single sign-on refused", extra={"reason": str(e)})
        return _refused(request, SIGN_IN_FAILED, next_path=flow.next)
    try:
        signed = await auth.sign_in_linked(request.app[POOL], subject=identity.subject, username=identity.username,
                                           entitled=identity.entitled, now=datetime.now(UTC),
                                           max_hours=config.security.session_max_hours)
    except Forbidden as e:
        return _refused(request, e.message, next_path=flow.next, status=e.status)
    response = ui.see_other(ui.safe_next(flow.next, ui.url(request, "staff-inbox")))
    _clear_flow(request, response)
    response.set_cookie(SESSION_COOKIE, signed.token, max_age=config.security.session_max_hours * 3600, path="/",
                        httponly=True, samesite="Lax", secure=config.security.cookie_secure)
    return response
