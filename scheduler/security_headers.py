"""Browser protections on every response: CSP, no framing, no referrer, no sniffing, HSTS, Secure cookies."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import hdrs, web

from scheduler.config import Config


def content_security_policy(config: Config) -> str:
    """The policy: scripts, styles and everything else only from this origin; nothing may frame a page."""
    form_targets = ["'self'"]
    if config.oidc.enabled:
        # The single sign-on form posts here and is redirected to the issuer; form-action covers that redirect.
        issuer = urlsplit(config.oidc.issuer)
        form_targets.append(f"{issuer.scheme}://{issuer.netloc}")
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # the kiosk receipt shows its QR code as a data: SVG
        "object-src 'none'",
        "base-uri 'none'",
        f"form-action {' '.join(form_targets)}",
        "frame-ancestors 'none'",
    ])


def security_headers(config: Config) -> dict[str, str]:
    """The headers every response carries (HSTS only when the public address is https)."""
    headers = {
        "Content-Security-Policy": content_security_policy(config),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",  # client links carry their token in the path
        "X-Content-Type-Options": "nosniff",
    }
    if _is_https(config):
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def _is_https(config: Config) -> bool:
    return urlsplit(config.server.public_base_url).scheme == "https"


def with_secure_flag(set_cookie: str) -> str:
    """A Set-Cookie header value with the Secure attribute (unchanged when it has one)."""
    attributes = {part.strip().lower() for part in set_cookie.split(";")[1:]}
    return set_cookie if "secure" in attributes else f"{set_cookie}; Secure"


def setup(app: web.Application, config: Config) -> None:
    """Add the headers to every response this app prepares: pages, API, errors, static files."""
    headers = security_headers(config)
    secure_cookies = config.security.cookie_secure

    # A response-prepare hook rather than a middleware: it also sees 404s, static files and the 500s
    # that aiohttp makes itself, which never come back through the middleware chain as responses.
    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)  # a route may bring its own stricter or looser value
        if secure_cookies and hdrs.SET_COOKIE in response.headers:
            cookies = [with_secure_flag(value) for value in response.headers.getall(hdrs.SET_COOKIE)]
            del response.headers[hdrs.SET_COOKIE]
            for value in cookies:
                response.headers.add(hdrs.SET_COOKIE, value)

    app.on_response_prepare.append(add_headers)
