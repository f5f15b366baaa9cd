-- scheduler/teams.py account_by_username (STAFF_USER_COLUMNS): password sign-in
-- Frozen from commit 5988cfe (the previous release); see README.md. Do not edit.
SELECT st.id, st.site_id, st.username, st.display_name, st.role, st.team_id, st.languages, st.password_hash, st.active, st.sso, st.oidc_subject FROM staff st WHERE st.username = $1
