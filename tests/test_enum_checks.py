"""Every StrEnum stored in the database has exactly the values of its column's CHECK list.

The lists are read from PostgreSQL's catalogue (what the real migrations produced), not from the
migration files, so a later ``ALTER TABLE ... ADD CONSTRAINT`` is seen too.
"""

from __future__ import annotations

import re
from enum import StrEnum

import asyncpg
import pytest

from scheduler.appointments import AppointmentStatus, NoShowReason, Outcome
from scheduler.batch_invitations import BatchStatus as InvitationBatchStatus
from scheduler.batch_invitations import RowStatus
from scheduler.callbacks import CallbackOutcome, CallbackStatus
from scheduler.followups import Cause, FollowUpStatus
from scheduler.group_session_seats import Attendance, SeatChannel, SeatStatus
from scheduler.group_sessions import SessionStatus
from scheduler.invitation_evidence import EvidenceChannel, EvidenceKind
from scheduler.letters import BatchStatus, LetterReason, LetterStatus
from scheduler.notice_templates import NoticeKind
from scheduler.outbox import OutboxStatus
from scheduler.permissions import Role
from scheduler.policy.rules import Channel, FollowUpAction, Mode, Need
from scheduler.policy.store import PolicyStatus, Scope
from scheduler.requests import DeclineCategory, Status
from scheduler.slot_offers import OfferStatus, RecipientStatus
from scheduler.walk_ins import WalkInStatus
from scheduler.webhook_deliveries import DeliveryStatus as WebhookDeliveryStatus
from scheduler.webhooks import EventType as WebhookEventType

# (enum, table, column): the column stores exactly the enum's values.
EQUAL: list[tuple[type[StrEnum], str, str]] = [
    (Status, "requests", "status"),
    (DeclineCategory, "requests", "decline_category"),
    (Channel, "requests", "channel"),
    (Mode, "requests", "modes"),             # text[]: modes <@ ARRAY[...]
    (Need, "requests", "needs"),             # text[]: needs <@ ARRAY[...] (migration 0029)
    (Channel, "callbacks", "channel"),
    (CallbackStatus, "callbacks", "status"),
    (CallbackOutcome, "callback_attempts", "outcome"),
    (AppointmentStatus, "appointments", "status"),
    (Outcome, "appointments", "outcome"),
    (NoShowReason, "appointments", "outcome_reason"),
    (Mode, "appointments", "mode"),
    (Mode, "proposals", "mode"),
    (Mode, "working_hours", "modes"),        # text[], also cardinality(modes) > 0
    (Mode, "concerns", "modes"),             # text[], also cardinality(modes) > 0
    (Channel, "concerns", "channels"),       # text[]: channels a concern may be asked for through
    (Role, "staff", "role"),
    (OutboxStatus, "outbox", "status"),
    (Scope, "policies", "scope"),
    (PolicyStatus, "policies", "status"),
    (Cause, "followups", "cause"),
    (FollowUpAction, "followups", "action"),
    (FollowUpStatus, "followups", "status"),
    (Mode, "slot_offers", "mode"),
    (OfferStatus, "slot_offers", "status"),
    (RecipientStatus, "slot_offer_recipients", "status"),
    (NoticeKind, "notice_templates", "kind"),
    (EvidenceKind, "invitation_evidence", "kind"),
    (EvidenceChannel, "invitation_evidence", "channel"),
    (LetterStatus, "letters", "status"),
    (LetterReason, "letters", "reason"),
    (BatchStatus, "letter_batches", "status"),
    (InvitationBatchStatus, "invitation_batches", "status"),
    (RowStatus, "invitation_batch_rows", "status"),
    (Mode, "invitation_batch_rows", "mode"),
    (WalkInStatus, "walk_in_tickets", "status"),
    (SessionStatus, "group_sessions", "status"),
    (SeatStatus, "group_session_seats", "status"),
    (SeatChannel, "group_session_seats", "channel"),
    (Attendance, "group_session_seats", "outcome"),
    (WebhookEventType, "webhook_endpoints", "event_types"),  # text[], also cardinality(event_types) > 0
    (WebhookEventType, "webhook_deliveries", "event_type"),
    (WebhookDeliveryStatus, "webhook_deliveries", "status"),
]

# Single-column CHECK lists that no StrEnum stores today (the code writes plain strings).
# Kept explicit so that a new list column shows up here and gets an enum or a conscious entry.
WITHOUT_ENUM: dict[tuple[str, str], set[str]] = {
    ("requests", "invitation"): {"voluntary", "mandatory"},
    ("invitation_batches", "invitation"): {"voluntary", "mandatory"},
    ("proposals", "source"): {"policy", "freed_slot", "caseworker"},
    ("outbox", "channel"): {"sms", "email"},
    ("staff", "sso"): {"subject", "username"},
    ("email_confirmations", "channel"): {"web", "kiosk"},  # email_addresses.ANONYMOUS_CHANNELS
}

_LITERAL = re.compile(r"'((?:[^']|'')*)'::text")
# A list check as PostgreSQL prints it back: `x = ANY (ARRAY[...])` (from IN) or `x <@ ARRAY[...]`.
_LIST = re.compile(r"(= ANY \(ARRAY\[|<@ ARRAY\[)")

_CHECKS_SQL = """
SELECT cl.relname AS table_name, a.attname AS column_name, pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c
JOIN pg_class cl ON cl.oid = c.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'c' AND n.nspname = 'public' AND cardinality(c.conkey) = 1
ORDER BY 1, 2
"""


def _literals(definition: str) -> set[str]:
    return {m.replace("''", "'") for m in _LITERAL.findall(definition)}


async def _list_checks(conn: asyncpg.Connection) -> dict[tuple[str, str], list[str]]:
    """(table, column) → the definitions of its single-column CHECKs that hold a literal list."""
    found: dict[tuple[str, str], list[str]] = {}
    for row in await conn.fetch(_CHECKS_SQL):
        if _LIST.search(row["definition"]):
            found.setdefault((row["table_name"], row["column_name"]), []).append(row["definition"])
    return found


def test_literal_parser() -> None:
    definition = "CHECK ((status = ANY (ARRAY['open'::text, 'it''s'::text])))"
    assert _literals(definition) == {"open", "it's"}
    assert _LIST.search(definition)
    assert not _LIST.search("CHECK ((code ~ '^[a-z0-9-]{2,40}$'::text))")


@pytest.mark.parametrize(
    ("enum", "table", "column"), EQUAL, ids=[f"{e.__name__}-{t}.{c}" for e, t, c in EQUAL],
)
async def test_enum_values_equal_check_list(conn: asyncpg.Connection, enum: type[StrEnum], table: str,
                                            column: str) -> None:
    checks = (await _list_checks(conn)).get((table, column))
    assert checks, f"{table}.{column} has no CHECK list"
    assert len(checks) == 1, checks
    assert _literals(checks[0]) == {member.value for member in enum}


async def test_every_check_list_is_accounted_for(conn: asyncpg.Connection) -> None:
    """No single-column CHECK list is left without an enum test or an entry in WITHOUT_ENUM."""
    checks = await _list_checks(conn)
    covered = {(t, c) for _, t, c in EQUAL}
    assert set(checks) == covered | set(WITHOUT_ENUM)
    for key, values in WITHOUT_ENUM.items():
        assert {v for d in checks[key] for v in _literals(d)} == values


async def test_a_value_outside_the_enum_is_refused(conn: asyncpg.Connection) -> None:
    """The CHECK really guards the column (the catalogue text is not just decoration)."""
    staff_id = await conn.fetchval("SELECT min(id) FROM staff")
    assert staff_id is not None
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE staff SET role = 'superuser' WHERE id = $1", staff_id)
    await conn.execute("UPDATE staff SET role = $1 WHERE id = $2", Role.team_lead.value, staff_id)
    assert await conn.fetchval("SELECT role FROM staff WHERE id = $1", staff_id) == Role.team_lead
