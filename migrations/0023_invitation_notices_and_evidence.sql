-- Issue 15: notice templates for invitations (scheduler/notice_templates.py) and the append-only delivery
-- evidence of each invitation (scheduler/invitation_evidence.py).

-- A notice template of an office: mandatory (Rechtsfolgenbelehrung, § 59 SGB II with § 309 SGB III) or
-- voluntary. Its texts live in versions; the template row only names it.
CREATE TABLE notice_templates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    kind        text NOT NULL CHECK (kind IN ('mandatory', 'voluntary')),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, name),
    UNIQUE (site_id, id)
);

-- Every save is a new version; a version is never edited or deleted (an invitation names the one it used).
-- German is binding; `translations` (language -> text) are help for the client, shown marked as such.
CREATE TABLE notice_template_versions (
    template_id   bigint NOT NULL REFERENCES notice_templates,
    version       int NOT NULL CHECK (version > 0),
    site_id       bigint NOT NULL REFERENCES sites,
    german        text NOT NULL CHECK (length(german) BETWEEN 1 AND 6000),
    translations  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(translations) = 'object'),
    created_by    bigint REFERENCES staff,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed: write a new one', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER notice_template_versions_kept BEFORE UPDATE OR DELETE ON notice_template_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- The notice an invitation (a request with `invitation` set) was sent with: the template version, and what
-- the caseworker wrote for the {bring} placeholder. One row per invitation.
CREATE TABLE invitation_notices (
    request_id   bigint PRIMARY KEY REFERENCES requests,
    site_id      bigint NOT NULL REFERENCES sites,
    template_id  bigint NOT NULL,
    version      int NOT NULL,
    bring        text NOT NULL DEFAULT '' CHECK (length(bring) <= 500),
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (template_id, version) REFERENCES notice_template_versions (template_id, version)
);

-- The delivery evidence of an invitation: append-only. Corrections are new rows (kind 'correction').
-- `detail` holds no phone number, address or name: provider ids, error codes, outbox ids, a batch id, and
-- for corrections the staff member's text; retention clears `detail` with the request's other free text.
CREATE TABLE invitation_evidence (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      bigint NOT NULL REFERENCES sites,
    request_id   bigint NOT NULL REFERENCES requests,
    kind         text NOT NULL CHECK (kind IN ('created', 'sms_accepted', 'sms_delivered', 'sms_failed',
                                               'email_sent', 'email_failed', 'link_opened', 'confirmed',
                                               'declined', 'letter_queued', 'letter_printed', 'letter_posted',
                                               'correction')),
    at           timestamptz NOT NULL,
    staff_id     bigint REFERENCES staff,
    channel      text CHECK (channel IN ('sms', 'email', 'letter', 'web', 'kiosk', 'phone', 'staff')),
    detail       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitation_evidence_request ON invitation_evidence (request_id, at, id);
-- The first opening of the link is evidence; later ones are not news.
CREATE UNIQUE INDEX invitation_evidence_first_open ON invitation_evidence (request_id) WHERE kind = 'link_opened';

-- Nothing in the timeline is edited or deleted. The one exception is retention's anonymisation (which
-- privacy's erasure runs too): inside a transaction that set `scheduler.evidence_anonymise` to 'on'
-- (SET LOCAL, see invitation_evidence.anonymise), an UPDATE may empty `detail` and change nothing else.
-- Rows are never deleted (requests are not deleted either; TRUNCATE in tests fires no row triggers).
CREATE FUNCTION invitation_evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('scheduler.evidence_anonymise', true) = 'on'
       AND NEW.detail = '{}'::jsonb
       AND (NEW.id, NEW.site_id, NEW.request_id, NEW.kind, NEW.at, NEW.staff_id, NEW.channel, NEW.recorded_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.site_id, OLD.request_id, OLD.kind, OLD.at, OLD.staff_id, OLD.channel, OLD.recorded_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'invitation evidence is append-only: record a correction instead'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER invitation_evidence_append_only BEFORE UPDATE OR DELETE ON invitation_evidence
    FOR EACH ROW EXECUTE FUNCTION invitation_evidence_append_only();

-- Each channel's outcome, from the outbox row's status change in the same transaction, whichever code path
-- makes it (the worker's send, a provider's status callback, an early receipt applied later): only rows that
-- belong to an invitation (directly or through its appointment) leave evidence. No recipient is copied.
CREATE FUNCTION invitation_evidence_from_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    evidence_kind text;
    invitation_id bigint;
BEGIN
    evidence_kind := CASE
        WHEN NEW.channel = 'sms' AND NEW.status = 'sent' THEN 'sms_accepted'
        WHEN NEW.channel = 'sms' AND NEW.status = 'delivered' THEN 'sms_delivered'
        WHEN NEW.channel = 'sms' AND NEW.status IN ('undelivered', 'failed') THEN 'sms_failed'
        WHEN NEW.channel = 'email' AND NEW.status IN ('sent', 'delivered') THEN 'email_sent'
        WHEN NEW.channel = 'email' AND NEW.status IN ('undelivered', 'failed') THEN 'email_failed'
    END;
    IF evidence_kind IS NULL THEN
        RETURN NULL;
    END IF;
    invitation_id := coalesce(NEW.request_id,
                              (SELECT a.request_id FROM appointments a WHERE a.id = NEW.appointment_id));
    INSERT INTO invitation_evidence (site_id, request_id, kind, at, channel, detail)
    SELECT r.site_id, r.id, evidence_kind, now(), NEW.channel,
           jsonb_strip_nulls(jsonb_build_object('message', NEW.kind, 'outbox_id', NEW.id::text,
                                                'provider_id', NEW.provider_id, 'error_code', NEW.error_code))
    FROM requests r WHERE r.id = invitation_id AND r.invitation IS NOT NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_invitation_evidence AFTER UPDATE OF status ON outbox
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND (NEW.request_id IS NOT NULL
                                                                   OR NEW.appointment_id IS NOT NULL))
    EXECUTE FUNCTION invitation_evidence_from_outbox();
