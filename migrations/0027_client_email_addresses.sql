-- Issue 15, "E-mail where allowed": clients give an e-mail address on the web form, at the kiosk or to staff.
-- Staff-entered addresses go to clients.email at once (verified). An address typed on an anonymous channel
-- (web, kiosk) stays with its request, unverified, until the address itself confirms it: one confirmation
-- mail carries a link /r/<link token>/email/<code>; only the code's SHA-256 is stored here. One per request.
-- Owner module: scheduler/email_addresses.py.
ALTER TABLE clients
    ADD COLUMN email_verified_at timestamptz;

ALTER TABLE clients
    ADD CONSTRAINT clients_email_length CHECK (email IS NULL OR length(email) <= 254) NOT VALID;

CREATE TABLE email_confirmations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites,
    client_id     bigint NOT NULL REFERENCES clients,
    request_id    bigint NOT NULL UNIQUE REFERENCES requests,
    channel       text NOT NULL CHECK (channel IN ('web', 'kiosk')),
    -- NULL once erased or past retention; the row then only says that an address was given.
    email         text CHECK (length(email) <= 254),
    code_hash     bytea NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    confirmed_at  timestamptz,
    CHECK (expires_at > created_at)
);

CREATE INDEX email_confirmations_client ON email_confirmations (client_id);
-- The purge of unconfirmed codes that ran out (retention.purge_due), oldest first.
CREATE INDEX email_confirmations_unconfirmed ON email_confirmations (expires_at)
    WHERE confirmed_at IS NULL AND email IS NOT NULL;
