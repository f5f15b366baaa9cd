-- Issue 14 (moves, absences, closures): office closure days per site, entered in the admin pages
-- (scheduler/closures.py owns the table). A closure blocks the site's whole local day for every
-- caseworker in the slot search (scheduler/availability.py reads it next to the absences).
CREATE TABLE closures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites ON DELETE CASCADE,
    day         date NOT NULL,               -- the site's local calendar day
    reason      text NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT closures_one_per_day UNIQUE (site_id, day)
);
