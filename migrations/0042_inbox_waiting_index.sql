-- The inbox's sort keys of everything waiting (issue 18, "Scale"): the open requests and the booked ones whose
-- client asked for another time (inbox.WAITING). The partial indexes of 0005 cover only the open statuses, so
-- with the "or booked and wants another time" part PostgreSQL read the keys from the heap; for a large office's
-- whole queue (4,000 items among 50,000 requests) it combined bitmaps of unrelated indexes, 75-125 ms.
-- The predicate is inbox.WAITING['requests'] word for word, so the planner proves it from the query's WHERE.
-- Columns: site, then caseworker (mine: staff_id = $2, and staff_id IS NULL AND team_id = $3), then team.
CREATE INDEX requests_waiting ON requests (site_id, staff_id, team_id)
    INCLUDE (id, priority, created_at, manual_rank, concern_id, channel)
    WHERE (status IN ('received', 'proposed') OR (status = 'scheduled' AND wants_other_time));

-- The inbox's "outcome missing" list (today.missing): an admin's covers the whole office's escalated appointments;
-- without this it read every confirmed appointment of the office (3,000 in the largest, 30-50 ms). Only flagged or
-- escalated appointments are in it, so it stays small.
CREATE INDEX appointments_outcome_asked ON appointments (site_id, lower(during))
    WHERE status = 'confirmed' AND (outcome_flagged_at IS NOT NULL OR outcome_escalated_at IS NOT NULL);
