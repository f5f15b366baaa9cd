-- Issue 13 (1): keys the server makes (callback conversion, demo seed) get their own column, so a client
-- sending the same text can neither read nor pre-empt them. A client key is bound to a hash of the number
-- and the body it came with; a replay must match it.
ALTER TABLE requests
    ADD COLUMN server_key text,
    ADD COLUMN idempotency_hash text CHECK (idempotency_hash ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT requests_site_server_key UNIQUE (site_id, server_key);
ALTER TABLE callbacks
    ADD COLUMN server_key text,
    ADD COLUMN idempotency_hash text CHECK (idempotency_hash ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT callbacks_site_server_key UNIQUE (site_id, server_key);

-- Only conversions staff made move; a client row that planted such a key stays a client key (no hash:
-- no replay matches it).
UPDATE requests SET server_key = idempotency_key, idempotency_key = NULL
WHERE created_by IS NOT NULL AND channel = 'staff' AND idempotency_key ~ '^callback-[0-9]+-convert$';

-- Issue 13 (2): what an unauthenticated channel says about a person is kept with the request, unverified;
-- the clients row holds what staff verified. SMS consent is given per request; clients.sms_consent now
-- means the number itself confirmed it (a reply from it, START, or staff).
ALTER TABLE requests
    ADD COLUMN claimed_name text CHECK (length(claimed_name) <= 100),
    ADD COLUMN claimed_customer_number text CHECK (claimed_customer_number ~ '^[0-9]{3}[A-Z][0-9]{6}$'),
    ADD COLUMN sms_consent boolean NOT NULL DEFAULT false;
ALTER TABLE callbacks
    ADD COLUMN claimed_name text CHECK (length(claimed_name) <= 100),
    ADD COLUMN claimed_customer_number text CHECK (claimed_customer_number ~ '^[0-9]{3}[A-Z][0-9]{6}$'),
    ADD COLUMN sms_consent boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN language_verified boolean NOT NULL DEFAULT false;

-- Requests already open keep sending as before: their consent is the one their client had.
UPDATE requests r SET sms_consent = c.sms_consent FROM clients c WHERE c.id = r.client_id;
UPDATE callbacks b SET sms_consent = c.sms_consent FROM clients c WHERE c.id = b.client_id;
