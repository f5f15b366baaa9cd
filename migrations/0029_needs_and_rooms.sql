-- Issue 17, "Needs and formats": what a client needs for an appointment, noted by every channel, and the
-- rooms of a site with what they offer. Owner modules: scheduler/requests.py writes the needs with the request
-- (in intake's one insert statement; the values are scheduler.policy.rules.Need), scheduler/rooms.py owns `rooms`.
ALTER TABLE requests
    ADD COLUMN needs text[] NOT NULL DEFAULT '{}'
        CHECK (needs <@ ARRAY['interpreter', 'sign_language', 'step_free', 'hearing_loop', 'more_time']),
    -- An ISO 639 code (scheduler/needs.py lists the offered ones); only together with the interpreter need.
    ADD COLUMN interpreter_language text CHECK (interpreter_language ~ '^[a-z]{2,3}$'),
    ADD CONSTRAINT requests_interpreter_language_with_need
        CHECK (interpreter_language IS NULL OR 'interpreter' = ANY (needs));

-- A site's rooms, named as in working_hours.room (the room a slot and an appointment name): a room without a
-- row here has no known attributes, so existing hours keep working and simply do not count as step-free.
CREATE TABLE rooms (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 40 AND name = btrim(name)),
    step_free     boolean NOT NULL DEFAULT false,
    hearing_loop  boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, name)
);
