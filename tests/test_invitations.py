"""Invitations with notice templates: versions, placeholders, the rendered notice, the append-only evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from scheduler import approvals, invitation_evidence, invitations, notice_templates, seed
from scheduler import proposals as proposals_
from scheduler.errors import ValidationFailed
from scheduler.invitation_evidence import EvidenceKind
from scheduler.notice_templates import Problem
from scheduler.permissions import Role, StaffUser
from tests.factories import SiteFacts

NOW = datetime.now(UTC)
MEYER_CLIENT = "+4915123456704"


def _meyer(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["cw.meyer"], site_id=site.site_id, username="cw.meyer", display_name="cw.meyer",
                     role=Role.caseworker, team_id=site.teams["placement"], languages=("de",))


async def _templates(conn: asyncpg.Connection, site: SiteFacts) -> dict[str, notice_templates.Template]:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    return {t.kind.value: t for t in await notice_templates.list_for_site(conn, site.site_id)}


async def _invite(pool: asyncpg.Pool, site: SiteFacts, template: notice_templates.Template, *,
                  language: str = "uk", bring: str = "Personalausweis") -> int:
    invited = await invitations.invite(pool, user=_meyer(site), phone=MEYER_CLIENT, concern="general",
                                       language=language, template_id=template.id, bring=bring, now=NOW,
                                       reminder_offsets=(), form_key="k1")
    return invited.request.id


def test_placeholders_are_checked() -> None:
    assert notice_templates.check_text("Am {date} um {time} in {place}", required=True) is None
    assert notice_templates.check_text("Am {datum}", required=True) == (Problem.unknown_placeholder, "datum")
    assert notice_templates.check_text("Am {date.year}", required=True) == (Problem.unknown_placeholder, "date.year")
    assert notice_templates.check_text("Am {date!r}", required=True) == (Problem.broken_braces, "date")
    assert notice_templates.check_text("Am {date", required=True) == (Problem.broken_braces, "")
    assert notice_templates.check_text("  ", required=True) == (Problem.empty, "")
    assert notice_templates.check_text("", required=False) is None
    assert notice_templates.check_text("x" * 6001, required=True) == (Problem.too_long, "")


async def test_every_save_is_a_new_version_and_old_versions_are_never_changed(
        conn: asyncpg.Connection, site: SiteFacts) -> None:
    first = await notice_templates.save(conn, site_id=site.site_id, template_id=None, name="Test", kind="voluntary",
                                        german="Am {date}.", translations={"en": "On {date}."}, staff_id=None,
                                        actor="test")
    second = await notice_templates.save(conn, site_id=site.site_id, template_id=first.id, name="Test",
                                         kind="voluntary", german="Am {date} um {time}.", translations={},
                                         staff_id=None, actor="test")
    assert (first.version, second.version) == (1, 2)
    assert [v.german for v in await notice_templates.versions(conn, first.id)] == ["Am {date} um {time}.", "Am {date}."]
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE notice_template_versions SET german = 'x' WHERE template_id = $1", first.id)
    with pytest.raises(ValidationFailed) as refused:
        await notice_templates.save(conn, site_id=site.site_id, template_id=first.id, name="Test", kind="voluntary",
                                    german="Am {datum}.", translations={"tr": "{yer}"}, staff_id=None, actor="test")
    assert refused.value.fields == {"german": "unknown_placeholder", "text_tr": "unknown_placeholder"}


async def test_a_mandatory_invitation_keeps_its_version_and_renders_its_notice(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    mandatory = (await _templates(conn, site))["mandatory"]
    request_id = await _invite(pool, site, mandatory)
    notice = await notice_templates.notice_for_request(conn, request_id)
    assert notice is not None
    assert (notice.kind, notice.language, notice.template_id, notice.version) == ("mandatory", "uk", mandatory.id, 1)
    assert "Rechtsfolgenbelehrung" in notice.german and "Personalausweis" in notice.german
    assert notice.translated is not None and "Правові наслідки" in notice.translated
    assert "{" not in notice.german + notice.translated
    # A later version of the template does not change what this invitation was sent with.
    await notice_templates.save(conn, site_id=site.site_id, template_id=mandatory.id, name=mandatory.name,
                                kind="mandatory", german="Neu am {date}.", translations={}, staff_id=None,
                                actor="test")
    again = await notice_templates.notice_for_request(conn, request_id)
    assert again is not None and again.version == 1 and "Rechtsfolgenbelehrung" in again.german
    entries = await invitation_evidence.list_for_request(conn, request_id)
    assert entries[0].kind is EvidenceKind.created  # (a letter may be queued in the same instant: see letters.py)
    assert [e.kind for e in entries].count(EvidenceKind.created) == 1
    assert entries[0].staff_id == site.staff["cw.meyer"] and entries[0].detail["version"] == "1"


async def test_the_notice_names_the_booked_time_and_the_client_language_falls_back_to_none(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    mandatory = (await _templates(conn, site))["mandatory"]
    request_id = await _invite(pool, site, mandatory, language="fa")
    proposal = (await proposals_.list_for_request(conn, request_id))[0]
    await approvals.approve(pool, request_id=request_id, proposal_id=proposal.id, user=_meyer(site), now=NOW,
                            reminder_offsets=())
    notice = await notice_templates.notice_for_request(conn, request_id)
    assert notice is not None and notice.translated is None  # no Farsi text in the demo template
    local = proposal.start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert f"{local:%H:%M}" in notice.german


async def test_a_resubmitted_form_writes_one_invitation_and_one_created_entry(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    voluntary = (await _templates(conn, site))["voluntary"]
    first = await _invite(pool, site, voluntary)
    second = await _invite(pool, site, voluntary)
    assert first == second
    kinds = [e.kind for e in await invitation_evidence.list_for_request(conn, first)]
    assert kinds.count(EvidenceKind.created) == 1


async def test_an_unknown_or_foreign_template_is_a_field_error(pool: asyncpg.Pool, site: SiteFacts) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await invitations.invite(pool, user=_meyer(site), phone=MEYER_CLIENT, concern="general", language="de",
                                 template_id=999999, bring="x" * 501, now=NOW, reminder_offsets=())
    assert set(refused.value.fields) == {"template", "bring"}


async def test_evidence_is_append_only_except_for_anonymisation(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    voluntary = (await _templates(conn, site))["voluntary"]
    request_id = await _invite(pool, site, voluntary)
    await invitation_evidence.record(conn, request_id=request_id, kind=EvidenceKind.correction, at=NOW,
                                     staff_id=site.staff["cw.meyer"], channel="staff", detail={"note": "typo"})
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE invitation_evidence SET at = now() WHERE request_id = $1", request_id)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("DELETE FROM invitation_evidence WHERE request_id = $1", request_id)
    async with conn.transaction():
        with pytest.raises(asyncpg.RestrictViolationError):  # the anonymisation switch lets only an emptied detail through
            await conn.execute("SET LOCAL scheduler.evidence_anonymise = 'on'")
            await conn.execute("UPDATE invitation_evidence SET kind = 'confirmed' WHERE request_id = $1",
                               request_id)
    async with conn.transaction():
        assert await invitation_evidence.anonymise(conn, [request_id]) >= 2
    assert {str(e.detail) for e in await invitation_evidence.list_for_request(conn, request_id)} == {"{}"}
    with pytest.raises(asyncpg.RestrictViolationError):  # and only inside that transaction
        await conn.execute("UPDATE invitation_evidence SET detail = '{}' WHERE request_id = $1", request_id)


async def test_a_request_without_invitation_gets_no_timeline(conn: asyncpg.Connection, site: SiteFacts) -> None:
    from tests.factories import create_request
    request_id = await create_request(conn, site)
    await invitation_evidence.record(conn, request_id=request_id, kind=EvidenceKind.link_opened, at=NOW)
    assert await invitation_evidence.list_for_request(conn, request_id) == []


def test_presumed_receipt_is_the_fourth_day_after_the_local_day_of_posting() -> None:
    posted = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)  # already 4 December in Berlin
    assert invitation_evidence.presumed_receipt(posted, timezone="Europe/Berlin") == date(2026, 12, 8)
    assert invitation_evidence.presumed_receipt(posted, timezone="Europe/Berlin", days=3) == date(2026, 12, 7)
    assert invitation_evidence.presumed_receipt(posted - timedelta(hours=2), timezone="UTC") == date(2026, 12, 7)


async def test_export_holds_the_evidence_and_erasure_empties_its_details(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    from scheduler import client_actions, privacy
    mandatory = (await _templates(conn, site))["mandatory"]
    request_id = await _invite(pool, site, mandatory, bring="Mietvertrag von Frau X")
    await client_actions.cancel(pool, request_id=request_id, actor="client:sms", now=NOW)
    async with conn.transaction():
        await invitation_evidence.record(conn, request_id=request_id, kind=EvidenceKind.correction, at=NOW,
                                         staff_id=site.staff["cw.meyer"], channel="staff",
                                         detail={"note": "Frau X rief an"})
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", request_id)
    async with conn.transaction():
        data = await privacy.export(conn, site_id=site.site_id, client_id=client_id, actor="staff:1")
    kinds = [e["kind"] for e in data["invitation_evidence"]]
    assert kinds[0] == "created" and "declined" in kinds and "correction" in kinds
    async with conn.transaction():
        await privacy.erase(conn, site_id=site.site_id, client_id=client_id, actor="staff:1", now=NOW)
    after = await invitation_evidence.list_for_request(conn, request_id)
    assert [e.kind.value for e in after] == kinds  # the office's proof stays: kinds and times
    assert all(dict(e.detail) == {} for e in after)
    assert await conn.fetchval("SELECT bring FROM invitation_notices WHERE request_id = $1", request_id) == ""
    declined = next(e for e in after if e.kind is EvidenceKind.declined)
    assert declined.channel == "sms"


async def test_a_fixed_time_is_booked_at_once_and_named_in_the_notice(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    from zoneinfo import ZoneInfo

    from scheduler import appointments, sites
    mandatory = (await _templates(conn, site))["mandatory"]
    site_row = await sites.site_by_id(conn, site.site_id)
    day = site_row.calendar().local_date(NOW) + timedelta(days=7)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    free = await approvals.free_slots(conn, site=site_row, staff_id=site.staff["cw.meyer"], day=day,
                                      duration=timedelta(minutes=30), now=NOW)
    start = free[0].start
    invited = await invitations.invite(pool, user=_meyer(site), phone="+4915199880022", concern="general",
                                       language="de", template_id=mandatory.id, bring="", now=NOW,
                                       reminder_offsets=(), fixed_start=start, fixed_mode="in_person")
    assert invited.fixed_booked is True and invited.request.status == "scheduled"
    booked = await appointments.latest_for_request(conn, invited.request.id)
    assert booked is not None and booked.start == start
    notice = await notice_templates.notice_for_request(conn, invited.request.id)
    assert notice is not None and f"{start.astimezone(ZoneInfo('Europe/Berlin')):%H:%M}" in notice.german
    # The same time again is taken: the invitation stays with the policy's proposals to choose from.
    again = await invitations.invite(pool, user=_meyer(site), phone="+4915199880033", concern="general",
                                     language="de", template_id=mandatory.id, bring="", now=NOW,
                                     reminder_offsets=(), fixed_start=start, fixed_mode="in_person")
    assert again.fixed_booked is False and again.request.status in ("received", "proposed")


async def test_an_invitation_is_stored_with_its_notice_or_not_at_all(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, monkeypatch: pytest.MonkeyPatch) -> None:
    """The notice, its `created` entry and the request are one transaction: a failure while attaching the notice
    leaves no invitation behind that could be booked without its legal notice."""
    mandatory = (await _templates(conn, site))["mandatory"]

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process dies while attaching the notice")

    monkeypatch.setattr(invitation_evidence, "record", broken)
    with pytest.raises(RuntimeError):
        await _invite(pool, site, mandatory)
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE invitation IS NOT NULL") == 0
    monkeypatch.undo()
    request_id = await _invite(pool, site, mandatory)
    assert await conn.fetchval("SELECT version FROM invitation_notices WHERE request_id = $1",
                               request_id) == mandatory.version
    kinds = [e.kind for e in await invitation_evidence.list_for_request(conn, request_id)]
    assert kinds[0] is EvidenceKind.created
