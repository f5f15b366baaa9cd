-- A provider may report a message's delivery before the worker has recorded that the provider took it
-- (its id is stored a few milliseconds after the send returns). Such receipts wait here, keyed by the
-- provider's message id, until the sweeper finds the message and applies them; unknown ids are dropped
-- after two days. No site_id: the receipt names only the provider's id until it is matched.
CREATE TABLE early_receipts (
    provider_id  text NOT NULL,
    status       text NOT NULL,
    error_code   text,
    error        text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_id, status)
);
