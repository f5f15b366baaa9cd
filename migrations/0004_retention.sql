-- Retention: personal data of closed cases is removed after the site's period; statistics stay.
ALTER TABLE requests ADD COLUMN anonymised_at timestamptz;
ALTER TABLE callbacks ADD COLUMN anonymised_at timestamptz;
ALTER TABLE callbacks ALTER COLUMN phone DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN anonymised_at timestamptz;

CREATE INDEX requests_retention ON requests (site_id, closed_at) WHERE anonymised_at IS NULL AND closed_at IS NOT NULL;
CREATE INDEX callbacks_retention ON callbacks (site_id, closed_at) WHERE anonymised_at IS NULL AND closed_at IS NOT NULL;
