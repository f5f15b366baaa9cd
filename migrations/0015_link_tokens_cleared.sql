-- Issue 13 (9): a link token is cleared (NULL) when its case is erased, anonymised, or ended more than
-- privacy.link_token_days_after_case ago, so an old SMS link answers 404. UNIQUE allows many NULLs.
ALTER TABLE requests ALTER COLUMN link_token DROP NOT NULL;
ALTER TABLE callbacks ALTER COLUMN link_token DROP NOT NULL;

-- The expiry sweep looks only at cases that still have a token.
CREATE INDEX requests_live_links ON requests (closed_at) WHERE link_token IS NOT NULL;
CREATE INDEX callbacks_live_links ON callbacks (closed_at) WHERE link_token IS NOT NULL;
