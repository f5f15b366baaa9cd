-- Sites, teams, staff, their working hours and absences, concerns, kiosks.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE sites (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code             text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9-]{2,40}$'),
    name             text NOT NULL,
    timezone         text NOT NULL DEFAULT 'Europe/Berlin',
    address          text NOT NULL DEFAULT '',
    holiday_region   text NOT NULL DEFAULT 'DE-NI' CHECK (holiday_region ~ '^DE(-[A-Z]{2})?$'),
    opening_hours    jsonb NOT NULL DEFAULT '{}',
    languages        text[] NOT NULL DEFAULT ARRAY['de', 'en'],
    sms_sender       text NOT NULL DEFAULT 'Jobcenter',
    public_base_url  text NOT NULL DEFAULT 'http://localhost:8080',
    email_enabled    boolean NOT NULL DEFAULT false,
    retention_days   int NOT NULL DEFAULT 180 CHECK (retention_days BETWEEN 1 AND 3650),
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites,
    code        text NOT NULL CHECK (code ~ '^[a-z0-9_-]{1,40}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, code),
    UNIQUE (site_id, id)
);

CREATE TABLE staff (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id        bigint NOT NULL REFERENCES sites,
    team_id        bigint REFERENCES teams,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{2,60}$'),
    display_name   text NOT NULL,
    email          text,
    role           text NOT NULL CHECK (role IN ('caseworker', 'team_lead', 'admin')),
    languages      text[] NOT NULL DEFAULT ARRAY['de'],
    password_hash  text,
    oidc_subject   text UNIQUE,
    feed_token     text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, id)
);

CREATE TABLE working_hours (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id   bigint NOT NULL REFERENCES sites,
    staff_id  bigint NOT NULL REFERENCES staff ON DELETE CASCADE,
    weekday   smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),   -- 0 = Monday
    starts    time NOT NULL,
    ends      time NOT NULL,
    room      text,
    modes     text[] NOT NULL DEFAULT ARRAY['in_person', 'phone', 'video']
              CHECK (modes <@ ARRAY['in_person', 'phone', 'video'] AND cardinality(modes) > 0),
    CHECK (starts < ends),
    EXCLUDE USING gist (staff_id WITH =, weekday WITH =,
                        tsrange('2000-01-01'::date + starts, '2000-01-01'::date + ends) WITH &&)
);

CREATE TABLE absences (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id   bigint NOT NULL REFERENCES sites,
    staff_id  bigint NOT NULL REFERENCES staff ON DELETE CASCADE,
    during    tstzrange NOT NULL CHECK (NOT isempty(during)),
    reason    text NOT NULL DEFAULT ''
);
CREATE INDEX absences_staff_during ON absences USING gist (staff_id, during);

CREATE TABLE concerns (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id           bigint NOT NULL REFERENCES sites,
    code              text NOT NULL CHECK (code ~ '^[a-z0-9_]{2,40}$'),
    labels            jsonb NOT NULL CHECK (jsonb_typeof(labels) = 'object' AND labels ? 'de'),
    default_minutes   int NOT NULL DEFAULT 30 CHECK (default_minutes BETWEEN 5 AND 240),
    modes             text[] NOT NULL DEFAULT ARRAY['in_person', 'phone', 'video']
                      CHECK (modes <@ ARRAY['in_person', 'phone', 'video'] AND cardinality(modes) > 0),
    channels          text[] NOT NULL DEFAULT ARRAY['web', 'kiosk', 'phone', 'sms', 'staff']
                      CHECK (channels <@ ARRAY['web', 'kiosk', 'phone', 'sms', 'staff']),
    urgent            boolean NOT NULL DEFAULT false,
    icon              text NOT NULL DEFAULT 'general',
    sort_order        int NOT NULL DEFAULT 100,
    active            boolean NOT NULL DEFAULT true,
    UNIQUE (site_id, code),
    UNIQUE (site_id, id)
);

CREATE TABLE kiosk_devices (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites,
    name          text NOT NULL,
    location      text NOT NULL DEFAULT '',
    token_hash    text NOT NULL UNIQUE,      -- sha256 of the device token; the token itself is shown once
    issued_by     bigint REFERENCES staff,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_seen_at  timestamptz
);
