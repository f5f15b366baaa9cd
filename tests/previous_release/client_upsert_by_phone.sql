-- scheduler/clients.py upsert_by_phone (intake finds or creates the client)
-- Frozen from commit 5988cfe (the previous release); see README.md. Do not edit.
INSERT INTO clients (site_id, phone, language, language_verified, sms_consent)
VALUES ($1, $2, $3, $4, $4 AND $5)
ON CONFLICT (site_id, phone) WHERE phone IS NOT NULL DO UPDATE SET
    language = CASE WHEN clients.language_verified AND NOT $4 THEN clients.language
                    ELSE EXCLUDED.language END,
    language_verified = clients.language_verified OR $4,
    sms_consent = clients.sms_consent OR EXCLUDED.sms_consent,
    updated_at = now()
RETURNING id, site_id, phone, language, sms_consent, sms_opted_out_at, assigned_staff_id, birth_date
