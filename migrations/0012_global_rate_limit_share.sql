-- The global limit (`after`) is counted only for requests that every other limit of theirs admitted
-- (scheduler/ratelimit.py): one address then weighs on it with at most its own allowance, so no single
-- source can fill it and have everyone refused. `requests` says which request each entry belongs to (many
-- are counted in one call). Entries with `after` are taken after all others, then in the order of 0011
-- (names descending, then key), so every call still locks rows in one order and cannot deadlock. An
-- entry that is not counted, because its request was refused already, returns no row.
DROP FUNCTION rate_limit_hit(text[], text[], timestamptz[], integer[], integer[], float8[]);

CREATE FUNCTION rate_limit_hit(names text[], keys text[], starts timestamptz[], seconds integer[],
                               amounts integer[], weights float8[], requests integer[], after boolean[])
RETURNS TABLE (entry integer, limit_name text, previous integer, hits integer, admitted boolean)
LANGUAGE plpgsql AS $$
DECLARE
    k bytea;
    budget float8;
    refused integer[] := '{}';
BEGIN
    FOR entry IN SELECT s FROM generate_subscripts(names, 1) AS s
                 ORDER BY after[s], names[s] DESC, keys[s], s LOOP
        IF after[entry] AND requests[entry] = ANY (refused) THEN
            CONTINUE;
        END IF;
        k := rate_limit_key(names[entry], keys[entry]);
        limit_name := names[entry];
        SELECT r.hits INTO previous FROM rate_limits r
        WHERE r.name = names[entry] AND r.key = k
          AND r.window_start = starts[entry] - make_interval(secs => seconds[entry]);
        previous := coalesce(previous, 0);
        budget := amounts[entry] - weights[entry] * previous;
        hits := NULL;
        IF budget >= 1 THEN
            INSERT INTO rate_limits AS r (name, key, window_start, expires_at, hits)
            VALUES (names[entry], k, starts[entry],
                    starts[entry] + make_interval(secs => 2 * seconds[entry]), 1)
            ON CONFLICT (name, key, window_start) DO UPDATE SET hits = r.hits + 1 WHERE r.hits + 1 <= budget
            RETURNING r.hits INTO hits;
        END IF;
        admitted := hits IS NOT NULL;
        IF NOT admitted THEN
            refused := refused || requests[entry];
            SELECT r.hits INTO hits FROM rate_limits r
            WHERE r.name = names[entry] AND r.key = k AND r.window_start = starts[entry];
            hits := coalesce(hits, 0);
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
