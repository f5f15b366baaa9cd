-- Proposals hold times only while their request waits for a decision. Dropping them as soon as a request
-- leaves received/proposed (booked, declined, withdrawn, expired) lets the slot search read the held
-- times straight from the proposals index, without joining every open request on each intake.
DELETE FROM proposals p USING requests r
WHERE r.id = p.request_id AND r.status NOT IN ('received', 'proposed');

CREATE FUNCTION release_proposals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM proposals WHERE request_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER requests_release_proposals AFTER UPDATE OF status ON requests
    FOR EACH ROW WHEN (NEW.status NOT IN ('received', 'proposed'))
    EXECUTE FUNCTION release_proposals();
