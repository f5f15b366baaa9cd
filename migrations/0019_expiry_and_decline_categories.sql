-- Expiry of undecided requests, the category of a decline (the client is told it), and a closed_at for
-- every final state (retention anonymises by closed_at, so a final state without one would be kept forever).

ALTER TABLE requests ADD COLUMN decline_category text
    CHECK (decline_category IN ('not_responsible', 'duplicate', 'resolved', 'other'));

-- The expiry job reads open requests by their decision deadline; the proposal sweep reads proposals by start.
CREATE INDEX requests_open_by_deadline ON requests (deadline_at) WHERE status IN ('received', 'proposed');
CREATE INDEX proposals_by_start ON proposals (lower(during));

-- Every change into a final state carries closed_at, whichever code writes it (requests are only ever
-- inserted open; imports set closed_at themselves).
UPDATE requests SET closed_at = updated_at
WHERE closed_at IS NULL AND status IN ('done', 'no_show', 'declined', 'withdrawn', 'expired');
UPDATE callbacks SET closed_at = updated_at
WHERE closed_at IS NULL AND status IN ('reached', 'unreachable', 'cancelled');

CREATE FUNCTION stamp_closed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.closed_at := coalesce(NEW.closed_at, now());
    RETURN NEW;
END $$;

CREATE TRIGGER requests_stamp_closed_at BEFORE UPDATE OF status, closed_at ON requests
    FOR EACH ROW WHEN (NEW.status IN ('done', 'no_show', 'declined', 'withdrawn', 'expired') AND NEW.closed_at IS NULL)
    EXECUTE FUNCTION stamp_closed_at();
CREATE TRIGGER callbacks_stamp_closed_at BEFORE UPDATE OF status, closed_at ON callbacks
    FOR EACH ROW WHEN (NEW.status IN ('reached', 'unreachable', 'cancelled') AND NEW.closed_at IS NULL)
    EXECUTE FUNCTION stamp_closed_at();
