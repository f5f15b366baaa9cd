-- Issue 14: a freed time offered by SMS to waiting clients (scheduler/slot_offers.py).

-- One row per freed time that went out by SMS: where the owning team's rules let the policy book for a
-- concern, up to `freed_slots.sms_offer_max` waiting clients whose windows fit and whose numbers confirmed
-- SMS are asked at once. The first accept wins: one guarded UPDATE open -> taken (with the request that took
-- it), then the booking in the same transaction. `expires_at` is when accepting ends (before the start, see
-- slot_offers.ACCEPT_UNTIL_BEFORE_START); an open row past it counts as expired and is marked so when touched.
CREATE TABLE slot_offers (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id          bigint NOT NULL REFERENCES sites,
    appointment_id   bigint NOT NULL REFERENCES appointments,   -- whose cancellation or move freed the time
    staff_id         bigint NOT NULL REFERENCES staff,
    during           tstzrange NOT NULL,
    mode             text NOT NULL CHECK (mode IN ('in_person', 'phone', 'video')),
    room             text,
    code             text NOT NULL CHECK (code ~ '^[A-Z]{4}$'),  -- what a reply may name the offer by
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'taken', 'expired')),
    expires_at       timestamptz NOT NULL,
    taken_by_request bigint REFERENCES requests,
    taken_at         timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT slot_offers_taken_names_request
        CHECK ((status = 'taken') = (taken_by_request IS NOT NULL AND taken_at IS NOT NULL)),
    CONSTRAINT slot_offers_expire_before_end CHECK (expires_at <= upper(during))
);
CREATE INDEX slot_offers_open ON slot_offers (site_id, expires_at) WHERE status = 'open';

-- Who was asked. The client accepts through their request's own link (/r/<link_token>), so no second token
-- exists; `gone` means they were told the time went to someone else (or answered too late).
CREATE TABLE slot_offer_recipients (
    offer_id    bigint NOT NULL REFERENCES slot_offers ON DELETE CASCADE,
    site_id     bigint NOT NULL REFERENCES sites,
    request_id  bigint NOT NULL REFERENCES requests,
    status      text NOT NULL DEFAULT 'offered' CHECK (status IN ('offered', 'won', 'gone')),
    answered_at timestamptz,
    PRIMARY KEY (offer_id, request_id)
);
CREATE INDEX slot_offer_recipients_by_request ON slot_offer_recipients (request_id);
CREATE UNIQUE INDEX slot_offer_recipients_one_winner ON slot_offer_recipients (offer_id) WHERE status = 'won';
