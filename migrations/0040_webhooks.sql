-- Issue 18, "For operators": outgoing webhooks for case events (scheduler/webhooks.py owns webhook_endpoints,
-- scheduler/webhook_deliveries.py owns webhook_deliveries, the sender is scheduler/notify/webhook_send.py).
--
-- An office's case-management system registers an endpoint per site and the event types it wants. Events are
-- written by triggers in the same transaction as the change, so every channel and every future path emits
-- them; a site without an active endpoint pays one index probe. Payloads hold ids, codes and times only,
-- never names, phone numbers, e-mail addresses or free text (docs/webhooks.md).

CREATE TABLE webhook_endpoints (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites,
    -- https only; plain http only to this machine (tests, a local case-management system).
    url             text NOT NULL CHECK (length(url) <= 500 AND (url ~ '^https://[^\s/?#]+'
                                         OR url ~ '^http://(127\.0\.0\.1|localhost)(:[0-9]{1,5})?(/[^\s]*)?$')),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    event_types     text[] NOT NULL
                    CHECK (cardinality(event_types) > 0 AND event_types <@ ARRAY['request.received',
                           'appointment.booked', 'appointment.moved', 'appointment.cancelled',
                           'appointment.attended', 'appointment.no_show']),
    -- The Standard Webhooks form: whsec_ and the base64 of 24 to 64 random bytes.
    secret          text NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$'),
    active          boolean NOT NULL DEFAULT true,
    created_by      bigint REFERENCES staff,
    created_at      timestamptz NOT NULL DEFAULT now(),
    secret_rotated_at timestamptz,
    deactivated_at  timestamptz,
    CHECK (active = (deactivated_at IS NULL)),
    UNIQUE (site_id, id)
);
-- The triggers' probe: does this site have an active endpoint?
CREATE INDEX webhook_endpoints_active ON webhook_endpoints (site_id) WHERE active;

-- One row per (event, endpoint): the outbox of webhooks and their delivery log.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY CHECK (id ~ '^msg_[0-9a-f]{32}$'),  -- the webhook-id header
    site_id          bigint NOT NULL,
    endpoint_id      bigint NOT NULL,
    event_type       text NOT NULL CHECK (event_type IN ('request.received', 'appointment.booked',
                                          'appointment.moved', 'appointment.cancelled', 'appointment.attended',
                                          'appointment.no_show')),
    event_key        text NOT NULL CHECK (length(event_key) <= 100),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- pending: when the next attempt is due; sending: when the sender's lease ends.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_http_status int CHECK (last_http_status BETWEEN 100 AND 599),
    last_error       text CHECK (length(last_error) <= 300),
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    FOREIGN KEY (site_id, endpoint_id) REFERENCES webhook_endpoints (site_id, id) ON DELETE CASCADE,
    UNIQUE (endpoint_id, event_key)  -- the idempotency key: one delivery per event and endpoint
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_retention ON webhook_deliveries (site_id, created_at)
    WHERE status IN ('delivered', 'failed');

-- Times in payloads: UTC, ISO 8601, whatever the session's time zone.
CREATE FUNCTION webhook_time(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- One event for each active endpoint of the site subscribed to its type; a repeated key is skipped.
CREATE FUNCTION webhook_emit(p_site bigint, p_type text, p_key text, p_data jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO webhook_deliveries (id, site_id, endpoint_id, event_type, event_key, payload)
    SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), e.site_id, e.id, p_type, p_key,
           jsonb_build_object('type', p_type, 'timestamp', webhook_time(now()), 'data', p_data)
    FROM webhook_endpoints e
    WHERE e.site_id = p_site AND e.active AND p_type = ANY (e.event_types)
    ON CONFLICT (endpoint_id, event_key) DO NOTHING
$$;

-- request.received for appointment requests: a statement-level trigger, so bulk inserts pay one join.
CREATE FUNCTION webhook_requests_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The probe alone when none of these sites has an endpoint (the join below is skipped).
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.active AND e.site_id IN (SELECT site_id FROM new_rows))
    THEN
        RETURN NULL;
    END IF;
    PERFORM webhook_emit(r.site_id, 'request.received', 'request:' || r.id, jsonb_build_object(
        'kind', 'appointment', 'request_id', r.id, 'reference', r.reference, 'site', s.code, 'team', t.code,
        'concern', c.code, 'channel', r.channel, 'modes', to_jsonb(r.modes), 'invitation', r.invitation,
        'status', r.status, 'created_at', webhook_time(r.created_at)))
    FROM new_rows r
    JOIN sites s ON s.id = r.site_id
    LEFT JOIN teams t ON t.id = r.team_id
    LEFT JOIN concerns c ON c.id = r.concern_id
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.site_id = r.site_id AND e.active);
    RETURN NULL;
END $$;
CREATE TRIGGER requests_webhooks AFTER INSERT ON requests REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_requests_inserted();

-- request.received for callback requests: deferred to the commit, when intake has routed it to a team.
CREATE FUNCTION webhook_callback_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.site_id = NEW.site_id AND e.active) THEN
        RETURN NULL;
    END IF;
    PERFORM webhook_emit(b.site_id, 'request.received', 'callback:' || b.id, jsonb_build_object(
        'kind', 'callback', 'callback_id', b.id, 'reference', b.reference, 'site', s.code, 'team', t.code,
        'concern', c.code, 'channel', b.channel, 'status', b.status, 'created_at', webhook_time(b.created_at)))
    FROM callbacks b
    JOIN sites s ON s.id = b.site_id
    LEFT JOIN teams t ON t.id = b.team_id
    LEFT JOIN concerns c ON c.id = b.concern_id
    WHERE b.id = NEW.id;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER callbacks_webhooks AFTER INSERT ON callbacks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_callback_inserted();

-- The appointment part of every appointment event.
CREATE FUNCTION webhook_appointment_data(a appointments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'appointment_id', a.id, 'request_id', a.request_id, 'reference', r.reference, 'site', s.code,
        'team', t.code, 'concern', c.code, 'channel', r.channel, 'mode', a.mode,
        'starts_at', webhook_time(lower(a.during)), 'ends_at', webhook_time(upper(a.during)),
        'status', a.status, 'outcome', a.outcome, 'sequence', a.sequence,
        'created_at', webhook_time(a.created_at), 'updated_at', webhook_time(a.updated_at))
    FROM requests r
    JOIN sites s ON s.id = a.site_id
    LEFT JOIN teams t ON t.id = r.team_id
    LEFT JOIN concerns c ON c.id = r.concern_id
    WHERE r.id = a.request_id
$$;

-- appointment.booked: every confirmed appointment inserted (bulk inserts pay one join).
CREATE FUNCTION webhook_appointments_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.active AND e.site_id IN (SELECT site_id FROM new_rows))
    THEN
        RETURN NULL;
    END IF;
    PERFORM webhook_emit(a.site_id, 'appointment.booked', 'appointment:' || a.id || ':booked',
                         webhook_appointment_data(a))
    FROM new_rows a
    WHERE a.status = 'confirmed'
      AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.site_id = a.site_id AND e.active);
    RETURN NULL;
END $$;
CREATE TRIGGER appointments_webhooks_booked AFTER INSERT ON appointments REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_appointments_inserted();

-- moved, cancelled, attended, no_show: row-level, and its WHEN keeps every other update (arrival, flags,
-- retention) from calling the function at all.
CREATE FUNCTION webhook_appointment_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    key  text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.site_id = NEW.site_id AND e.active) THEN
        RETURN NULL;
    END IF;
    IF NEW.status = OLD.status AND NEW.status = 'confirmed' THEN
        kind := 'moved';
        key := 'appointment:' || NEW.id || ':moved:' || NEW.sequence;
    ELSIF NEW.status <> OLD.status AND NEW.status IN ('cancelled', 'no_show') THEN
        kind := NEW.status;
        key := 'appointment:' || NEW.id || ':' || kind;
    ELSIF NEW.status <> OLD.status AND NEW.status = 'completed' THEN
        kind := 'attended';
        key := 'appointment:' || NEW.id || ':attended';
    ELSE
        RETURN NULL;
    END IF;
    PERFORM webhook_emit(NEW.site_id, 'appointment.' || kind, key, webhook_appointment_data(NEW));
    RETURN NULL;
END $$;
CREATE TRIGGER appointments_webhooks_changed AFTER UPDATE ON appointments FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.during IS DISTINCT FROM NEW.during
          OR OLD.staff_id IS DISTINCT FROM NEW.staff_id OR OLD.mode IS DISTINCT FROM NEW.mode)
    EXECUTE FUNCTION webhook_appointment_changed();
