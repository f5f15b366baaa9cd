-- 0038: concerns per site in every client language (issue 18).
-- A short description under each concern's label, by language like `labels`; empty: no description.
-- Expand-only: a new column with a default; the previous release neither reads nor writes it.
ALTER TABLE concerns ADD COLUMN descriptions jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(descriptions) = 'object');
