-- Issue 17: a caller types their reference code on the phone keypad, a letter as the key that shows it
-- (ABC = 2, DEF = 3, GH = 4, JK = 5, MN = 6, PQRS = 7, TV = 8, WXYZ = 9; Crockford base 32 has no I, L, O, U).
-- The IVR finds an open request by that digits-only form; this index keeps the lookup off a table scan.
-- The expression must equal requests.KEYPAD_SQL exactly.
CREATE INDEX requests_keypad_reference ON requests
    (site_id, translate(reference, 'ABCDEFGHJKMNPQRSTVWXYZ-', '2223334455667777889999'))
    WHERE status IN ('received', 'proposed', 'scheduled');
