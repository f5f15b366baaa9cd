-- Issue 14, "Attendance and outcome" (scheduler/outcomes.py, scheduler/appointments.py).
--
-- The caseworker records how an appointment ended: held, no-show (with whether the client gave a reason,
-- which, and the date of it) or cancelled by the office. Who and when are kept with it. The status columns
-- keep saying what the appointment is (completed, no_show, cancelled); `outcome` says who decided it.
ALTER TABLE appointments
    ADD COLUMN outcome             text CHECK (outcome IN ('held', 'no_show', 'cancelled_by_office')),
    ADD COLUMN outcome_reason      text CHECK (outcome_reason IN ('ill', 'appointment_clash', 'other')),
    ADD COLUMN outcome_reason_date date,
    ADD COLUMN outcome_by          bigint REFERENCES staff,
    ADD COLUMN outcome_at          timestamptz,
    -- Set once by the unmarked-outcome job: the caseworker is told, then (a working day later) the team lead.
    ADD COLUMN outcome_flagged_at   timestamptz,
    ADD COLUMN outcome_escalated_at timestamptz,
    ADD CONSTRAINT appointments_outcome_complete
        CHECK ((outcome IS NULL) = (outcome_at IS NULL)),
    ADD CONSTRAINT appointments_outcome_reason_only_for_no_show
        CHECK (outcome_reason IS NULL OR outcome = 'no_show'),
    ADD CONSTRAINT appointments_outcome_reason_date_needs_reason
        CHECK (outcome_reason_date IS NULL OR outcome_reason IS NOT NULL);

-- The job's candidates: confirmed appointments not yet escalated, by site and start. Small: it only holds
-- appointments whose outcome is still open.
CREATE INDEX appointments_outcome_open ON appointments (site_id, lower(during))
    WHERE status = 'confirmed' AND outcome_escalated_at IS NULL;
