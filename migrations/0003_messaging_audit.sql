-- Outbox, inbound messages, audit trail, staff sessions.

CREATE TABLE outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id          bigint NOT NULL REFERENCES sites,
    idempotency_key  text NOT NULL UNIQUE,
    channel          text NOT NULL CHECK (channel IN ('sms', 'email')),
    kind             text NOT NULL,
    recipient        text NOT NULL,
    language         text NOT NULL DEFAULT 'de',
    payload          jsonb NOT NULL DEFAULT '{}',
    body             text,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'delivered', 'undelivered',
                                       'failed', 'cancelled')),
    due_at           timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    attempts         int NOT NULL DEFAULT 0,
    last_error       text,
    error_code       text,
    provider_id      text UNIQUE,
    segments         int,
    request_id       bigint REFERENCES requests ON DELETE SET NULL,
    callback_id      bigint REFERENCES callbacks ON DELETE SET NULL,
    appointment_id   bigint REFERENCES appointments ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
-- Claimed rows leave this index, so claiming stays fast however many sent rows accumulate.
CREATE INDEX outbox_due ON outbox (due_at) WHERE status = 'pending';
CREATE INDEX outbox_lease ON outbox (lease_until) WHERE status = 'sending';
CREATE INDEX outbox_request ON outbox (request_id);
CREATE INDEX outbox_appointment ON outbox (appointment_id);

CREATE TABLE inbound_messages (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      bigint NOT NULL REFERENCES sites,
    provider_id  text NOT NULL UNIQUE,       -- Twilio MessageSid: a replayed webhook is a no-op
    from_phone   text NOT NULL,
    to_phone     text NOT NULL,
    body         text NOT NULL,
    action       text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites,
    actor         text NOT NULL,
    action        text NOT NULL,
    subject_type  text NOT NULL,
    subject_id    bigint,
    details       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_subject ON audit_events (subject_type, subject_id);
CREATE INDEX audit_site_time ON audit_events (site_id, created_at DESC);

CREATE TABLE staff_sessions (
    token_hash    text PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites,
    staff_id      bigint NOT NULL REFERENCES staff ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

CREATE TABLE sign_in_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint REFERENCES sites,
    username    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_user ON sign_in_failures (username, created_at DESC);
