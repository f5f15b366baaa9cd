-- Issue 17: emergency walk-ins. Where a rule allows it (walk_in: true), a callback request made at the kiosk
-- gets a same-day ticket for the front desk queue (scheduler/walk_ins.py owns both tables).

-- The last ticket number handed out per site and local day: one row, bumped by an upsert, so that
-- simultaneous kiosks queue on its row lock and never draw the same number.
CREATE TABLE walk_in_counters (
    site_id  bigint NOT NULL REFERENCES sites,
    day      date NOT NULL,
    last     int NOT NULL CHECK (last >= 1),
    PRIMARY KEY (site_id, day)
);

-- One ticket per callback request: waiting -> called (again) -> served | left; taken_by is who took it.
CREATE TABLE walk_in_tickets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      bigint NOT NULL REFERENCES sites,
    callback_id  bigint NOT NULL REFERENCES callbacks,
    day          date NOT NULL,
    number       int NOT NULL CHECK (number BETWEEN 1 AND 9999),
    status       text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'called', 'served', 'left')),
    taken_by     bigint REFERENCES staff,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    CONSTRAINT walk_in_tickets_one_per_callback UNIQUE (callback_id),
    CONSTRAINT walk_in_tickets_number_per_day UNIQUE (site_id, day, number),
    CONSTRAINT walk_in_tickets_closed CHECK ((status IN ('served', 'left')) = (closed_at IS NOT NULL))
);
CREATE INDEX walk_in_tickets_open ON walk_in_tickets (site_id, day) WHERE status IN ('waiting', 'called');

-- A call into a room is of an arrived appointment or of a walk-in ticket (the display shows the ticket number).
ALTER TABLE lobby_calls ALTER COLUMN appointment_id DROP NOT NULL;
ALTER TABLE lobby_calls ADD COLUMN walk_in_ticket_id bigint REFERENCES walk_in_tickets ON DELETE CASCADE;
ALTER TABLE lobby_calls ADD CONSTRAINT lobby_calls_one_subject
    CHECK (num_nonnulls(appointment_id, walk_in_ticket_id) = 1);
ALTER TABLE lobby_calls ADD CONSTRAINT lobby_calls_one_per_ticket_attempt UNIQUE (walk_in_ticket_id, attempt);

-- The front desk hears new tickets and their status changes like arrivals (lobby_feed.py).
CREATE TRIGGER walk_in_tickets_lobby_notify AFTER INSERT OR UPDATE OF status, taken_by ON walk_in_tickets
    FOR EACH ROW EXECUTE FUNCTION lobby_notify('arrival');
