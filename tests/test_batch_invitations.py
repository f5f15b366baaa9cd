"""Batch invitations: a list with good and bad lines, planned for review, sent once with outbox rows and letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import batch_invitations, batch_lists, sites
from scheduler.batch_invitations import RowStatus
from scheduler.batch_lists import Problem
from scheduler.errors import InvalidTransition, ValidationFailed
from tests import factories
from tests.factories import SiteFacts

NOW = datetime.now(UTC)

LIST = """Kundennummer;Telefon;Name;Sprache;Straße;PLZ;Ort
123A000001;0151 11112222;Anna Beispiel;de;;;
123A000002;;Boris Beispiel;uk;Lindenweg 3;30159;Hannover
;;Carla Beispiel;tr;;;
123A000004;;Dana Beispiel;ar;;;
12X;;Emil Beispiel;de;Weg 1;30159;Hannover
123A000006;0151 11113333;Fiona Beispiel;xx;;;
123A000007;0151 99998888;Gerd Beispiel;ru;Weg 1;3015;Hannover
123A000001;0151 11112222;Anna Beispiel;de;;;
"""


def test_a_list_is_read_line_by_line_and_bad_lines_say_why() -> None:
    rows = batch_lists.parse_list(LIST)
    assert [(r.line, r.problem) for r in rows] == [
        (2, None), (3, None), (4, Problem.no_identity), (5, Problem.address_needed), (6, Problem.customer_number),
        (7, Problem.language), (8, Problem.address), (9, Problem.duplicate)]
    assert rows[0].phone == "+4915111112222" and rows[1].address is not None
    assert rows[1].address.recipient == "Boris Beispiel"


def test_a_list_too_large_or_without_columns_is_refused_as_a_whole() -> None:
    for text, problem in (("x" * (batch_lists.MAX_BYTES + 1), "too_large"), ("name\nA", "no_columns"),
                          ("phone\n" + "0151 1\n" * (batch_lists.MAX_ROWS + 1), "too_many_rows"),
                          ("phone", "empty")):
        with pytest.raises(ValidationFailed) as refused:
            batch_lists.parse_list(text)
        assert refused.value.fields == {"file": problem}


async def _plan(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, text: str,
                invitation: str = "voluntary") -> int:
    facts = await sites.site_by_id(conn, site.site_id)
    concern = (await sites.setup(conn, facts)).concerns["general"]
    today = facts.calendar().local_date(NOW)
    return await batch_invitations.plan(
        pool, site=facts, staff_id=site.staff["lead.placement"], concern=concern, invitation=invitation,
        template_id=None, bring="", window_from=today + timedelta(days=1), window_to=today + timedelta(days=21),
        rows=batch_lists.parse_list(text), now=NOW)


async def test_good_lines_are_planned_reviewed_and_sent_once_bad_lines_never(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    batch_id = await _plan(pool, conn, site, LIST)
    rows = await batch_invitations.list_rows(conn, batch_id)
    assert [r.status for r in rows] == [RowStatus.planned, RowStatus.planned] + [RowStatus.bad] * 6
    first, second = rows[0], rows[1]
    assert first.start is not None and second.start is not None and first.staff_id
    # Two clients of one list never get the same caseworker at the same time.
    assert (first.staff_id, first.start) != (second.staff_id, second.start)
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE created_at >= $1 AND channel = 'staff'",
                               NOW) == 0  # nothing is sent before the lead confirms

    done = await batch_invitations.send(pool, site_id=site.site_id, staff_id=site.staff["lead.placement"],
                                        batch_id=batch_id, now=NOW, reminder_offsets=(timedelta(days=1),))
    assert done == {"sent": 2, "failed": 0, "letters": 1}
    with pytest.raises(InvalidTransition):
        await batch_invitations.send(pool, site_id=site.site_id, staff_id=site.staff["lead.placement"],
                                     batch_id=batch_id, now=NOW, reminder_offsets=())
    sent = await batch_invitations.list_rows(conn, batch_id)
    assert [r.status for r in sent[:2]] == [RowStatus.sent, RowStatus.sent]
    assert all(r.phone is None and r.name is None for r in sent[:2])  # the list's data is cleared once sent
    request_ids = [r.request_id for r in sent[:2]]
    booked = await conn.fetch("SELECT r.status, r.invitation, a.status AS appointment FROM requests r "
                              "JOIN appointments a ON a.request_id = r.id WHERE r.id = ANY($1) ORDER BY r.id",
                              request_ids)
    assert [(b["status"], b["invitation"], b["appointment"]) for b in booked] == [
        ("scheduled", "voluntary", "confirmed")] * 2
    # Anna has a mobile number: her confirmation SMS is queued; Boris has none: he gets a letter.
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE request_id = $1 AND kind = "
                               "'sms.appointment_confirmed'", request_ids[0]) == 1
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE request_id = $1", request_ids[1]) == 0
    assert await conn.fetchval("SELECT reason FROM letters WHERE request_id = $1", request_ids[1]) == "no_mobile"
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE id <> ALL($1) AND channel = 'staff' "
                               "AND created_at >= $2", request_ids, NOW) == 0


async def test_a_mandatory_batch_writes_letters_for_clients_without_electronic_consent(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    text = "phone;name;street;postcode;city\n0151 22223333;Hans Muster;Weg 2;30159;Hannover\n0151 22224444;Ina Muster;;;\n"
    batch_id = await _plan(pool, conn, site, text, invitation="mandatory")
    rows = await batch_invitations.list_rows(conn, batch_id)
    assert [r.status for r in rows] == [RowStatus.planned, RowStatus.planned]
    done = await batch_invitations.send(pool, site_id=site.site_id, staff_id=site.staff["lead.placement"],
                                        batch_id=batch_id, now=NOW, reminder_offsets=())
    assert done["letters"] == 2
    reasons = await conn.fetch("SELECT l.reason, p.client_id IS NOT NULL AS has_address FROM letters l "
                               "LEFT JOIN postal_addresses p ON p.client_id = l.client_id ORDER BY l.id")
    # Ina's letter waits for an address (the queue shows it); Hans's can be printed.
    assert [(r["reason"], r["has_address"]) for r in reasons] == [("no_electronic_consent", True),
                                                                 ("no_electronic_consent", False)]


async def test_a_time_taken_between_review_and_sending_fails_that_line_only(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    text = "phone;name\n0151 33334444;Jan Muster\n0151 33335555;Kai Muster\n"
    batch_id = await _plan(pool, conn, site, text)
    first = (await batch_invitations.list_rows(conn, batch_id))[0]
    username = await conn.fetchval("SELECT username FROM staff WHERE id = $1", first.staff_id)
    await factories.create_appointment(conn, site, staff=username, start=first.start)
    done = await batch_invitations.send(pool, site_id=site.site_id, staff_id=site.staff["lead.placement"],
                                        batch_id=batch_id, now=NOW, reminder_offsets=())
    assert done == {"sent": 1, "failed": 1, "letters": 0}
    rows = await batch_invitations.list_rows(conn, batch_id)
    assert [r.status for r in rows] == [RowStatus.failed, RowStatus.sent]
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE server_key LIKE $1", f"batch-{batch_id}-%") == 1


async def test_an_unsent_line_is_in_the_clients_export_and_goes_with_erasure(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    from scheduler import privacy

    batch_id = await _plan(pool, conn, site, "phone;name\n0151 23456704;Demo Kundin\n")
    client_id = site.clients["+4915123456704"]
    data = await privacy.export(conn, site_id=site.site_id, client_id=client_id, actor="staff:1")
    assert [(r["batch_id"], r["name"]) for r in data["batch_invitation_lines"]] == [(batch_id, "Demo Kundin")]
    async with conn.transaction():
        await privacy.erase(conn, site_id=site.site_id, client_id=client_id, actor="staff:1", now=NOW)
    assert await batch_invitations.list_rows(conn, batch_id) == []
