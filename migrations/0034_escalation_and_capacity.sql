-- Issue 16, "Escalation" and "Demand against capacity".
--
-- A request is escalated when the deadlines job flags it past its decision deadline (requests.overdue_flagged_at,
-- migration 0002): it stays escalated while it is open and the flag is later than its current deadline, so a
-- reassignment (a fresh decision and deadline) ends the escalation, and missing the new deadline escalates again.
-- Owner of escalation_summaries: scheduler/escalation.py.

-- One daily summary per team and local day: the UNIQUE key makes the summary job idempotent across processes
-- (a second process's INSERT finds the row and sends nothing). mails = staff e-mails queued with it through the
-- outbox; 0 means the site does not allow e-mail (or no lead has an address): the escalation page shows it.
CREATE TABLE escalation_summaries (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id              bigint NOT NULL REFERENCES sites,
    team_id              bigint NOT NULL,
    day                  date NOT NULL,
    escalated            int NOT NULL CHECK (escalated >= 0),
    new_since            int NOT NULL CHECK (new_since >= 0 AND new_since <= escalated),
    oldest_deadline_at   timestamptz,
    mails                int NOT NULL DEFAULT 0 CHECK (mails >= 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, day),
    FOREIGN KEY (site_id, team_id) REFERENCES teams (site_id, id)
);
CREATE INDEX escalation_summaries_site_day ON escalation_summaries (site_id, day DESC);

-- The escalation list and the navigation's count read only escalated open requests: a small partial index.
CREATE INDEX requests_escalated ON requests (site_id, team_id, deadline_at)
    WHERE status IN ('received', 'proposed') AND overdue_flagged_at > deadline_at;

-- Demand against capacity counts a site's requests of the last 12 weeks per team, concern and channel: an
-- index-only scan of this index instead of reading tens of thousands of rows of a large office from the heap
-- (bench/demand_capacity.py). One more index on requests, paid by each insert.
CREATE INDEX requests_demand_history ON requests (site_id, team_id, created_at) INCLUDE (concern_id, channel);
