-- Issue 17: the lobby. Call displays (Aufrufanzeige) bound to admin-issued device tokens, and the calls
-- caseworkers make to an arrived client (scheduler/displays.py, scheduler/lobby_calls.py).

-- A screen in the waiting area. Like a kiosk: the token is shown once and stored only as its SHA-256.
CREATE TABLE display_devices (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    location      text NOT NULL DEFAULT '' CHECK (length(location) <= 100),
    token_hash    text NOT NULL UNIQUE,
    issued_by     bigint REFERENCES staff,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_seen_at  timestamptz
);
CREATE INDEX display_devices_site ON display_devices (site_id);

-- One row per call of an arrived client into a room; calling again adds a row with the next attempt number
-- (the unique pair makes two simultaneous clicks two numbered calls, never two "first" calls). The display
-- shows the request's reference code and the room, never a name.
CREATE TABLE lobby_calls (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites,
    appointment_id  bigint NOT NULL REFERENCES appointments,
    attempt         int NOT NULL CHECK (attempt >= 1),
    room            text NOT NULL CHECK (length(room) BETWEEN 1 AND 40),
    called_by       bigint NOT NULL REFERENCES staff,
    called_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lobby_calls_one_per_attempt UNIQUE (appointment_id, attempt)
);
CREATE INDEX lobby_calls_site_recent ON lobby_calls (site_id, called_at DESC);

-- Every web process LISTENs on 'lobby' (scheduler/lobby_feed.py) and refreshes its open displays and front-desk
-- lists. The notification is sent by the database, at commit, whichever code path made the change (a call, a
-- kiosk check-in, an outcome), so no process can forget it. The payload is only "<what>:<site id>".
CREATE FUNCTION lobby_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lobby', TG_ARGV[0] || ':' || NEW.site_id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER lobby_calls_notify AFTER INSERT ON lobby_calls
    FOR EACH ROW EXECUTE FUNCTION lobby_notify('call');

CREATE TRIGGER appointments_lobby_notify AFTER UPDATE OF arrived_at, status ON appointments
    FOR EACH ROW WHEN (OLD.arrived_at IS DISTINCT FROM NEW.arrived_at OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION lobby_notify('arrival');
