-- scheduler/requests.py _INSERT (requests.insert, called by intake): request, audit, proposals, receipt
-- Frozen from commit 5988cfe (the previous release); see README.md. Do not edit.
WITH r AS (
    INSERT INTO requests (site_id, client_id, concern_id, channel, reference, link_token, language, modes, windows,
                          note, idempotency_key, invitation, notice_text, created_by, status, decision, team_id,
                          staff_id, priority, deadline_at, policy_ids, server_key, idempotency_hash, sms_consent,
                          claimed_name, claimed_customer_number)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
            $27, $28, $29, $30, $31)
    ON CONFLICT DO NOTHING
    RETURNING *
), logged AS (
    INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details)
    SELECT r.site_id, e.value->>'actor', e.value->>'action', 'request', r.id, e.value->'details'
    FROM r, jsonb_array_elements($22::jsonb) WITH ORDINALITY AS e(value, n)
    ORDER BY e.n
), held AS (
    INSERT INTO proposals (site_id, request_id, staff_id, during, mode, room, source)
    SELECT r.site_id, r.id, p.staff_id, p.during, p.mode, p.room, 'policy'
    FROM r, unnest($23::bigint[], $24::tstzrange[], $25::text[], $26::text[]) AS p(staff_id, during, mode, room)
), receipt AS (INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, language, payload, request_id)
    SELECT r.site_id, $32::text || r.id || $33::text, $34::text, $35::text, $36::text,
           $37::text, $38::jsonb, r.id FROM r WHERE $32::text IS NOT NULL
    ON CONFLICT (idempotency_key) DO NOTHING
)

SELECT r.id, r.site_id, r.client_id, r.concern_id, c.code AS concern_code, r.channel, r.status, r.reference,
       r.link_token, r.language, r.modes, r.windows, r.note, r.invitation, r.team_id, r.staff_id, r.priority,
       r.decision, r.manual_rank, r.wants_other_time, r.deadline_at, r.overdue_flagged_at, r.decline_reason,
       r.created_at, r.updated_at, r.sms_consent, r.claimed_name, r.claimed_customer_number, r.decline_category
FROM r JOIN concerns c ON c.id = r.concern_id
