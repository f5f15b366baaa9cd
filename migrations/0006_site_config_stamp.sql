-- A site's setup (teams, concerns, rule sets) changes rarely but is read by every intake. Each change
-- gives the site a new random stamp, so a process can keep the setup cached and still never use a
-- stale one: it keys its cache by the stamp it reads with the site row. A random stamp (not a counter)
-- stays unique even when a database is restored to an earlier state.
ALTER TABLE sites ADD COLUMN config_stamp uuid NOT NULL DEFAULT gen_random_uuid();

CREATE FUNCTION touch_site_config() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE sites SET config_stamp = gen_random_uuid() WHERE id = OLD.site_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE sites SET config_stamp = gen_random_uuid() WHERE id = NEW.site_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER teams_touch_site_config AFTER INSERT OR UPDATE OR DELETE ON teams
    FOR EACH ROW EXECUTE FUNCTION touch_site_config();
CREATE TRIGGER concerns_touch_site_config AFTER INSERT OR UPDATE OR DELETE ON concerns
    FOR EACH ROW EXECUTE FUNCTION touch_site_config();
CREATE TRIGGER policies_touch_site_config AFTER INSERT OR UPDATE OR DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION touch_site_config();
