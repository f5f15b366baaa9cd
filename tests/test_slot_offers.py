"""Freed times offered by SMS (issue 14): slot_offers.py and freed_slots.py against PostgreSQL, the link page
and SMS replies. The first accept books; the others, and anyone late, hear the time is gone."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import (
    approvals,
    client_actions,
    clients,
    freed_slots,
    intake,
    planning,
    proposals,
    replies,
    sites,
    slot_offers,
)
from scheduler import requests as requests_
from scheduler.app import create_app
from scheduler.appointments import Appointment
from scheduler.i18n import LANGUAGES, translate
from scheduler.notify import messages
from scheduler.notify.segments import count_segments
from scheduler.permissions import Role, StaffUser
from scheduler.policy import store
from scheduler.policy.parse import parse_ruleset
from scheduler.policy.rules import Channel, Kind
from tests.api.helpers import staff_headers
from tests.factories import SiteFacts
from tests.test_moves import free_later

NOW = datetime.now(UTC)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data
WAITING = ("+4915123450011", "+4915123450012", "+4915123450013", "+4915123450014")


def _meyer(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["cw.meyer"], site_id=site.site_id, username="cw.meyer", display_name="Meyer",
                     role=Role.caseworker, team_id=site.teams["placement"], languages=("de",))


async def _team_auto_confirms(conn: asyncpg.Connection, site: SiteFacts) -> None:
    """The placement team's own rule: the policy may book "general" requests on its own."""
    ruleset = parse_ruleset({"rules": [{"id": "book-general", "when": {"concern": "general"},
                                        "then": {"auto_confirm": True}}]})
    draft = await store.save_draft(conn, site_id=site.site_id, scope=store.Scope.team, ruleset=ruleset,
                                   source_yaml="", owner_id=site.staff["lead.placement"],
                                   team_id=site.teams["placement"])
    await store.activate(conn, draft.id, actor_id=site.staff["lead.placement"])


async def _booked(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> Appointment:
    """Meyer's client, booked on the first proposal (before any auto-confirm rule exists)."""
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general", phone=MEYER_CLIENT,
        language="de", sms_consent=True), now=NOW)
    await conn.execute("UPDATE clients SET sms_consent = true WHERE phone = $1", MEYER_CLIENT)
    proposal = (await proposals.list_for_request(conn, submitted.id))[0]
    return await approvals.approve(pool, request_id=submitted.id, proposal_id=proposal.id, user=_meyer(site),
                                   now=NOW, reminder_offsets=())


async def _waiting(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, phone: str, *,
                   confirmed: bool = True, windows: dict[str, object] | None = None, language: str = "de",
                   created_at: datetime | None = None) -> requests_.Request:
    """A request waiting in Meyer's queue, its decision made under the rules active now."""
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general", phone=phone,
        language=language, sms_consent=True, windows=windows or {}), now=NOW)
    await conn.execute("UPDATE clients SET sms_consent = $2 WHERE phone = $1", phone, confirmed)
    await conn.execute("UPDATE requests SET staff_id = $2, team_id = $3, created_at = coalesce($4, created_at) "
                       "WHERE id = $1", submitted.id, site.staff["cw.meyer"], site.teams["placement"], created_at)
    request = await requests_.get(conn, submitted.id)
    site_ = await sites.site_by_id(conn, site.site_id)
    plan = await planning.make_plan(
        conn, site=site_, kind=Kind.appointment, concern_code="general", urgent=False, channel=Channel.web,
        language=language, modes=request.modes, client=await clients.get(conn, request.client_id),
        received_at=request.created_at, now=NOW, route=(site.teams["placement"], site.staff["cw.meyer"]))
    await requests_.store_decision(conn, request.id, decision=plan.decision, team_id=plan.team_id,
                                   staff_id=plan.staff_id, deadline_at=plan.deadline_at, policy_ids=plan.policy_ids)
    return await requests_.get(conn, request.id)


async def _cancel(pool: asyncpg.Pool, appointment: Appointment, **kw: int) -> None:
    await client_actions.cancel(pool, request_id=appointment.request_id, actor="client:web", now=NOW, **kw)


async def _the_offer(conn: asyncpg.Connection) -> slot_offers.SlotOffer:
    offer_id = await conn.fetchval("SELECT id FROM slot_offers")
    assert offer_id is not None
    return await slot_offers.get(conn, offer_id)


async def _outbox(conn: asyncpg.Connection, kind: str) -> dict[str, str]:
    rows = await conn.fetch("SELECT idempotency_key, status FROM outbox WHERE kind = $1", kind)
    return {r["idempotency_key"]: r["status"] for r in rows}


async def _offers_went_out(conn: asyncpg.Connection) -> None:
    """What the worker does: the offer SMS are sent."""
    await conn.execute("UPDATE outbox SET status = 'sent', sent_at = now() WHERE kind = 'sms.slot_offer'")


async def _setup(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts
                 ) -> tuple[Appointment, list[requests_.Request]]:
    """Meyer's booked client, then the team rule, then two waiting clients who confirmed SMS; then the cancel."""
    booked = await _booked(pool, conn, site)
    await _team_auto_confirms(conn, site)
    first = await _waiting(pool, conn, site, WAITING[0], created_at=NOW - timedelta(days=2))
    second = await _waiting(pool, conn, site, WAITING[1], created_at=NOW - timedelta(days=1))
    await _cancel(pool, booked)
    return booked, [first, second]


async def test_no_offer_without_auto_confirmation(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    booked = await _booked(pool, conn, site)
    waiting = await _waiting(pool, conn, site, WAITING[0])  # no team rule: the site's defaults never auto-book
    assert waiting.decision is not None and waiting.decision.auto_confirm is False
    await _cancel(pool, booked)
    assert await conn.fetchval("SELECT count(*) FROM slot_offers") == 0
    assert await _outbox(conn, "sms.slot_offer") == {}
    # Everything else stays as today: a proposal for the caseworker.
    sources = await conn.fetch("SELECT lower(during) AS start FROM proposals WHERE request_id = $1 "
                               "AND source = 'freed_slot'", waiting.id)
    assert [r["start"] for r in sources] == [booked.start]


async def test_only_fitting_waiting_clients_with_confirmed_sms_get_the_offer(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    booked = await _booked(pool, conn, site)
    await _team_auto_confirms(conn, site)
    zone = (await sites.site_by_id(conn, site.site_id)).calendar().zone
    other_day = (booked.start.astimezone(zone).weekday() + 1) % 5
    fits = await _waiting(pool, conn, site, WAITING[0], created_at=NOW - timedelta(days=3))
    unconfirmed = await _waiting(pool, conn, site, WAITING[1], confirmed=False, created_at=NOW - timedelta(days=2))
    wrong_day = await _waiting(pool, conn, site, WAITING[2], windows={"weekdays": [other_day]},
                               created_at=NOW - timedelta(days=1))
    assert fits.decision is not None and fits.decision.auto_confirm
    await _cancel(pool, booked)
    offer = await _the_offer(conn)
    assert (offer.status, offer.start, offer.staff_id) == (slot_offers.OfferStatus.open, booked.start, booked.staff_id)
    assert offer.expires_at == booked.start - slot_offers.ACCEPT_UNTIL_BEFORE_START
    assert re.fullmatch(f"[{slot_offers.CODE_LETTERS}]{{4}}", offer.code)
    assert await _outbox(conn, "sms.slot_offer") == {f"slot_offer:{offer.id}:offer:{fits.id}": "pending"}
    recipients = await conn.fetch("SELECT request_id FROM slot_offer_recipients WHERE offer_id = $1", offer.id)
    assert [r["request_id"] for r in recipients] == [fits.id]
    assert unconfirmed.id != wrong_day.id  # both waited too, but neither is asked
    # The first in the queue still gets today's proposal as well.
    assert await conn.fetchval("SELECT count(*) FROM proposals WHERE request_id = $1 AND source = 'freed_slot'",
                               fits.id) == 1


async def test_at_most_sms_offer_max_clients_in_queue_order(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    booked = await _booked(pool, conn, site)
    await _team_auto_confirms(conn, site)
    older = await _waiting(pool, conn, site, WAITING[0], created_at=NOW - timedelta(days=2))
    await _waiting(pool, conn, site, WAITING[1], created_at=NOW - timedelta(days=1))
    await _cancel(pool, booked, sms_offer_max=1)
    offer = await _the_offer(conn)
    assert list(await _outbox(conn, "sms.slot_offer")) == [f"slot_offer:{offer.id}:offer:{older.id}"]


async def test_first_accept_by_link_books_and_the_others_hear_it_is_gone(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    _, (first, second) = await _setup(pool, conn, site)
    offer = await _the_offer(conn)
    await _offers_went_out(conn)
    page = await client.get(f"/r/{second.link_token}?lang=de")
    body = await page.text()
    assert "Diesen Termin nehmen" in body and f'value="{offer.id}"' in body
    r = await client.post(f"/r/{second.link_token}/take-offer?lang=de", data={"offer": str(offer.id)},
                          allow_redirects=False)
    assert r.status == 303 and "done=offer_taken" in r.headers["Location"]
    assert (await requests_.get(conn, second.id)).status is requests_.Status.scheduled
    appointment = await conn.fetchrow("SELECT status, lower(during) AS start, staff_id FROM appointments "
                                      "WHERE request_id = $1", second.id)
    assert (appointment["status"], appointment["start"], appointment["staff_id"]) == (
        "confirmed", offer.start, offer.staff_id)
    assert (await slot_offers.get(conn, offer.id)).status is slot_offers.OfferStatus.taken
    assert await _outbox(conn, "sms.slot_offer_gone") == {f"slot_offer:{offer.id}:gone:{first.id}": "pending"}
    assert f"appointment:{await conn.fetchval('SELECT id FROM appointments WHERE request_id = $1', second.id)}" \
           ":confirmed:0" in await _outbox(conn, "sms.appointment_confirmed")
    # The loser's page no longer shows the offer; posting anyway answers "gone".
    assert "Diesen Termin nehmen" not in await (await client.get(f"/r/{first.link_token}?lang=de")).text()
    late = await client.post(f"/r/{first.link_token}/take-offer?lang=de", data={"offer": str(offer.id)})
    assert late.status == 200 and "Leider ist dieser Termin schon vergeben" in await late.text()


async def test_a_recipient_whose_offer_never_went_out_is_not_told_it_is_gone(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    _, (first, second) = await _setup(pool, conn, site)
    offer = await _the_offer(conn)
    taken = await freed_slots.accept(pool, offer_id=offer.id, request_id=first.id, actor="test", now=NOW,
                                     reminder_offsets=())
    assert taken is not None
    assert (await _outbox(conn, "sms.slot_offer"))[f"slot_offer:{offer.id}:offer:{second.id}"] == "cancelled"
    assert await _outbox(conn, "sms.slot_offer_gone") == {}


async def test_accept_by_sms_reply_with_the_word_or_the_code(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    _, (first, second) = await _setup(pool, conn, site)
    offer = await _the_offer(conn)
    await _offers_went_out(conn)
    won = await replies.handle(pool, provider_id="SMoffer1", from_phone=WAITING[1], to_phone="+4930000",
                               body=f"{offer.code.lower()}", now=NOW, default_site="musterstadt",
                               reminder_offsets=())
    assert won is not None and (won.action, won.result) == (replies.Action.take, "offer_taken")
    assert won.reply == translate("de", replies.REPLIES["offer_taken"])
    assert (await requests_.get(conn, second.id)).status is requests_.Status.scheduled
    late = await replies.handle(pool, provider_id="SMoffer2", from_phone=WAITING[0], to_phone="+4930000",
                                body="Nehmen!", now=NOW, default_site="musterstadt", reminder_offsets=())
    assert late is not None and late.result == "offer_gone"
    assert late.reply == "Leider ist dieser Termin schon vergeben. Ihre Anfrage bleibt offen."
    assert (await requests_.get(conn, first.id)).status in requests_.OPEN
    assert list(await _outbox(conn, "sms.slot_offer_gone")) == [f"slot_offer:{offer.id}:gone:{first.id}"]


async def test_two_accepts_at_once_one_wins_the_other_hears_gone(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                  site: SiteFacts) -> None:
    _, (first, second) = await _setup(pool, conn, site)
    offer = await _the_offer(conn)
    await _offers_went_out(conn)
    results = await asyncio.gather(*(
        freed_slots.accept(pool, offer_id=offer.id, request_id=r.id, actor="test", now=NOW, reminder_offsets=())
        for r in (first, second)))
    assert sorted(type(r).__name__ for r in results) == ["Appointment", "NoneType"]
    winner, loser = (first, second) if results[0] is not None else (second, first)
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE status = 'confirmed' AND during && "
                               "tstzrange($1, $2) AND staff_id = $3", offer.start, offer.end, offer.staff_id) == 1
    statuses = dict(await conn.fetch("SELECT request_id, status FROM slot_offer_recipients WHERE offer_id = $1",
                                     offer.id))
    assert statuses == {winner.id: "won", loser.id: "gone"}
    assert (await slot_offers.get(conn, offer.id)).taken_by_request == winner.id
    assert list(await _outbox(conn, "sms.slot_offer_gone")) == [f"slot_offer:{offer.id}:gone:{loser.id}"]
    assert (await requests_.get(conn, loser.id)).status in requests_.OPEN


async def test_a_late_accept_after_expiry_is_gone(client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    _, (first, second) = await _setup(pool, conn, site)
    offer = await _the_offer(conn)
    too_late = offer.expires_at + timedelta(minutes=1)
    assert await freed_slots.accept(pool, offer_id=offer.id, request_id=first.id, actor="test", now=too_late,
                                    reminder_offsets=()) is None
    assert (await slot_offers.get(conn, offer.id)).status is slot_offers.OfferStatus.expired
    assert (await requests_.get(conn, first.id)).status in requests_.OPEN
    # By SMS and on the page (the offer ended in the database; the page reads the clock).
    reply = await replies.handle(pool, provider_id="SMlate", from_phone=WAITING[1], to_phone="+4930000",
                                 body=f"NEHMEN {offer.code}", now=too_late, default_site="musterstadt",
                                 reminder_offsets=())
    assert reply is not None and reply.result == "offer_gone"
    page = await client.post(f"/r/{second.link_token}/take-offer?lang=en", data={"offer": str(offer.id)})
    assert "Sorry, this time has already been given away." in await page.text()
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE request_id = ANY($1)",
                               [first.id, second.id]) == 0
    assert await _outbox(conn, "sms.slot_offer_gone") == {}  # nobody took it: nobody is told


async def test_an_offer_sms_is_not_sent_once_the_time_is_gone(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                              site: SiteFacts) -> None:
    await _setup(pool, conn, site)
    offer = await _the_offer(conn)
    site_ = await sites.site_by_id(conn, site.site_id)
    payload = {"offer_id": offer.id, "token": "t"}
    assert await messages.render(conn, site=site_, kind="sms.slot_offer", payload=payload, language="de",
                                 now=NOW) is not None
    assert await messages.render(conn, site=site_, kind="sms.slot_offer", payload=payload, language="de",
                                 now=offer.expires_at) is None


@pytest.mark.parametrize("language", LANGUAGES)
async def test_offer_texts_are_short_and_name_a_word_that_takes_it(conn: asyncpg.Connection, site: SiteFacts,
                                                                   pool: asyncpg.Pool, language: str) -> None:
    await _setup(pool, conn, site)
    offer = await _the_offer(conn)
    site_ = await sites.site_by_id(conn, site.site_id)
    token = "x" * 32
    for kind in messages.OFFER_TEXTS:
        rendered = await messages.render(conn, site=site_, kind=kind, payload={"offer_id": offer.id, "token": token},
                                         language=language, now=NOW)
        assert rendered is not None
        assert f"/r/{token}" in rendered.body and "%(" not in rendered.body
        limit = 2 if rendered.encoding == "GSM-7" else 4
        assert rendered.segments == count_segments(rendered.body).segments <= limit, (kind, language, rendered)
        if language in ("de", "de-simple"):  # English dates hold a narrow no-break space (CLDR)
            assert rendered.encoding == "GSM-7", (kind, language, rendered.body)
        if kind == "sms.slot_offer":
            assert offer.code in rendered.body
            words = replies.normalise(rendered.body).split()
            assert any(replies.KEYWORDS.get(w) is replies.Action.take for w in words), (language, rendered.body)
            assert replies.parse(offer.code) is replies.Action.take


def test_keywords_and_codes_stay_apart() -> None:
    taking = {w for w, a in replies.KEYWORDS.items() if a is replies.Action.take}
    assert {"nehmen", "take", "беру", "alirim", "احجز", "رزرو"} <= taking
    for word, action in replies.KEYWORDS.items():
        assert action is replies.Action.take or not slot_offers.CODE.fullmatch(word)
    assert replies.parse("JA") is replies.Action.confirm and replies.parse("STOP") is replies.Action.stop
    assert replies.offer_code("NEHMEN bktr bitte") == "BKTR" and replies.offer_code("nehmen") is None


@pytest.mark.parametrize("sms_offer_max", [0, 1])
async def test_a_staff_move_offers_the_old_time_to_as_many_as_the_config_says(
        aiohttp_client, config, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,  # type: ignore[no-untyped-def]
        sms_offer_max: int) -> None:
    """The move route passes `freed_slots.sms_offer_max` from the config, not the module's default."""
    configured = dataclasses.replace(config, freed_slots=dataclasses.replace(config.freed_slots,
                                                                             sms_offer_max=sms_offer_max))
    client = await aiohttp_client(create_app(configured))
    booked = await _booked(pool, conn, site)
    await _team_auto_confirms(conn, site)
    for phone in WAITING[:2]:
        await _waiting(pool, conn, site, phone)
    target = (await free_later(conn, site, username="cw.meyer", after=booked.start))[1]
    r = await client.post(f"/api/staff/appointments/{booked.id}/move",
                          json={"start": target.start.isoformat(), "staff_id": target.caseworker_id},
                          headers=await staff_headers(client))
    assert r.status == 200, await r.text()
    assert len(await _outbox(conn, "sms.slot_offer")) == sms_offer_max
