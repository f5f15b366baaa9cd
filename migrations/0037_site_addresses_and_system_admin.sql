-- 0037: many offices on one deployment (issue 18).
-- The addresses that choose a site for a request: host names for the web pages and the Twilio numbers for the
-- phone line and SMS. Each address belongs to one site (primary key), so two offices can never claim the same.
-- Expand-only: new tables and columns with defaults; the previous release neither reads nor writes them.
CREATE TABLE site_hosts (
    host     text PRIMARY KEY CHECK (host ~ '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$'),
    site_id  bigint NOT NULL REFERENCES sites ON DELETE CASCADE
);
CREATE INDEX site_hosts_site ON site_hosts (site_id);

CREATE TABLE site_phone_numbers (
    number   text PRIMARY KEY CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    site_id  bigint NOT NULL REFERENCES sites ON DELETE CASCADE
);
CREATE INDEX site_phone_numbers_site ON site_phone_numbers (site_id);

-- Processes cache the addresses (site_addresses.AddressBook); a change tells every listener to read them again.
CREATE FUNCTION site_addresses_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('site_addresses', '');
    RETURN NULL;
END $$;
CREATE TRIGGER site_hosts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON site_hosts
    FOR EACH STATEMENT EXECUTE FUNCTION site_addresses_changed();
CREATE TRIGGER site_phone_numbers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON site_phone_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION site_addresses_changed();

-- The phone countries a site accepts client numbers from; empty: the deployment's sms.allowed_countries.
ALTER TABLE sites ADD COLUMN allowed_countries text[] NOT NULL DEFAULT '{}'
    CHECK (array_to_string(allowed_countries, ',') ~ '^([A-Z]{2}(,[A-Z]{2})*)?$' AND cardinality(allowed_countries) <= 50);

-- A system administrator is a site administrator who also sets up sites and the staff of every site.
-- Client data stays with each site: the flag opens the system pages, not another office's cases.
ALTER TABLE staff ADD COLUMN system_admin boolean NOT NULL DEFAULT false;
ALTER TABLE staff ADD CONSTRAINT staff_system_admin_is_admin CHECK (NOT system_admin OR role = 'admin');
