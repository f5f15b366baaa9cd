-- Issue 13, items 6 and 12.
--
-- SMS budget per site and local day (scheduler/notify/budget.py): every SMS the dispatcher hands to the
-- provider first takes one unit here, in one guarded statement, so concurrent workers never pass the
-- budget. `warned_at` is set once, by the send that reaches 80 %, and is what the admins' dashboard shows;
-- `exhausted_at` is set by the first SMS that had to wait for the next day.
CREATE TABLE sms_budget_days (
    site_id      bigint NOT NULL REFERENCES sites ON DELETE CASCADE,
    day          date NOT NULL,              -- the site's local calendar day
    used         integer NOT NULL CHECK (used >= 0),
    budget       integer NOT NULL CHECK (budget > 0),   -- the budget that applied when last counted
    warned_at    timestamptz,
    exhausted_at timestamptz,
    PRIMARY KEY (site_id, day)
);

-- Failed kiosk check-ins per device (scheduler/kiosks.py): after a few, each further try must wait longer.
-- Failures are forgotten after a quiet while, so a busy lobby's honest typos do not add up for a whole day.
ALTER TABLE kiosk_devices
    ADD COLUMN checkin_failures  integer NOT NULL DEFAULT 0,
    ADD COLUMN checkin_failed_at timestamptz;
