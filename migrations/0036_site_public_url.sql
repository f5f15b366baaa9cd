-- 0036: the site row's public_base_url is an office's own address; empty means "the deployment's
-- server.public_base_url" (sites.public_url decides). Until now every site was seeded with
-- http://localhost:8080, which sent clients links they could not open when an operator set only the setting.
-- Expand-only: the column stays NOT NULL text, so the previous release still reads a string (it builds
-- relative links from an empty one instead of localhost ones); only the old default value is cleared.
ALTER TABLE sites ALTER COLUMN public_base_url SET DEFAULT '';
UPDATE sites SET public_base_url = '' WHERE public_base_url = 'http://localhost:8080';
