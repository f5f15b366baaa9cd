-- rate_limit_hit now counts the hits of many requests in one call (scheduler/ratelimit.py gathers the
-- checks that arrive while a call is under way), so it says which input each row answers (`entry`, the
-- subscript) and may see the same limit and key more than once: each is one hit, checked and counted in
-- turn. Entries are taken in descending order of the names, then by key, so every call locks rows in one
-- order and concurrent calls cannot deadlock; 'global', the row every request locks, still comes last and
-- is held the shortest.
DROP FUNCTION rate_limit_hit(text[], text[], timestamptz[], integer[], integer[], float8[]);

CREATE FUNCTION rate_limit_hit(names text[], keys text[], starts timestamptz[], seconds integer[],
                               amounts integer[], weights float8[])
RETURNS TABLE (entry integer, limit_name text, previous integer, hits integer, admitted boolean)
LANGUAGE plpgsql AS $$
DECLARE
    k bytea;
    budget float8;
BEGIN
    FOR entry IN SELECT s FROM generate_subscripts(names, 1) AS s ORDER BY names[s] DESC, keys[s], s LOOP
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
            SELECT r.hits INTO hits FROM rate_limits r
            WHERE r.name = names[entry] AND r.key = k AND r.window_start = starts[entry];
            hits := coalesce(hits, 0);
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
