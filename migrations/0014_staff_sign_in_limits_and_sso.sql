-- Staff sign-in limits and single sign-on marking (issue 13, items 5 and 7).

-- Failed sign-ins also remember (hashed, as rate_limit_key hashes them) the address bucket they came
-- from, so password spraying across usernames is limited per address. Rows are written *before* the
-- password is checked (a success deletes them), so parallel attempts are counted, not raced.
ALTER TABLE sign_in_failures ADD COLUMN address_key bytea;
CREATE INDEX sign_in_failures_address ON sign_in_failures (address_key, created_at DESC)
    WHERE address_key IS NOT NULL;
CREATE INDEX sign_in_failures_created ON sign_in_failures (created_at);
CREATE INDEX staff_sessions_expires ON staff_sessions (expires_at);

-- An admin marks an account for single sign-on: 'subject' (only the identity the admin entered) or
-- 'username' (the first sign-in whose username claim matches and that carries the configured
-- group/role claim links it). Marked or linked accounts cannot sign in with a password.
ALTER TABLE staff ADD COLUMN sso text CHECK (sso IN ('subject', 'username'));
-- Accounts linked before this migration were linked by username: they stay linked, by their subject.
UPDATE staff SET sso = 'subject' WHERE oidc_subject IS NOT NULL;
ALTER TABLE staff ADD CONSTRAINT staff_sso_subject CHECK (sso IS DISTINCT FROM 'subject' OR oidc_subject IS NOT NULL);
ALTER TABLE staff ADD CONSTRAINT staff_oidc_subject_marked CHECK (oidc_subject IS NULL OR sso IS NOT NULL);
