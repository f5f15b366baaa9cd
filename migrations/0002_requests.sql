-- Clients, policies, appointment requests, proposals, callbacks, appointments.

CREATE TABLE clients (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id             bigint NOT NULL REFERENCES sites,
    phone               text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    customer_number     text,
    name                text,
    birth_date          date,
    language            text NOT NULL DEFAULT 'de',
    sms_consent         boolean NOT NULL DEFAULT false,
    sms_opted_out_at    timestamptz,
    email               text,
    assigned_staff_id   bigint REFERENCES staff,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    erased_at           timestamptz
);
CREATE UNIQUE INDEX clients_site_phone ON clients (site_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX clients_site_customer_number ON clients (site_id, customer_number) WHERE customer_number IS NOT NULL;

CREATE TABLE policies (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id        bigint NOT NULL REFERENCES sites,
    scope          text NOT NULL CHECK (scope IN ('site', 'team', 'caseworker')),
    team_id        bigint REFERENCES teams,
    staff_id       bigint REFERENCES staff,
    version        int NOT NULL CHECK (version > 0),
    status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'retired')),
    rules          jsonb NOT NULL,
    source_yaml    text NOT NULL DEFAULT '',
    owner_id       bigint REFERENCES staff,
    created_at     timestamptz NOT NULL DEFAULT now(),
    activated_at   timestamptz,
    activated_by   bigint REFERENCES staff,
    CHECK ((scope = 'site' AND team_id IS NULL AND staff_id IS NULL)
        OR (scope = 'team' AND team_id IS NOT NULL AND staff_id IS NULL)
        OR (scope = 'caseworker' AND staff_id IS NOT NULL AND team_id IS NULL))
);
CREATE UNIQUE INDEX policies_version
    ON policies (site_id, scope, coalesce(team_id, 0), coalesce(staff_id, 0), version);
-- At most one active rule set per scope, whatever the number of concurrent activations.
CREATE UNIQUE INDEX policies_one_active
    ON policies (site_id, scope, coalesce(team_id, 0), coalesce(staff_id, 0)) WHERE status = 'active';

CREATE TABLE requests (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id             bigint NOT NULL REFERENCES sites,
    client_id           bigint NOT NULL REFERENCES clients,
    concern_id          bigint NOT NULL REFERENCES concerns,
    channel             text NOT NULL CHECK (channel IN ('web', 'kiosk', 'phone', 'sms', 'staff')),
    status              text NOT NULL DEFAULT 'received'
                        CHECK (status IN ('received', 'proposed', 'scheduled', 'done', 'no_show',
                                          'declined', 'withdrawn', 'expired')),
    reference           text NOT NULL UNIQUE,
    link_token          text NOT NULL UNIQUE,
    language            text NOT NULL DEFAULT 'de',
    modes               text[] NOT NULL DEFAULT '{}' CHECK (modes <@ ARRAY['in_person', 'phone', 'video']),
    windows             jsonb NOT NULL DEFAULT '{}',
    note                text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    invitation          text CHECK (invitation IN ('voluntary', 'mandatory')),
    notice_text         text,
    team_id             bigint REFERENCES teams,
    staff_id            bigint REFERENCES staff,
    priority            int NOT NULL DEFAULT 0,
    decision            jsonb,
    policy_ids          bigint[] NOT NULL DEFAULT '{}',
    manual_rank         double precision,
    wants_other_time    boolean NOT NULL DEFAULT false,
    deadline_at         timestamptz,
    overdue_flagged_at  timestamptz,
    decline_reason      text,
    created_by          bigint REFERENCES staff,
    idempotency_key     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    UNIQUE (site_id, idempotency_key)
);
CREATE INDEX requests_open_by_team ON requests (site_id, team_id, status) WHERE status IN ('received', 'proposed');
CREATE INDEX requests_open_by_staff ON requests (site_id, staff_id, status) WHERE status IN ('received', 'proposed');
CREATE INDEX requests_client ON requests (client_id);
CREATE INDEX requests_recent ON requests (site_id, created_at DESC);

CREATE TABLE proposals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites,
    request_id  bigint NOT NULL REFERENCES requests ON DELETE CASCADE,
    staff_id    bigint NOT NULL REFERENCES staff,
    during      tstzrange NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('in_person', 'phone', 'video')),
    room        text,
    source      text NOT NULL DEFAULT 'policy' CHECK (source IN ('policy', 'freed_slot', 'caseworker')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proposals_request ON proposals (request_id);

CREATE TABLE callbacks (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id             bigint NOT NULL REFERENCES sites,
    client_id           bigint NOT NULL REFERENCES clients,
    concern_id          bigint NOT NULL REFERENCES concerns,
    channel             text NOT NULL CHECK (channel IN ('web', 'kiosk', 'phone', 'sms', 'staff')),
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'in_progress', 'reached', 'unreachable', 'cancelled')),
    reference           text NOT NULL UNIQUE,
    link_token          text NOT NULL UNIQUE,
    phone               text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    language            text NOT NULL DEFAULT 'de',
    windows             jsonb NOT NULL DEFAULT '{}',
    note                text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    team_id             bigint REFERENCES teams,
    staff_id            bigint REFERENCES staff,
    priority            int NOT NULL DEFAULT 0,
    decision            jsonb,
    policy_ids          bigint[] NOT NULL DEFAULT '{}',
    manual_rank         double precision,
    claimed_by          bigint REFERENCES staff,
    claimed_until       timestamptz,
    attempts            int NOT NULL DEFAULT 0,
    max_attempts        int NOT NULL DEFAULT 3,
    next_attempt_at     timestamptz,
    deadline_at         timestamptz,
    overdue_flagged_at  timestamptz,
    converted_request_id bigint REFERENCES requests,
    idempotency_key     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    UNIQUE (site_id, idempotency_key)
);
CREATE INDEX callbacks_open_by_team ON callbacks (site_id, team_id, status) WHERE status IN ('open', 'in_progress');
CREATE INDEX callbacks_open_by_staff ON callbacks (site_id, staff_id, status) WHERE status IN ('open', 'in_progress');

CREATE TABLE callback_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      bigint NOT NULL REFERENCES sites,
    callback_id  bigint NOT NULL REFERENCES callbacks ON DELETE CASCADE,
    staff_id     bigint NOT NULL REFERENCES staff,
    outcome      text NOT NULL CHECK (outcome IN ('reached', 'no_answer', 'wrong_number')),
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE appointments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites,
    request_id    bigint NOT NULL REFERENCES requests,
    client_id     bigint NOT NULL REFERENCES clients,
    staff_id      bigint NOT NULL REFERENCES staff,
    during        tstzrange NOT NULL CHECK (NOT isempty(during) AND lower(during) < upper(during)),
    mode          text NOT NULL CHECK (mode IN ('in_person', 'phone', 'video')),
    room          text,
    status        text NOT NULL DEFAULT 'confirmed'
                  CHECK (status IN ('confirmed', 'cancelled', 'completed', 'no_show')),
    arrived_at    timestamptz,
    ical_uid      text NOT NULL UNIQUE,
    sequence      int NOT NULL DEFAULT 0 CHECK (sequence >= 0),
    cancel_reason text,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT no_double_booking
        EXCLUDE USING gist (staff_id WITH =, during WITH &&) WHERE (status = 'confirmed')
);
-- One live appointment per request.
CREATE UNIQUE INDEX appointments_one_confirmed_per_request ON appointments (request_id) WHERE status = 'confirmed';
CREATE INDEX appointments_staff_during ON appointments USING gist (site_id, staff_id, during);
CREATE INDEX appointments_client ON appointments (client_id, created_at DESC);
