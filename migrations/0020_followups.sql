-- Issue 14: the follow-up of a no-show or an unreachable callback (scheduler/followups.py).

-- One row per no-show appointment or unreachable callback: what the policy's `follow_up` said and what was
-- done. The unique appointment / callback makes a second call a no-op. A `task` row stays open in the
-- caseworker's inbox until they mark it done; `none` and `invite` rows are done when written (an invite's
-- to-do is the new request itself, approved like any other).
CREATE TABLE followups (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id           bigint NOT NULL REFERENCES sites,
    cause             text NOT NULL CHECK (cause IN ('no_show', 'unreachable')),
    appointment_id    bigint UNIQUE REFERENCES appointments,
    callback_id       bigint UNIQUE REFERENCES callbacks,
    request_id        bigint REFERENCES requests,          -- the request whose appointment was missed
    client_id         bigint NOT NULL REFERENCES clients,
    team_id           bigint REFERENCES teams,
    staff_id          bigint REFERENCES staff,             -- whose to-do it is (else the team's)
    action            text NOT NULL CHECK (action IN ('none', 'task', 'invite')),
    lead_time         integer CHECK (lead_time BETWEEN 0 AND 30),
    rule_id           text NOT NULL,                       -- what set it: a rule id or "defaults"
    invite_request_id bigint REFERENCES requests,          -- the new request of an invite
    status            text NOT NULL CHECK (status IN ('open', 'done')),
    created_by        text NOT NULL,                       -- the actor who recorded the no-show / last attempt
    created_at        timestamptz NOT NULL DEFAULT now(),
    done_at           timestamptz,
    done_by           bigint REFERENCES staff,
    CONSTRAINT followups_one_cause CHECK ((appointment_id IS NULL) <> (callback_id IS NULL)),
    CONSTRAINT followups_cause_matches CHECK ((cause = 'no_show') = (appointment_id IS NOT NULL)),
    CONSTRAINT followups_lead_time_only_for_invite CHECK ((action = 'invite') = (lead_time IS NOT NULL)),
    CONSTRAINT followups_done_has_time CHECK ((status = 'done') = (done_at IS NOT NULL))
);
CREATE INDEX followups_open_tasks ON followups (site_id, staff_id) WHERE status = 'open';
