-- 0039: one-time password links for staff (issue 18, staff administration).
-- An admin issues a link; only the SHA-256 of its token is stored. A link is valid for a short time and once:
-- setting the password marks it used in the same guarded UPDATE that checks it. Issuing a new link ends the
-- person's older ones, and the partial unique index keeps at most one link open per person.
-- Expand-only: a new table; the previous release neither reads nor writes it.
CREATE TABLE staff_password_resets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites,
    staff_id    bigint NOT NULL,
    token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    issued_by   bigint REFERENCES staff ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    ended_at    timestamptz,  -- a newer link replaced this one before it was used
    FOREIGN KEY (site_id, staff_id) REFERENCES staff (site_id, id) ON DELETE CASCADE,
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '1 day'),
    CHECK (used_at IS NULL OR ended_at IS NULL)
);
CREATE UNIQUE INDEX staff_password_resets_open ON staff_password_resets (staff_id)
    WHERE used_at IS NULL AND ended_at IS NULL;
CREATE INDEX staff_password_resets_created ON staff_password_resets (created_at);
