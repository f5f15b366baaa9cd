-- Issue 14, "Performance": the lifecycle jobs over a million requests (bench/lifecycle_jobs.py).

-- Retention anonymises a batch of requests' appointments by request (retention.requests_batch), and the
-- link sweep checks a request's appointments (retention.expire_links): without this index each was a
-- sequential scan of all appointments (the unique one covers confirmed rows only).
CREATE INDEX appointments_request ON appointments (request_id);

-- The link sweep starts from appointments that ended before its cutoff without an outcome (a request still
-- marked scheduled whose appointment is over: recording an outcome closes the request or cancels the
-- appointment), so it reads only those, not every booked request. Small: confirmed appointments, and ones
-- finished without an outcome.
CREATE INDEX appointments_unmarked_by_end ON appointments (upper(during))
    WHERE outcome IS NULL AND status <> 'cancelled';
