"""A mandatory invitation's delivery evidence from real provider receipts (fake Twilio), the link, the client's
answer, the .ics DESCRIPTION, and the staff PDF export read back with pypdf."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import vobject
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from scheduler import approvals, invitation_evidence, invitations, notice_templates, seed
from scheduler import proposals as proposals_
from scheduler.invitation_evidence import EvidenceKind
from scheduler.keys import SENDERS
from scheduler.notify.dispatch import Senders, dispatch_due
from scheduler.notify.email import SmtpEmail
from scheduler.permissions import Role, StaffUser
from tests.factories import SiteFacts
from tests.fakes.twilio_server import FakeTwilio
from tests.notify.conftest import free_port
from tests.notify.test_email import Inbox, calendar_part
from tests.staff.helpers import sign_in

BERLIN = ZoneInfo("Europe/Berlin")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = "+4915199887766"  # a new client: their language is the invitation's


def _meyer(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["cw.meyer"], site_id=site.site_id, username="cw.meyer", display_name="Meyer",
                     role=Role.caseworker, team_id=site.teams["placement"], languages=("de",))


def _daytime(now: datetime) -> datetime:
    """A moment outside quiet hours (21:00–08:00 Berlin), at or after now."""
    local = now.astimezone(BERLIN)
    if 8 <= local.hour < 20:
        return now
    day = local.date() + timedelta(days=1 if local.hour >= 20 else 0)
    return datetime(day.year, day.month, day.day, 8, 30, tzinfo=BERLIN)


async def test_timeline_from_provider_receipts_link_and_answer(
        twilio_client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        fake: FakeTwilio) -> None:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    mandatory = next(t for t in await notice_templates.list_for_site(conn, site.site_id) if t.kind == "mandatory")
    now = _daytime(datetime.now(UTC))  # booked and sent at one daytime moment: the appointment is after it
    invited = await invitations.invite(pool, user=_meyer(site), phone=PHONE, concern="general", language="tr",
                                       template_id=mandatory.id, bring="Kimlik / Personalausweis", now=now,
                                       reminder_offsets=(), form_key="timeline")
    request = invited.request
    proposal = (await proposals_.list_for_request(conn, request.id))[0]
    await approvals.approve(pool, request_id=request.id, proposal_id=proposal.id, user=_meyer(site), now=now,
                            reminder_offsets=())

    # The worker sends the booking SMS through the real Twilio SDK: a short pointer and the link, no notice text.
    stats = await dispatch_due(pool, twilio_client.app[SENDERS], now=now)
    assert stats.sent >= 1, stats
    sms = next(m for m in fake.messages if f"/r/{request.link_token}" in m.body)
    assert "Zorunlu randevu" in sms.body and "Rechtsfolgenbelehrung" not in sms.body

    # Twilio's status callback (signed, as Twilio sends it) is the delivery receipt.
    receipt = await fake.deliver(sms.sid, "delivered")
    assert receipt.status == 204

    # A link preview's HEAD request is nobody reading: no evidence.
    assert (await twilio_client.head(f"/r/{request.link_token}")).status == 200
    assert EvidenceKind.link_opened not in [e.kind for e in await invitation_evidence.list_for_request(conn, request.id)]
    # The client opens the link twice: the notice comes before the buttons, in German and Turkish.
    page = await (await twilio_client.get(f"/r/{request.link_token}?lang=tr")).text()
    assert page.index("Rechtsfolgenbelehrung") < page.index("/confirm")
    assert "Hukuki sonuçlar" in page and "bağlayıcı olan Almanca metindir" in page
    await twilio_client.get(f"/r/{request.link_token}")
    confirmed = await twilio_client.post(f"/r/{request.link_token}/confirm", allow_redirects=False)
    assert confirmed.status == 303

    # The calendar entry carries the notice in its DESCRIPTION.
    ics = vobject.readOne(await (await twilio_client.get(f"/r/{request.link_token}/invite.ics")).text(),
                          validate=True)
    assert "Rechtsfolgenbelehrung" in ics.vevent.description.value

    entries = await invitation_evidence.list_for_request(conn, request.id)
    kinds = [e.kind for e in entries]
    assert kinds.count(EvidenceKind.created) == 1
    if now <= datetime.now(UTC):  # booked at the real time (by day): the invitation comes first on the timeline
        assert kinds[0] is EvidenceKind.created  # (by night it was booked at the next morning's time)
    assert kinds.count(EvidenceKind.link_opened) == 1
    for kind in (EvidenceKind.sms_accepted, EvidenceKind.sms_delivered, EvidenceKind.confirmed):
        assert kind in kinds, kinds
    delivered = next(e for e in entries if e.kind is EvidenceKind.sms_delivered)
    assert delivered.detail["provider_id"] == sms.sid and delivered.channel == "sms"
    assert PHONE not in str([e.detail for e in entries])  # no number in the evidence

    # A letter posted (what the letters module records) gives the presumed day of receipt.
    posted_at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    async with conn.transaction():
        await invitation_evidence.record(conn, request_id=request.id, kind=EvidenceKind.letter_posted, at=posted_at,
                                         channel="letter", detail={"batch": "7"})

    # Staff see it on the request page and export it as PDF; both are views of client data in the audit log.
    await sign_in(twilio_client, "cw.meyer")
    html = await (await twilio_client.get(f"/staff/requests/{request.id}?lang=de")).text()
    assert 'data-evidence="sms_delivered"' in html and 'data-evidence="presumed_receipt"' in html
    pdf = await twilio_client.get(f"/staff/requests/{request.id}/evidence.pdf?lang=de")
    assert pdf.status == 200 and pdf.content_type == "application/pdf"
    body = await pdf.read()
    (ARTIFACTS / "invitation-evidence.pdf").write_bytes(body)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    flat = " ".join(text.split())
    for expected in ("Zustellnachweis der Einladung " + request.reference, "Einladung erstellt", "Meyer",
                     "SMS zugestellt", "Link zum ersten Mal geöffnet", "Von der Kundin / dem Kunden bestätigt",
                     "Brief zur Post gegeben", "Gilt als zugegangen", "07.12.2026", "Rechtsfolgenbelehrung"):
        assert expected in flat, (expected, flat[:3000])
    assert sms.sid in "".join(text.split())  # a long provider id may wrap inside its table cell
    views = await conn.fetch("SELECT details FROM audit_events WHERE action = 'client.view' AND subject_id = $1",
                             request.client_id)
    assert {"request_id": request.id, "evidence": "pdf"} in [dict(v["details"]) for v in views]

    # A correction is a new entry; nothing earlier changed.
    csrf = (await (await twilio_client.get("/api/staff/session")).json())["csrf_token"]
    r = await twilio_client.post(f"/staff/requests/{request.id}/evidence/correction",
                                 data={"correction": "Zustellung am 4.12. telefonisch bestätigt", "csrf_token": csrf},
                                 allow_redirects=False)
    assert r.status == 303
    after = await invitation_evidence.list_for_request(conn, request.id)
    assert after[:len(entries)] == entries[:len(entries)] or {e.id for e in entries} <= {e.id for e in after}
    [correction] = [e for e in after if e.kind is EvidenceKind.correction]  # last by time unless booked by night
    assert correction.staff_id == site.staff["cw.meyer"]
    too_long = await twilio_client.post(f"/staff/requests/{request.id}/evidence/correction",
                                        data={"correction": "x" * 501, "csrf_token": csrf}, allow_redirects=False)
    assert too_long.status == 303 and len(await invitation_evidence.list_for_request(conn, request.id)) == len(after)


async def test_a_failed_sms_is_evidence_too(twilio_client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection,
                                            site: SiteFacts, fake: FakeTwilio) -> None:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    voluntary = next(t for t in await notice_templates.list_for_site(conn, site.site_id) if t.kind == "voluntary")
    now = _daytime(datetime.now(UTC))  # booked and sent at one daytime moment: the appointment is after it
    invited = await invitations.invite(pool, user=_meyer(site), phone=PHONE, concern="general", language="de",
                                       template_id=voluntary.id, bring="", now=now, reminder_offsets=())
    proposal = (await proposals_.list_for_request(conn, invited.request.id))[0]
    await approvals.approve(pool, request_id=invited.request.id, proposal_id=proposal.id, user=_meyer(site),
                            now=now, reminder_offsets=())
    await dispatch_due(pool, twilio_client.app[SENDERS], now=now)
    sms = next(m for m in fake.messages if f"/r/{invited.request.link_token}" in m.body)
    await fake.deliver(sms.sid, "undelivered", error_code=30003)
    entries = await invitation_evidence.list_for_request(conn, invited.request.id)
    failed = next(e for e in entries if e.kind is EvidenceKind.sms_failed)
    assert failed.detail["error_code"] == "30003"


@pytest.fixture
def mail_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on loopback."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_an_invitation_e_mail_is_evidence_and_carries_the_notice(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, mail_server: tuple[Inbox, int],
        senders: Senders) -> None:
    inbox, port = mail_server
    await conn.execute("UPDATE sites SET email_enabled = true WHERE id = $1", site.site_id)
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    mandatory = next(t for t in await notice_templates.list_for_site(conn, site.site_id) if t.kind == "mandatory")
    now = _daytime(datetime.now(UTC))  # booked and sent at one daytime moment: the appointment is after it
    invited = await invitations.invite(pool, user=_meyer(site), phone="+4915199887700", concern="general",
                                       language="en", template_id=mandatory.id, bring="", now=now,
                                       reminder_offsets=())
    await conn.execute("UPDATE clients SET email = 'client@example.org' WHERE id = $1", invited.request.client_id)
    proposal = (await proposals_.list_for_request(conn, invited.request.id))[0]
    await approvals.approve(pool, request_id=invited.request.id, proposal_id=proposal.id, user=_meyer(site),
                            now=now, reminder_offsets=())
    mailer = Senders(sms=senders.sms, email=SmtpEmail(host="127.0.0.1", port=port, sender="termine@jc.example"),
                     settings=senders.settings)
    await dispatch_due(pool, mailer, now=now)
    [(_sender, recipients, message)] = inbox.messages
    assert recipients == ["client@example.org"]
    _part, cal = calendar_part(message)
    description = cal.vevent.description.value
    assert "Rechtsfolgenbelehrung" in description and "Legal consequences" in description
    assert "Translation – for information only; the German text is binding." in description
    entries = await invitation_evidence.list_for_request(conn, invited.request.id)
    sent = next(e for e in entries if e.kind is EvidenceKind.email_sent)
    assert sent.channel == "email" and sent.detail["message"] == "email.invite"
    assert "client@example.org" not in str([e.detail for e in entries])


async def test_no_pdf_for_a_request_that_is_no_invitation_nor_for_another_caseworker(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    from tests.factories import create_request
    plain = await create_request(conn, site, staff="cw.meyer", team="placement")
    await sign_in(client, "cw.meyer")
    assert (await client.get(f"/staff/requests/{plain}/evidence.pdf")).status == 404
    others = await create_request(conn, site, staff="cw.demir", team="entrance")
    await conn.execute("UPDATE requests SET invitation = 'voluntary' WHERE id = $1", others)
    assert (await client.get(f"/staff/requests/{others}/evidence.pdf")).status == 403
