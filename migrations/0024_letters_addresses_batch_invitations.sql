-- Issue 15: postal addresses and consent to electronic notice (scheduler/addresses.py), the letter print
-- queue (scheduler/letters.py) and batch invitations (scheduler/batch_invitations.py).

-- A client's postal address, as staff took it down (staff invitation form, request page, batch upload).
-- Personal data like the rest: exported with the client, deleted on erasure and by retention once the
-- client is anonymised. Only German addresses: a Jobcenter writes to clients of its own district.
CREATE TABLE postal_addresses (
    client_id   bigint PRIMARY KEY REFERENCES clients,
    site_id     bigint NOT NULL REFERENCES sites,
    recipient   text NOT NULL CHECK (length(recipient) BETWEEN 1 AND 100),  -- the name line on the envelope
    street      text NOT NULL CHECK (length(street) BETWEEN 1 AND 100),
    extra       text NOT NULL DEFAULT '' CHECK (length(extra) <= 100),     -- c/o, flat, floor
    postcode    text NOT NULL CHECK (postcode ~ '^[0-9]{5}$'),
    city        text NOT NULL CHECK (length(city) BETWEEN 1 AND 60),
    updated_by  bigint REFERENCES staff,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX postal_addresses_site ON postal_addresses (site_id);

-- The client opened the electronic way for notices (§ 36a SGB I): recorded by staff with who and when.
-- Without it, a mandatory invitation also goes out as a letter. Withdrawing keeps the row (evidence).
CREATE TABLE electronic_notice_consents (
    client_id     bigint PRIMARY KEY REFERENCES clients,
    site_id       bigint NOT NULL REFERENCES sites,
    given_at      timestamptz NOT NULL,
    given_by      bigint REFERENCES staff,
    withdrawn_at  timestamptz,
    withdrawn_by  bigint REFERENCES staff
);

-- A print run: the letters one staff member printed as one PDF; posted as a whole later.
CREATE TABLE letter_batches (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites,
    status      text NOT NULL DEFAULT 'printed' CHECK (status IN ('printed', 'posted')),
    letters     int NOT NULL CHECK (letters > 0),
    printed_by  bigint NOT NULL REFERENCES staff,
    printed_at  timestamptz NOT NULL,
    posted_by   bigint REFERENCES staff,
    posted_at   timestamptz,
    CONSTRAINT letter_batches_posted_has_time CHECK ((status = 'posted') = (posted_at IS NOT NULL))
);
CREATE INDEX letter_batches_recent ON letter_batches (site_id, printed_at DESC);

-- One letter for one invitation (a request with `invitation` set). Queued when the client has no mobile
-- number, when an SMS about the invitation failed for good, or for a mandatory invitation without consent to
-- electronic notice. It prints once the request has a booked appointment and the client an address; the
-- PDF is rendered from the current data and never stored. `address_printed` keeps where it went (evidence)
-- until retention clears it with the request's other personal data.
CREATE TABLE letters (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id          bigint NOT NULL REFERENCES sites,
    request_id       bigint NOT NULL REFERENCES requests,
    client_id        bigint NOT NULL REFERENCES clients,
    reason           text NOT NULL CHECK (reason IN ('no_mobile', 'sms_failed', 'no_electronic_consent')),
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'printed', 'posted', 'cancelled')),
    outbox_id        bigint REFERENCES outbox,       -- the SMS that failed, for reason sms_failed
    batch_id         bigint REFERENCES letter_batches,
    appointment_id   bigint REFERENCES appointments, -- the appointment the printed letter names
    address_printed  text,
    queued_at        timestamptz NOT NULL,
    printed_at       timestamptz,
    posted_at        timestamptz,
    cancelled_at     timestamptz,
    anonymised_at    timestamptz,
    CONSTRAINT letters_printed_in_batch
        CHECK ((status IN ('printed', 'posted')) = (batch_id IS NOT NULL AND printed_at IS NOT NULL)),
    CONSTRAINT letters_posted_has_time CHECK ((status = 'posted') = (posted_at IS NOT NULL)),
    CONSTRAINT letters_cancelled_has_time CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
-- At most one letter waits per invitation: a second reason while one waits adds nothing.
CREATE UNIQUE INDEX letters_one_queued ON letters (request_id) WHERE status = 'queued';
CREATE INDEX letters_queue ON letters (site_id, queued_at) WHERE status = 'queued';
CREATE INDEX letters_batch ON letters (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX letters_client ON letters (client_id);

-- A batch invitation: a team lead's list of clients, planned for review, sent on confirmation.
CREATE TABLE invitation_batches (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      bigint NOT NULL REFERENCES sites,
    concern_id   bigint NOT NULL REFERENCES concerns,
    invitation   text NOT NULL CHECK (invitation IN ('voluntary', 'mandatory')),
    template_id  bigint REFERENCES notice_templates,   -- the notice every invitation of the batch uses
    bring        text NOT NULL DEFAULT '' CHECK (length(bring) <= 500),
    window_from  date NOT NULL,
    window_to    date NOT NULL,
    status       text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'sent', 'discarded')),
    created_by   bigint NOT NULL REFERENCES staff,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_by      bigint REFERENCES staff,
    sent_at      timestamptz,
    CONSTRAINT invitation_batches_window CHECK (window_to >= window_from AND window_to - window_from <= 92),
    CONSTRAINT invitation_batches_sent_has_time CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX invitation_batches_recent ON invitation_batches (site_id, created_at DESC);

-- One line of the list: what it said (personal data: cleared once sent, deleted by retention), why it is
-- bad, or the planned time; after sending, the request it became.
CREATE TABLE invitation_batch_rows (
    batch_id         bigint NOT NULL REFERENCES invitation_batches ON DELETE CASCADE,
    line             int NOT NULL CHECK (line > 0),
    site_id          bigint NOT NULL REFERENCES sites,
    status           text NOT NULL CHECK (status IN ('planned', 'bad', 'unplanned', 'sent', 'failed')),
    phone            text,
    customer_number  text,
    name             text,
    language         text NOT NULL DEFAULT 'de',
    address          jsonb,
    problem          text,                -- a message id of the letters catalogue: why the line is not sent
    staff_id         bigint REFERENCES staff,
    during           tstzrange,
    mode             text CHECK (mode IN ('in_person', 'phone', 'video')),
    room             text,
    request_id       bigint REFERENCES requests,
    PRIMARY KEY (batch_id, line),
    CONSTRAINT invitation_batch_rows_planned_has_time
        CHECK ((status = 'planned') <= (during IS NOT NULL AND staff_id IS NOT NULL AND mode IS NOT NULL)),
    CONSTRAINT invitation_batch_rows_sent_has_request CHECK ((status = 'sent') = (request_id IS NOT NULL))
);
