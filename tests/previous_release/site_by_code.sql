-- scheduler/sites.py site_by_code (SITE_COLUMNS)
-- Frozen from commit 5988cfe (the previous release); see README.md. Do not edit.
SELECT id, code, name, timezone, address, holiday_region, languages, public_base_url, email_enabled, retention_days, config_stamp FROM sites WHERE code = $1
