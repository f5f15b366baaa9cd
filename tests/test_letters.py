"""Letters: an invitation without a mobile number, the print queue (printed once, posted once), the PDF (text,
notice, QR code), a failed SMS that turns into a letter, and export / erasure / retention of addresses and letters."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pypdf
import pytest
import zxingcpp
from PIL import Image

from scheduler import (
    addresses,
    approvals,
    intake,
    invitation_evidence,
    letter_triggers,
    letters,
    notice_templates,
    outbox,
    privacy,
    proposals,
    retention,
    seed,
    sites,
)
from scheduler.addresses import Address
from scheduler.errors import InvalidTransition, ValidationFailed
from scheduler.invitation_evidence import EvidenceKind
from scheduler.letters import BatchStatus, LetterReason, LetterStatus
from scheduler.notify import letter_pdf
from scheduler.outbox import OutboxStatus
from scheduler.permissions import Role, StaffUser
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts

NOW = datetime.now(UTC)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ADDRESS = Address(recipient="Olena Kowalenko", street="Lindenstraße 12", postcode="30159", city="Hannover",
                  extra="c/o Schmidt")


def _meyer(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["cw.meyer"], site_id=site.site_id, username="cw.meyer", display_name="cw.meyer",
                     role=Role.caseworker, team_id=site.teams["placement"], languages=("de",))


async def _attach_mandatory_notice(conn: asyncpg.Connection, site: SiteFacts, request_id: int) -> None:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    templates = {t.kind.value: t for t in await notice_templates.list_for_site(conn, site.site_id)}
    await notice_templates.attach(conn, request_id=request_id, site_id=site.site_id,
                                  template=templates["mandatory"], bring="Personalausweis, Mietvertrag")


async def _invite_without_phone(pool: asyncpg.Pool, site: SiteFacts, *, language: str = "uk",
                                customer_number: str = "123A456789", address: Address | None = ADDRESS) -> int:
    parsed = intake.parse_intake({"concern": "general", "language": language, "customer_number": customer_number,
                                  "name": "Olena Kowalenko"}, kind=Kind.appointment, channel=Channel.staff,
                                 default_site="musterstadt", phone_optional=True)
    user = _meyer(site)
    submitted = await intake.submit(pool, intake.Intake(
        **{**{f: getattr(parsed, f) for f in parsed.__dataclass_fields__}, "created_by": user.id,
           "invitation": "mandatory", "route_staff_id": user.id, "postal_address": address}), now=NOW)
    return submitted.id


async def _book(pool: asyncpg.Pool, site: SiteFacts, request_id: int) -> None:
    async with pool.acquire() as conn:
        offered = await proposals.list_for_request(conn, request_id)
    assert offered, "the policy proposed no time"
    await approvals.approve(pool, request_id=request_id, proposal_id=offered[0].id, user=_meyer(site), now=NOW,
                            reminder_offsets=())


async def _print(pool: asyncpg.Pool, site: SiteFacts) -> letters.Batch | None:
    async with pool.acquire() as conn, conn.transaction():
        return await letters.print_ready(conn, site_id=site.site_id, staff_id=site.staff["cw.meyer"], now=NOW)


def test_a_phone_is_optional_only_with_customer_number_and_name() -> None:
    with pytest.raises(ValidationFailed) as refused:
        intake.parse_intake({"concern": "general", "name": "X"}, kind=Kind.appointment, channel=Channel.staff,
                            default_site="musterstadt", phone_optional=True)
    assert set(refused.value.fields) == {"customer_number"}
    with pytest.raises(ValidationFailed):
        intake.parse_intake({"concern": "general", "customer_number": "123A456789", "name": "X"},
                            kind=Kind.appointment, channel=Channel.web, default_site="musterstadt")


def test_an_address_is_whole_or_refused() -> None:
    assert addresses.parse({}) is None
    assert addresses.parse({"street": "Weg 1", "postcode": "30159", "city": "Hannover"},
                           default_recipient="A B") == Address("A B", "Weg 1", "30159", "Hannover")
    with pytest.raises(ValidationFailed) as refused:
        addresses.parse({"recipient": "A", "street": "Weg 1", "postcode": "3015", "city": ""})
    assert set(refused.value.fields) == {"address.postcode", "address.city"}
    with pytest.raises(ValidationFailed) as long:
        addresses.parse({"recipient": "A", "street": "W" * 101, "postcode": "30159", "city": "H"})
    assert set(long.value.fields) == {"address.street"}


async def test_a_client_without_mobile_is_invited_by_letter_printed_once_and_posted(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await _invite_without_phone(pool, site)
    client = await conn.fetchrow("SELECT c.id, c.phone, c.customer_number, c.name FROM clients c "
                                 "JOIN requests r ON r.client_id = c.id WHERE r.id = $1", request_id)
    assert (client["phone"], client["customer_number"], client["name"]) == (None, "123A456789", "Olena Kowalenko")
    assert await addresses.get(conn, client["id"]) == ADDRESS
    # The same customer number is the same client (no second row).
    second = await _invite_without_phone(pool, site)
    assert await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", second) == client["id"]
    queued = await letters.list_queue(conn, site_id=site.site_id)
    assert [(q.request_id, q.reason, q.has_address, q.booked) for q in queued] == [
        (request_id, LetterReason.no_mobile, True, False), (second, LetterReason.no_mobile, True, False)]
    assert await _print(pool, site) is None  # nothing is booked yet: nothing to print

    await _book(pool, site, request_id)
    batch = await _print(pool, site)
    assert batch is not None and batch.letters == 1
    assert await _print(pool, site) is None  # printed once, never twice
    posted = await _posted(pool, site, batch.id)
    assert posted.status is BatchStatus.posted
    with pytest.raises(InvalidTransition):
        await _posted(pool, site, batch.id)
    row = await conn.fetchrow("SELECT status, posted_at, address_printed FROM letters WHERE request_id = $1",
                              request_id)
    assert row["status"] == LetterStatus.posted and row["posted_at"] is not None
    assert row["address_printed"].splitlines() == ADDRESS.lines()
    kinds = [e.kind for e in await invitation_evidence.list_for_request(conn, request_id)]
    assert kinds.count(EvidenceKind.letter_queued) == kinds.count(EvidenceKind.letter_printed) == 1
    assert kinds.count(EvidenceKind.letter_posted) == 1


async def _posted(pool: asyncpg.Pool, site: SiteFacts, batch_id: int) -> letters.Batch:
    async with pool.acquire() as conn, conn.transaction():
        return await letters.mark_posted(conn, site_id=site.site_id, batch_id=batch_id,
                                         staff_id=site.staff["cw.meyer"], now=NOW)


async def test_two_staff_printing_at_once_never_print_a_letter_twice(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    ids = []
    for n in range(6):
        request_id = await _invite_without_phone(pool, site, customer_number=f"123A45678{n}")
        await _book(pool, site, request_id)
        ids.append(request_id)
    batches = [b for b in await asyncio.gather(*(_print(pool, site) for _ in range(3))) if b is not None]
    assert sum(b.letters for b in batches) == 6
    printed = await conn.fetch("SELECT request_id, batch_id FROM letters WHERE status = 'printed'")
    assert sorted(r["request_id"] for r in printed) == sorted(ids)


async def test_the_letter_pdf_carries_address_invitation_notice_and_a_readable_qr_code(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await _invite_without_phone(pool, site, language="uk")
    await _attach_mandatory_notice(conn, site, request_id)
    await _book(pool, site, request_id)
    batch = await _print(pool, site)
    assert batch is not None
    facts = await sites.site_by_id(conn, site.site_id)
    pdf = await letter_pdf.render_batch(conn, site=facts, batch_id=batch.id, today=date(2026, 12, 3))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "letter.pdf").write_bytes(pdf)
    if shutil.which("pdftoppm"):  # a picture of each page (scripts/install-letter-tools installs poppler-utils)
        subprocess.run(["pdftoppm", "-png", "-r", "80", str(ARTIFACTS / "letter.pdf"), str(ARTIFACTS / "letter-page")],
                       check=True, timeout=60)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2  # German, then Ukrainian
    german = reader.pages[0].extract_text()
    reference, token = await conn.fetchrow("SELECT reference, link_token FROM requests WHERE id = $1", request_id)
    url = f"{facts.public_base_url.rstrip('/')}/r/{token}"
    caseworker = await conn.fetchval("SELECT display_name FROM staff WHERE username = 'cw.meyer'")
    for expected in ("Olena Kowalenko", "Lindenstraße 12", "30159 Hannover", reference, "Personalausweis",
                     "Rechtsfolgenbelehrung", "Ihr Status-Link", caseworker, "Bitte mitbringen"):
        assert expected in german, expected
    assert url in german.replace("\n", "")
    ukrainian = "".join(page.extract_text() for page in reader.pages[1:])
    assert "Правові наслідки" in ukrainian and reference in ukrainian
    # The QR code holds the status link: decode it from the page's image.
    images = list(reader.pages[0].images)
    assert images, "no QR image on the letter"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(images[0].data)))
    assert [d.text for d in decoded] == [url]


async def test_an_sms_that_fails_for_good_queues_a_letter_in_the_same_transaction(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await _invite_without_phone(pool, site)
    await conn.execute("UPDATE letters SET status = 'cancelled', cancelled_at = now() WHERE request_id = $1",
                       request_id)
    outbox_id = await outbox.enqueue(conn, site_id=site.site_id, key="t-1", channel="sms", kind="sms.reminder",
                                     recipient="+4915123456799", language="de", payload={}, request_id=request_id)
    later = datetime.now(UTC) + timedelta(minutes=1)
    claimed = await outbox.claim_due(conn, now=later, lease_until=later + timedelta(minutes=1), limit=50)
    message = next(m for m in claimed if m.id == outbox_id)
    assert await letter_triggers.finish_message(conn, message, status=OutboxStatus.failed, error="x", code="21211")
    row = await conn.fetchrow("SELECT reason, outbox_id FROM letters WHERE request_id = $1 AND status = 'queued'",
                              request_id)
    assert (row["reason"], row["outbox_id"]) == (LetterReason.sms_failed, outbox_id)
    # A replayed result changes nothing and queues nothing.
    assert not await letter_triggers.finish_message(conn, message, status=OutboxStatus.failed, error="x", code="1")
    assert await conn.fetchval("SELECT count(*) FROM letters WHERE request_id = $1", request_id) == 2


def test_a_mandatory_invitation_without_consent_to_electronic_notice_needs_a_letter() -> None:
    reason = letter_triggers.reason_for
    assert reason(phone="+4915100000000", invitation="mandatory", electronic_consent=False) \
        is LetterReason.no_electronic_consent
    assert reason(phone="+4915100000000", invitation="mandatory", electronic_consent=True) is None
    assert reason(phone="+4915100000000", invitation="voluntary", electronic_consent=False) is None
    assert reason(phone=None, invitation="voluntary", electronic_consent=True) is LetterReason.no_mobile
    assert reason(phone="+4915100000000", invitation=None, electronic_consent=False) is None


async def test_address_and_letters_are_exported_erased_and_anonymised_by_retention(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await _invite_without_phone(pool, site)
    await _book(pool, site, request_id)
    assert await _print(pool, site) is not None
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", request_id)
    await addresses.set_electronic_consent(conn, site_id=site.site_id, client_id=client_id, given=True,
                                           staff_id=site.staff["cw.meyer"], now=NOW)
    data = await privacy.export(conn, site_id=site.site_id, client_id=client_id, actor="staff:1")
    assert data["postal_address"]["street"] == "Lindenstraße 12"
    assert data["electronic_notice_consent"]["given_at"]
    assert [entry["status"] for entry in data["letters"]] == ["printed"]
    assert "Lindenstraße 12" in data["letters"][0]["address_printed"]

    # Retention: the case closes, time passes, the address and where the letter went are gone.
    other = await _invite_without_phone(pool, site, customer_number="999Z999999")
    other_client = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", other)
    await conn.execute("UPDATE requests SET status = 'withdrawn', closed_at = $2 WHERE id = $1", other,
                       NOW - timedelta(days=2000))
    await conn.execute("UPDATE clients SET updated_at = $2 WHERE id = $1", other_client, NOW - timedelta(days=2000))
    await retention.purge_due(pool, now=NOW, link_days=30)
    assert await addresses.get(conn, other_client) is None
    assert await conn.fetchval("SELECT status FROM letters WHERE request_id = $1", other) == "cancelled"
    assert await conn.fetchval("SELECT address_printed FROM letters WHERE request_id = $1", other) is None
    assert await addresses.get(conn, client_id) == ADDRESS  # an open case keeps its address

    # Erasure: address, consent and the printed address go at once.
    async with conn.transaction():
        await privacy.erase(conn, site_id=site.site_id, client_id=client_id, actor="staff:1", now=NOW)
    assert await addresses.get(conn, client_id) is None
    assert not await addresses.has_electronic_consent(conn, client_id)
    assert await conn.fetchval("SELECT address_printed FROM letters WHERE request_id = $1", request_id) is None


def _content(language: str, translated: str | None) -> letter_pdf.LetterContent:
    return letter_pdf.LetterContent(
        reference="ABCD-EFGH", status_url="http://localhost:8080/r/token", language=language, kind="mandatory",
        address_lines=ADDRESS.lines(), start=NOW, mode="in_person", room="A.03", caseworker="Thomas Meyer",
        concern_labels={"de": "Sonstiges Anliegen"}, bring="Ausweis", notice_german="Rechtsfolgenbelehrung: …",
        notice_translated=translated)


def test_arabic_and_persian_pages_are_shaped_and_a_missing_font_falls_back_to_german_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sender = letter_pdf.Sender("Jobcenter Musterstadt", "Bahnhofstraße 12, 30159 Musterstadt", "Europe/Berlin",
                               date(2026, 12, 3))
    pdf = letter_pdf.render([_content("ar", "تنبيه بالعواقب القانونية"), _content("fa", "پیامدهای حقوقی")], sender)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 4
    if shutil.which("pdftoppm"):
        (ARTIFACTS / "letter-ar.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "2", "-l", "2", str(ARTIFACTS / "letter-ar.pdf"),
                        str(ARTIFACTS / "letter-ar")], check=True, timeout=60)
    monkeypatch.setattr(letter_pdf, "FONT_DIR", Path("/nonexistent"))
    latin = pypdf.PdfReader(io.BytesIO(letter_pdf.render([_content("ar", "تنبيه")], sender)))
    assert len(latin.pages) == 1 and "Lindenstraße 12" in latin.pages[0].extract_text()
