"""The many-sites data set: the demo site plus 400 offices of very different sizes and 1,000,000 requests, in SQL.

Kept between runs in the database `bench_many_sites` of the bench's PostgreSQL (for the embedded server:
`.data/bench-postgres/`); a comment on the database records what was loaded, and a run whose sites or request
count differ (or `--many-sites-refill`) loads it again. Migrations added since are applied to the kept database.

Sizes are skewed as Jobcenters are: the office of rank r (0 = largest) gets the requests whose hash u in [0, 1)
has floor(400 u^2) = r, so the largest office has 5 % of all requests (50,000) and the smallest 0.06 % (625),
80 to 1. Teams grow with the office (2 + 30 / sqrt(r + 1): 32 teams in the largest, 3 in the smallest), six
caseworkers per team plus a team lead, one admin per office, a client for about every fourth request.

Lifecycle by a second hash b of the request's number (per mille):

| b | status |
| --- | --- |
| 0-9 | received/proposed, decision deadline 4-30 days ago |
| 10-79 | received/proposed, deadline ahead (the proposed ones hold one proposal) |
| 80-139 | scheduled, appointment in the next 20 days (80-82: the client asked for another time) |
| 140-999 | closed (done, withdrawn, declined, expired, no-show) 0-720 days ago; links cleared after 31 days |

Every request has its `request.received` audit row and its sent receipt SMS; scheduled and done ones an
appointment. A fifth of the open requests wait for the team (no caseworker yet).
"""

from __future__ import annotations

import contextlib
import time

import asyncpg

from scheduler import site_addresses

MARKER = "many-sites v1"

ORGANISATION = [
    """CREATE TEMP TABLE ms_sites AS
       SELECT r AS rank, 2 + floor(30 / sqrt(r + 1))::int AS n_teams,
              greatest(50, round({requests} / 4 * (sqrt((r + 1) / {sites}.0) - sqrt(r / {sites}.0))))::int AS n_clients
       FROM generate_series(0, {sites} - 1) r""",
    """INSERT INTO sites (code, name) SELECT 'ms-' || rank, 'Jobcenter ' || rank FROM ms_sites ORDER BY rank""",
    "ALTER TABLE ms_sites ADD COLUMN id bigint",
    "UPDATE ms_sites m SET id = s.id FROM sites s WHERE s.code = 'ms-' || m.rank",
    """INSERT INTO teams (site_id, code, name)
       SELECT m.id, 'team' || t, 'Team ' || t FROM ms_sites m, generate_series(0, 31) t WHERE t < m.n_teams""",
    """CREATE TEMP TABLE ms_teams AS
       SELECT m.rank, substr(t.code, 5)::int AS idx, t.id FROM teams t JOIN ms_sites m ON m.id = t.site_id""",
    """INSERT INTO staff (site_id, team_id, username, display_name, role)
       SELECT m.id, t.id, 'ms' || m.rank || '-t' || t.idx || '-' || g, 'Fallmanager ' || g, 'caseworker'
       FROM ms_teams t JOIN ms_sites m USING (rank), generate_series(0, 5) g""",
    """INSERT INTO staff (site_id, team_id, username, display_name, role)
       SELECT m.id, t.id, 'ms' || m.rank || '-t' || t.idx || '-lead', 'Teamleitung', 'team_lead'
       FROM ms_teams t JOIN ms_sites m USING (rank)""",
    """INSERT INTO staff (site_id, username, display_name, role)
       SELECT id, 'ms' || rank || '-admin', 'Verwaltung', 'admin' FROM ms_sites""",
    """CREATE TEMP TABLE ms_staff AS
       SELECT t.rank, t.idx AS team_idx, substr(s.username, length(s.username))::int AS idx, s.id, s.team_id
       FROM staff s JOIN ms_teams t ON t.id = s.team_id WHERE s.role = 'caseworker' AND s.username LIKE 'ms%'""",
    """INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends)
       SELECT site_id, id, d, '08:00', '16:00' FROM staff, generate_series(0, 4) d
       WHERE username LIKE 'ms%' AND role = 'caseworker'""",
    """INSERT INTO concerns (site_id, code, labels)
       SELECT m.id, c.code, c.labels::jsonb FROM ms_sites m,
              (VALUES ('general', '{{"de": "Allgemeines", "en": "General"}}'),
                      ('no_money', '{{"de": "Kein Geld erhalten", "en": "No money received"}}'),
                      ('job_offer', '{{"de": "Stellenangebot", "en": "Job offer"}}'),
                      ('eservice_help', '{{"de": "Hilfe mit jobcenter.digital", "en": "Help with e-services"}}'))
              c(code, labels)""",
    """CREATE TEMP TABLE ms_concerns AS
       SELECT m.rank, i AS idx, c.id FROM ms_sites m CROSS JOIN generate_series(0, 3) i
       JOIN concerns c ON c.site_id = m.id AND c.code = (ARRAY['general', 'no_money', 'job_offer', 'eservice_help'])[i + 1]""",
    """INSERT INTO clients (site_id, phone, sms_consent)
       SELECT m.id, '+49151' || lpad((m.rank * 100000 + g)::text, 8, '0'), true
       FROM ms_sites m, generate_series(0, 99999) g WHERE g < m.n_clients""",
    """CREATE TEMP TABLE ms_clients AS
       SELECT m.rank, substr(c.phone, 7)::int % 100000 AS idx, c.id
       FROM clients c JOIN ms_sites m ON m.id = c.site_id""",
    "CREATE INDEX ON ms_clients (rank, idx)",
    "ANALYZE ms_sites, ms_teams, ms_staff, ms_concerns, ms_clients",
]

REQUESTS = """
WITH x AS (SELECT g, floor({sites} * ((hashint4(g)::bigint + 2147483648) / 4294967296.0) ^ 2)::int AS rank,
                  (hashint4(g # 1431655765)::bigint + 2147483648) % 1000 AS b
           FROM generate_series(1, {requests}) g),
     y AS (SELECT x.*, m.id AS site_id, g % m.n_teams AS team_idx, (g / 7) % m.n_clients AS client_idx,
                  CASE WHEN b < 80 THEN (ARRAY['received', 'proposed'])[1 + g % 2]
                       WHEN b < 140 THEN 'scheduled'
                       ELSE (ARRAY['done', 'done', 'done', 'done', 'done', 'done', 'withdrawn', 'declined',
                                   'expired', 'no_show'])[1 + g % 10] END AS status,
                  CASE WHEN b < 10 THEN now() - (4 + g % 27) * interval '1 day'
                       WHEN b < 80 THEN now() + (1 + g % 10) * interval '1 day' END AS deadline_at,
                  CASE WHEN b >= 140 THEN now() - (g % 720) * interval '1 day' - (g % 24) * interval '1 hour'
                       END AS closed_at
           FROM x JOIN ms_sites m USING (rank))
INSERT INTO requests (site_id, client_id, concern_id, channel, status, reference, link_token, team_id, staff_id,
                      priority, created_at, updated_at, deadline_at, closed_at, sms_consent, wants_other_time, note)
SELECT y.site_id, cl.id, co.id, (ARRAY['web', 'kiosk', 'phone', 'staff'])[1 + g % 4], y.status, 'M' || g,
       CASE WHEN y.closed_at IS NULL OR y.closed_at > now() - interval '31 days' THEN 'ms-token-' || g END,
       t.id, CASE WHEN g % 5 = 0 AND y.b < 80 THEN NULL ELSE st.id END, 10 + g % 80,
       coalesce(y.closed_at - interval '10 days', y.deadline_at - interval '5 days',
                now() - (1 + g % 20) * interval '1 day'),
       coalesce(y.closed_at, now() - interval '1 day'), y.deadline_at, y.closed_at, true, y.b BETWEEN 80 AND 82,
       'Bitte um einen Termin wegen ' || g
FROM y JOIN ms_teams t ON t.rank = y.rank AND t.idx = y.team_idx
       JOIN ms_staff st ON st.rank = y.rank AND st.team_idx = y.team_idx AND st.idx = (g / 3) % 6
       JOIN ms_concerns co ON co.rank = y.rank AND co.idx = g % 4
       JOIN ms_clients cl ON cl.rank = y.rank AND cl.idx = y.client_idx
"""

# Scheduled ones get distinct half hours per caseworker (the no-double-booking constraint), done ones an hour
# before they closed.
APPOINTMENTS = """
WITH first_staff AS (SELECT team_id, min(id) AS id FROM ms_staff GROUP BY team_id),
     r AS (SELECT r.id, r.site_id, r.client_id, coalesce(r.staff_id, f.id) AS staff_id, r.status, r.closed_at
           FROM requests r JOIN first_staff f ON f.team_id = r.team_id
           WHERE r.status IN ('scheduled', 'done') AND r.reference LIKE 'M%'),
     n AS (SELECT r.*, row_number() OVER (PARTITION BY staff_id, status = 'scheduled' ORDER BY id) - 1 AS n FROM r)
INSERT INTO appointments (site_id, request_id, client_id, staff_id, during, mode, status, ical_uid, created_by,
                          created_at, outcome, outcome_at)
SELECT site_id, id, client_id, staff_id, tstzrange(start, start + interval '30 minutes'), 'in_person',
       CASE status WHEN 'scheduled' THEN 'confirmed' ELSE 'completed' END, 'ms-' || id, 'policy',
       start - interval '7 days', CASE status WHEN 'done' THEN 'held' END,
       CASE status WHEN 'done' THEN closed_at END
FROM (SELECT n.*, CASE WHEN status = 'scheduled'
                       THEN date_trunc('day', now()) + (1 + n % 20) * interval '1 day' + interval '8 hours'
                            + (n / 20) * interval '30 minutes'
                       ELSE closed_at - interval '1 hour' END AS start FROM n) q
"""

REST = [
    """INSERT INTO proposals (site_id, request_id, staff_id, during, mode)
       SELECT r.site_id, r.id, coalesce(r.staff_id, f.id),
              tstzrange(date_trunc('day', now()) + interval '2 days 9 hours',
                        date_trunc('day', now()) + interval '2 days 9 hours 30 minutes'), 'in_person'
       FROM requests r JOIN (SELECT team_id, min(id) AS id FROM ms_staff GROUP BY team_id) f ON f.team_id = r.team_id
       WHERE r.status = 'proposed' AND r.reference LIKE 'M%'""",
    """INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details, created_at)
       SELECT site_id, 'system', 'request.received', 'request', id,
              jsonb_build_object('channel', channel, 'note', note), created_at
       FROM requests WHERE reference LIKE 'M%'""",
    """INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, payload, status, due_at, sent_at,
                           request_id, created_at)
       SELECT r.site_id, 'request:' || r.id || ':received', 'sms', 'sms.request_received', c.phone,
              jsonb_build_object('reference', r.reference), 'sent', r.created_at, r.created_at, r.id, r.created_at
       FROM requests r JOIN clients c ON c.id = r.client_id WHERE r.reference LIKE 'M%'""",
]


async def fill(conn: asyncpg.Connection, *, sites: int, requests: int) -> dict[str, float]:
    """Load the organisation, host names and requests; returns seconds per step."""
    timings: dict[str, float] = {}

    async def step(name: str, sql: str) -> None:
        t0 = time.perf_counter()
        await conn.execute(sql)
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t0, 1)

    for sql in ORGANISATION:
        await step("organisation", sql.format(sites=sites, requests=requests))
    t0 = time.perf_counter()
    for row in await conn.fetch("SELECT rank, id FROM ms_sites ORDER BY rank"):
        await site_addresses.set_hosts(conn, row["id"], [f"termine.jc-{row['rank']}.example",
                                                         f"jc-{row['rank']}.kommunal-it.example"])
    timings["site_hosts"] = round(time.perf_counter() - t0, 1)
    await step("requests", REQUESTS.format(sites=sites, requests=requests))
    await step("appointments", APPOINTMENTS)
    for i, sql in enumerate(REST):
        await step(("proposals", "audit_events", "outbox")[i], sql)
    t0 = time.perf_counter()
    await conn.execute("VACUUM ANALYZE")
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")
    timings["vacuum"] = round(time.perf_counter() - t0, 1)
    return timings
