-- scheduler/ratelimit.py HIT_SQL: every limit of a batch of requests counted in one statement
-- Frozen from commit 5988cfe (the previous release); see README.md. Do not edit.
SELECT entry, previous, hits, admitted FROM rate_limit_hit($1, $2, $3, $4, $5, $6, $7, $8)
