-- Issue 16, rule builder "customer group fields the office defines": an office's own customer groups
-- (Alleinerziehend, Rehabilitand/in …) that rules may test, and which clients belong to them.
-- Owner module: scheduler/customer_groups.py (both tables).
CREATE TABLE customer_groups (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites,
    -- Shaped like concern codes: rules name a group by it (scheduler/policy/readers.py CODE_RE).
    code        text NOT NULL CHECK (code ~ '^[a-z0-9_]{2,40}$'),
    -- The label by language; German and English at least, each 1 to 80 characters.
    labels      jsonb NOT NULL CHECK (jsonb_typeof(labels) = 'object' AND labels ? 'de' AND labels ? 'en'
                                      AND length(labels ->> 'de') BETWEEN 1 AND 80
                                      AND length(labels ->> 'en') BETWEEN 1 AND 80),
    -- An inactive group is no longer offered to caseworkers or the rule builder; rules naming it keep working.
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, code),
    UNIQUE (site_id, id)  -- the target of client_customer_groups' (site_id, group_id)
);

-- Which groups a client belongs to: the foreign key keeps the group at the row's site, and customer_groups.py
-- links only groups of the client's own site.
CREATE TABLE client_customer_groups (
    site_id     bigint NOT NULL REFERENCES sites,
    client_id   bigint NOT NULL REFERENCES clients ON DELETE CASCADE,
    group_id    bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, group_id),
    FOREIGN KEY (site_id, group_id) REFERENCES customer_groups (site_id, id) ON DELETE CASCADE
);
CREATE INDEX client_customer_groups_group ON client_customer_groups (group_id);
