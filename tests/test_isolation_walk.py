"""Isolation, proven by a walk over every route: staff of one site, in every role, reach nothing of another site.

The routes come from the app's router, so a new route is walked without anyone adding it here. Each path
parameter is filled with the other office's object (the map below); a parameter the map does not know fails
the walk with a message saying where to add it. Every answer must refuse (403/404, a role that may not enter
sent to the sign-in, or a form refused for its fields before the object is read), every unsafe request must
leave the other site's rows as they were and write no audit row there, no row may end up pointing into
another site, and no page without parameters may show the other site's client (name, phone, reference) or
rule set. Three ways: each site's staff against the other's objects, and staff on their own objects with the
other site's ids in every form. The walker's session is checked after each role, so a route that signs out
cannot turn the rest of the walk into refusals for nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import unquote

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import create_request, load_site_facts
from tests.staff.helpers import PASSWORDS, signin_token
from tests.two_sites import MARKER_NAME, SiteObjects, book_seat, every_kind, second_site, second_site_password

FIRST_SITE_STAFF = {"caseworker": "cw.meyer", "team_lead": "lead.entrance", "admin": "admin"}
SECOND_SITE_STAFF = {"caseworker": "nord.cw1", "team_lead": "nord.lead", "admin": "nord.admin"}
# Both ways: staff of the first (default) site walk to the second site's objects, and the other way round
# (which catches a page that reads the default site instead of the signed-in user's).
# The third way: staff act on their own site's objects with the other site's ids in every form and query
# (an own request reassigned to the other's caseworker, the other's customer group set on an own client, ...).
DIRECTIONS = {
    "first-site-staff": ("nordstadt", SECOND_SITE_STAFF, FIRST_SITE_STAFF, None),
    "second-site-staff": ("musterstadt", FIRST_SITE_STAFF, SECOND_SITE_STAFF, None),
    "own-objects-other-ids": ("nordstadt", SECOND_SITE_STAFF, FIRST_SITE_STAFF, "musterstadt"),
}
OWN_MARKERS = {"marker_name": "Olga Eigenheim", "marker_phone": "+4915299880000"}
OWN_KIOSK = {"X-Kiosk-Token": "demo-kiosk-foyer-1"}  # a kiosk of the walkers' site
REFUSED = {401, 403, 404}
# A form refused for its fields (an error status, or back with an error message) before the command looked at
# the object: it shows nothing and, as the snapshot below proves, changes nothing of the other site.
FORM_REFUSED = {400, 409, 422}

# Routes whose token is itself the credential of the other site's client or device (a client opens their own
# request by its link; a display shows its own site's board): holding it is being that client or device, so a
# staff session adds nothing. They are walked below only for the answer's status (never a 500).
CAPABILITY_PREFIXES = ("/r/{token}", "/api/public/{token}", "/g/{token}", "/display/{token}",
                       "/staff/feed/{feed_token}", "/staff/password/{token}")
# Parameters that address no site's data (the vendored scripts of the staff pages).
NOT_SITE_DATA = {"/staff/vendor/{name}"}
# Routes that end or open the walker's own session: walked, every later answer would be a refusal for nothing.
OWN_SESSION = {"staff-sign-out", "staff-signout", "staff-signin", "staff-signin-submit"}
# Routes that never end (event streams); parameterless ones are not read for markers.
STAFF_ONLY = ("/staff", "/api/staff")
GUARDED = (*STAFF_ONLY, "/sessions")  # and the public session pages, which show the default site's sessions only
STREAMS = re.compile(r"/events$")


def _by_path(path: str, choices: dict[str, str], objects: SiteObjects) -> str:
    for part, kind in choices.items():
        if part in path:
            return str(objects.ids.get(kind, objects.tokens.get(kind, "")))
    raise LookupError(path)


def parameter_map(objects: SiteObjects) -> dict[str, Callable[[str], str]]:
    """Route parameter name -> the other site's value for a route path (add new parameters here)."""
    ids, tokens = objects.ids, objects.tokens

    def of(kind: str) -> Callable[[str], str]:
        return lambda _path: str(ids[kind])

    return {
        "request_id": of("request"), "appointment_id": of("appointment"), "callback_id": of("callback"),
        "closure_id": of("closure"), "concern_id": of("concern"), "followup_id": of("followup"),
        "group_id": of("customer_group"), "policy_id": of("policy"), "room_id": of("room"), "seat_id": of("seat"),
        "session_id": of("group_session"), "staff_id": of("staff"), "template_id": of("template"),
        "ticket_id": of("ticket"), "handle": lambda _path: tokens["session_handle"], "endpoint_id": of("webhook_endpoint"),
        "delivery_id": lambda _path: tokens["webhook_delivery"], "site_id": lambda _path: str(objects.site_id),
        "batch_id": lambda path: _by_path(path, {"/letters/": "letter_batch", "/batch-invitations/":
                                                 "invitation_batch"}, objects),
        "device_id": lambda path: _by_path(path, {"/kiosks/": "kiosk", "/displays/": "display"}, objects),
        "row_id": lambda path: _by_path(path, {"/absences/": "absence", "/hours/": "hours"}, objects),
        "id": lambda path: _by_path(path, {"/appointments/": "appointment", "/callbacks/": "callback",
                                           "/clients/": "client", "/policies/": "policy",
                                           "/requests/": "request"}, objects),
        "token": lambda path: _by_path(path, {"/r/": "request", "/api/public/": "request", "/g/": "seat",
                                              "/display/": "display", "/staff/password/": "reset"}, objects),
        "feed_token": lambda _path: tokens["feed"],
        "code": lambda _path: "0" * 8,
        "source": lambda _path: "absence",
        "source_id": lambda _path: str(ids["absence"]),
    }


def unknown_parameters(paths: list[str], values: dict[str, Callable[[str], str]]) -> list[str]:
    """Every route parameter the map cannot fill, as a message for the developer who added the route."""
    def known(name: str, path: str) -> bool:
        try:
            values[name](path)
        except LookupError:  # a parameter the map does not know, or an object it has not for this path
            return False
        return True

    return [f"route {path}: parameter {{{name}}} is not in the isolation walk's map; add it to parameter_map() in "
            f"tests/test_isolation_walk.py (and its object to tests/two_sites.py)"
            for path in paths if path not in NOT_SITE_DATA for name in re.findall(r"\{(\w+)\}", path)
            if not known(name, path)]


def fill(path: str, values: dict[str, Callable[[str], str]]) -> str:
    """The path with every {parameter} replaced by the other site's value."""
    def one(found: re.Match[str]) -> str:
        name = found.group(1)
        try:
            return values[name](path)
        except LookupError:
            pytest.fail(f"route {path}: parameter {{{name}}} has no object for this path in parameter_map()")
    return re.sub(r"\{(\w+)\}", one, path)


def routes(app: web.Application) -> list[tuple[str, str, str]]:
    """(method, path template, name) of every route the app registers, HEAD and static files left out."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if route.method in ("HEAD", "*") or not isinstance(path, str):
            continue
        found.append((route.method, path, route.name or ""))
    return sorted(set(found), key=lambda r: (r[1], r[0]))


SNAPSHOT_SKIPS = {"audit_events", "rate_limits", "sign_in_failures"}


async def snapshot_sql(conn: asyncpg.Connection) -> str:
    """One statement fingerprinting every row of a site in every table with a site_id."""
    tables = [r["table_name"] for r in await conn.fetch(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'site_id' "
        "ORDER BY table_name") if r["table_name"] not in SNAPSHOT_SKIPS]
    parts = [f"SELECT '{t}' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h "  # nosec B608
             f"FROM public.{t} x WHERE site_id = $1" for t in tables]
    return " UNION ALL ".join(parts)


CROSS_REFERENCES = """
SELECT c.conrelid::regclass::text AS tbl, a.attname AS col, c.confrelid::regclass::text AS ref
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1] AND r.attname = 'id'
WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND c.connamespace = 'public'::regnamespace
  AND EXISTS (SELECT 1 FROM pg_attribute s WHERE s.attrelid = c.conrelid AND s.attname = 'site_id')
  AND EXISTS (SELECT 1 FROM pg_attribute s WHERE s.attrelid = c.confrelid AND s.attname = 'site_id')
"""


async def rows_pointing_across_sites(conn: asyncpg.Connection) -> list[str]:
    """Every row whose reference (a single-column foreign key to an id) names a row of another site."""
    found, references = [], await conn.fetch(CROSS_REFERENCES)
    assert len(references) >= 30, references  # requests -> staff, appointments -> requests, seats -> sessions, ...
    for fk in references:
        count = await conn.fetchval(  # names from the catalogue, never from input
            f"SELECT count(*) FROM {fk['tbl']} x JOIN {fk['ref']} y ON y.id = x.{fk['col']} "  # nosec B608
            "WHERE x.site_id <> y.site_id")
        if count:
            found.append(f"{fk['tbl']}.{fk['col']} -> {fk['ref']}: {count} row(s) of another site")
    return found


def _fingerprints(rows: list[asyncpg.Record]) -> dict[str, str]:
    return {r["t"]: r["h"] for r in rows}


@pytest.fixture
async def other(pool: asyncpg.Pool) -> SiteObjects:
    await second_site(pool)
    objects = await every_kind(pool, "nordstadt", caseworker="nord.cw1", admin="nord.admin")
    await book_seat(pool, objects)
    return objects


async def _request(client: TestClient, method: str, url: str, csrf: str,
                   body: dict[str, str]) -> tuple[int, str, str, str]:
    unsafe = method not in ("GET", "HEAD")
    headers = {"X-CSRF-Token": csrf} if unsafe else {}
    typed = {k: float(v) if k == "rank" else int(v) if v.isdigit() else v for k, v in body.items()}
    api = url.startswith("/api/")
    async with client.request(method, url, headers=headers, allow_redirects=False,
                              json=typed if unsafe and api else None,
                              data=body if unsafe and not api else None) as r:
        text = "" if r.content_type.startswith(("application/pdf", "text/event-stream")) else await r.text()
        flash = r.cookies.get("staff_flash")
        kind = json.loads(unquote(flash.value)).get("kind", "") if flash is not None and flash.value else ""
        return r.status, r.headers.get("Location", ""), text, kind


def judge(method: str, path: str, status: int, location: str, text: str, markers: tuple[str, ...],
          guarded: tuple[str, ...]) -> list[str]:
    """What is wrong with one answer of the walk (nothing when it refused or showed nothing of the other site)."""
    found = []
    if status >= 500:
        found.append(f"{status}")
    elif "{" in path and not path.startswith(CAPABILITY_PREFIXES) and path.startswith(guarded):
        if status not in REFUSED and not (status in (302, 303) and "/staff/sign-in" in location):
            found.append(f"{status} {location} (expected 403 or 404)")
    if "{" not in path and method == "GET":
        shown = [m for m in markers if m in text]
        if shown:
            found.append(f"shows the other site's {shown}")
    return found


async def _sign_in(client: TestClient, username: str) -> str:
    """Sign in through the form as a first- or second-site account; the session's CSRF token."""
    password = PASSWORDS.get(username) or second_site_password(username)
    r = await client.post("/staff/sign-in", data={"username": username, "password": password,
                                                  "signin_token": await signin_token(client)}, allow_redirects=False)
    assert r.status == 303, await r.text()
    token: str = (await (await client.get("/api/staff/session")).json())["csrf_token"]
    return token


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_walk_every_route_as_each_role_of_the_other_site(client: TestClient, pool: asyncpg.Pool,
                                                               direction: str) -> None:
    app = client.app
    code, owners, walkers, own_code = DIRECTIONS[direction]
    await second_site(pool)
    other = await every_kind(pool, code, caseworker=owners["caseworker"], admin=owners["admin"])
    await book_seat(pool, other)
    guarded = GUARDED if code != "musterstadt" else STAFF_ONLY  # the default site's public pages show its own
    values = other_values = parameter_map(other)
    if own_code is not None:  # own objects in the path; own pages may answer, but never with the other's data
        own = await every_kind(pool, own_code, caseworker=walkers["caseworker"], admin=walkers["admin"],
                               **OWN_MARKERS)
        await book_seat(pool, own)
        values, guarded = parameter_map(own), ()
    body = {f"{name}": other_values[name]("/requests/") for name in ("request_id", "appointment_id", "callback_id",
                                                               "staff_id", "ticket_id", "session_id", "room_id")}
    body |= {"request_ids": str(other.ids["request"]), "client_id": str(other.ids["client"])}
    # What the JSON API's commands need to get past their field checks to the object (else 422 hides the test).
    body |= {"proposal_id": str(other.ids["proposal"]), "start": other.tokens["start"], "mode": "in_person",
             "reason": "Isolationstest", "outcome": "reached", "note": "", "rank": "1.5"}
    # Lists and pages without parameters are asked for the other site's team, rule version, client and site too.
    query = (f"?team={next(iter(other.facts.teams.values()))}&version={other.ids['policy']}"
             f"&phone={other.markers[1].replace('+', '%2B')}&site={code}")
    async with pool.acquire() as conn:
        sql = await snapshot_sql(conn)
        before = _fingerprints(await conn.fetch(sql, other.site_id))
        audit_before = await conn.fetchval("SELECT max(id) FROM audit_events")
    unknown = unknown_parameters([path for _, path, _ in routes(app)], values)
    assert not unknown, "\n".join(unknown)
    problems: list[str] = []
    walked = 0
    for role, username in walkers.items():
        client.session.cookie_jar.clear()
        csrf = await _sign_in(client, username)
        for method, path, name in routes(app):
            if path in NOT_SITE_DATA or name in OWN_SESSION or (STREAMS.search(path) and "{" not in path):
                continue
            url = fill(path, values) if "{" in path else path + query
            status, location, text, flash = await _request(client, method, url, csrf, body)
            walked += 1
            where = f"{role} {method} {url} ({name})"
            refused = status in REFUSED or status in FORM_REFUSED or (status == 303 and flash == "error")
            problems += [f"{where}: {p}" for p in judge(method, path if own_code is None else "", status, location,
                                                          text, other.markers, guarded if not refused else ())]
            if method not in ("GET", "HEAD"):
                async with pool.acquire() as conn:
                    after = _fingerprints(await conn.fetch(sql, other.site_id))
                changed = sorted(t for t in after if after[t] != before.get(t))
                if changed:
                    problems.append(f"{where}: changed the other site's {changed}")
                    before = after
        # Still signed in as the walker: the refusals above were about the site, not a lost session.
        session = await (await client.get("/api/staff/session")).json()
        assert session.get("user", {}).get("username") == username, (role, session)
    async with pool.acquire() as conn:
        written = await conn.fetch("SELECT actor, action, subject_type FROM audit_events WHERE id > $1 "
                                   "AND site_id = $2", audit_before or 0, other.site_id)
        problems += await rows_pointing_across_sites(conn)  # e.g. an own request given to the other's staff
    problems += [f"audit row written in the other site: {dict(r)}" for r in written]
    assert walked >= 3 * 200, walked  # every route, three times
    assert not problems, "\n".join(problems)


async def test_own_kiosk_cannot_check_in_the_other_sites_client(client: TestClient, pool: asyncpg.Pool,
                                                                other: SiteObjects) -> None:
    for entered in ({"reference": other.tokens["reference"]}, {"reference": other.tokens["callback_reference"]},
                    {"phone": other.markers[1], "customer_number": "123D456789"}):
        r = await client.post("/kiosk/api/check-in", json={**entered, "language": "en"}, headers=OWN_KIOSK)
        assert r.status == 200
        body = await r.json()
        assert body["checked_in"] is False
        assert not any(m in json.dumps(body, ensure_ascii=False) for m in other.markers)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM appointments WHERE site_id = $1 AND arrived_at IS NOT NULL",
                                   other.site_id) == 0


async def test_public_pages_of_the_default_site_do_not_open_the_other_sites_session(client: TestClient,
                                                                                     other: SiteObjects) -> None:
    r = await client.get(f"/sessions/{other.ids['group_session']}")
    assert r.status == 404
    listing = await (await client.get("/sessions")).text()
    assert f"/sessions/{other.ids['group_session']}" not in listing


async def test_the_other_sites_own_staff_see_what_the_walk_was_refused(client: TestClient,
                                                                        other: SiteObjects) -> None:
    """The control: the same addresses answer the object's own site, so the walk's refusals are about the site."""
    r = await client.post("/staff/sign-in", data={"username": "nord.admin", "password": second_site_password(
        "nord.admin"), "signin_token": await signin_token(client)}, allow_redirects=False)
    assert r.status == 303
    page = await client.get(f"/staff/requests/{other.ids['request']}")
    assert page.status == 200
    assert MARKER_NAME in await page.text()
    assert (await client.get(f"/staff/admin/staff/{other.ids['staff']}")).status == 200
    assert (await client.get(f"/staff/group-sessions/{other.ids['group_session']}")).status == 200


async def test_a_row_pointing_into_the_other_site_is_found(pool: asyncpg.Pool, other: SiteObjects) -> None:
    """The walk's invariant check sees a reference across sites (here planted by hand)."""
    async with pool.acquire() as conn:
        assert await rows_pointing_across_sites(conn) == []
        first_site_request = await conn.fetchval("SELECT min(id) FROM requests WHERE site_id <> $1", other.site_id)
        if first_site_request is None:
            first_site_request = await create_request(conn, await load_site_facts(conn))
        await conn.execute("UPDATE requests SET staff_id = $2 WHERE id = $1", first_site_request,
                           other.ids["staff"])
        assert await rows_pointing_across_sites(conn) == ["requests.staff_id -> staff: 1 row(s) of another site"]
