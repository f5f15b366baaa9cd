-- Issue 17: group sessions (Gruppeninformationsveranstaltungen). A session has a room, a time, a topic and a
-- number of seats; clients take seats through the web page or a caseworker's invitation, and the caseworker
-- marks each participant held or no-show (scheduler/group_sessions.py owns all three tables).
CREATE TABLE group_sessions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites,
    team_id       bigint NOT NULL REFERENCES teams,
    topic         text NOT NULL CHECK (length(topic) BETWEEN 1 AND 120),   -- a free title, as staff wrote it
    room          text NOT NULL CHECK (length(room) BETWEEN 1 AND 40),
    starts_at     timestamptz NOT NULL,
    minutes       int NOT NULL CHECK (minutes BETWEEN 15 AND 480),
    seats         int NOT NULL CHECK (seats BETWEEN 1 AND 200),
    -- Seats are counted here, in the same statement that writes the participant's row (group_sessions.book):
    -- the UPDATE takes the session row's lock, so concurrent bookings queue on it for a moment and each sees
    -- the count the one before it left; the CHECK is the last word, whatever code path adds a participant.
    -- A seat-number table (UNIQUE (session, seat)) would need each booker to guess a free number and retry on
    -- a clash, and a cancelled seat's number would leave a hole to search for; the counter needs neither.
    taken         int NOT NULL DEFAULT 0,
    status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
    created_by    bigint NOT NULL REFERENCES staff,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_by  bigint REFERENCES staff,
    cancelled_at  timestamptz,
    CONSTRAINT group_sessions_seats_counted CHECK (taken BETWEEN 0 AND seats),
    CONSTRAINT group_sessions_cancel_recorded CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX group_sessions_upcoming ON group_sessions (site_id, starts_at) WHERE status = 'scheduled';

-- The caseworker(s) running a session (at least one, checked by the command that creates it).
CREATE TABLE group_session_hosts (
    session_id  bigint NOT NULL REFERENCES group_sessions ON DELETE CASCADE,
    site_id     bigint NOT NULL REFERENCES sites,
    staff_id    bigint NOT NULL REFERENCES staff,
    PRIMARY KEY (session_id, staff_id)
);

-- One row per seat a client holds (or held: a cancelled seat keeps its row, its count is given back).
CREATE TABLE group_session_seats (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id    bigint NOT NULL REFERENCES group_sessions,
    site_id       bigint NOT NULL REFERENCES sites,
    client_id     bigint NOT NULL REFERENCES clients,
    channel       text NOT NULL CHECK (channel IN ('web', 'staff')),
    reference     text NOT NULL UNIQUE,
    link_token    text UNIQUE,                      -- the client's page /g/<token>
    language      text NOT NULL DEFAULT 'de',
    sms_consent   boolean NOT NULL,
    status        text NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    outcome       text CHECK (outcome IN ('held', 'no_show')),   -- the words of appointments.outcome
    outcome_by    bigint REFERENCES staff,
    outcome_at    timestamptz,
    booked_by     bigint REFERENCES staff,          -- the caseworker who invited, NULL when booked on the web
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    CONSTRAINT group_session_seats_outcome_recorded CHECK ((outcome IS NULL) = (outcome_at IS NULL)),
    CONSTRAINT group_session_seats_outcome_only_booked CHECK (outcome IS NULL OR status = 'booked'),
    CONSTRAINT group_session_seats_cancel_recorded CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
-- A client holds at most one seat of a session.
CREATE UNIQUE INDEX group_session_seats_one_per_client ON group_session_seats (session_id, client_id)
    WHERE status = 'booked';
CREATE INDEX group_session_seats_client ON group_session_seats (client_id);
