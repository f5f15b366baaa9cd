-- The inbox reads the sort keys of a whole open queue (one caseworker's, or a team's unassigned items) and
-- orders them by the policy. These partial indexes carry the key columns and the inbox filters, so that
-- read is an index-only scan instead of one heap page per open item. They replace the open_by_* indexes
-- (same leading columns, so every query that used those can use these).
DROP INDEX requests_open_by_staff;
DROP INDEX requests_open_by_team;
CREATE INDEX requests_open_by_staff ON requests (site_id, staff_id)
    INCLUDE (id, priority, created_at, manual_rank, concern_id, channel) WHERE status IN ('received', 'proposed');
CREATE INDEX requests_open_by_team ON requests (site_id, team_id, staff_id)
    INCLUDE (id, priority, created_at, manual_rank, concern_id, channel) WHERE status IN ('received', 'proposed');

DROP INDEX callbacks_open_by_staff;
DROP INDEX callbacks_open_by_team;
CREATE INDEX callbacks_open_by_staff ON callbacks (site_id, staff_id)
    INCLUDE (id, priority, created_at, manual_rank, concern_id, channel) WHERE status IN ('open', 'in_progress');
CREATE INDEX callbacks_open_by_team ON callbacks (site_id, team_id, staff_id)
    INCLUDE (id, priority, created_at, manual_rank, concern_id, channel) WHERE status IN ('open', 'in_progress');
