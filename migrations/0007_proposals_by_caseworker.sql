-- Every slot search reads the times held by open proposals of the routed caseworkers inside the
-- policy's window. Without this index that read scanned the whole proposals table on every intake.
CREATE INDEX proposals_staff_during ON proposals USING gist (staff_id, during);
