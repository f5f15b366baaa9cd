-- scheduler/callbacks.py insert (called by intake)
-- Frozen from commit 5988cfe (the previous release); see README.md. Do not edit.
INSERT INTO callbacks (site_id, client_id, concern_id, channel, reference, link_token, phone, language,
                       windows, note, idempotency_key, server_key, idempotency_hash, sms_consent,
                       claimed_name, claimed_customer_number)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT DO NOTHING RETURNING id
