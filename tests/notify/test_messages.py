"""Every SMS text in every client language: rendered from the catalogue, short, and free of personal data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import sites
from scheduler.i18n import LANGUAGES, translate
from scheduler.notify import messages
from scheduler.notify.segments import count_segments
from scheduler.replies import REPLIES
from tests import factories
from tests.factories import SiteFacts

PUBLIC_URL = "https://termine.jobcenter.example"  # what dispatch resolves the site's links to

START = datetime(2030, 3, 5, 8, 30, tzinfo=UTC)  # 09:30 in Berlin
NOW = START - timedelta(days=3)
NAME = "Iryna Petrenko-Testname"
CUSTOMER_NUMBER = "123D456789"
MODES = {"in_person": "cw.meyer", "phone": "cw.demir", "video": "cw.schulz"}


async def _setup(conn: asyncpg.Connection, site: SiteFacts, language: str, mode: str) -> dict[str, object]:
    client_id = await factories.create_client(conn, site, language=language, name=NAME)
    await conn.execute("UPDATE clients SET customer_number = $2 WHERE id = $1", client_id, CUSTOMER_NUMBER)
    request_id = await factories.create_request(conn, site, client_id=client_id, concern="no_money",
                                                status="scheduled", staff=MODES[mode])
    appointment_id = await factories.create_appointment(conn, site, start=START, request_id=request_id, mode=mode,
                                                        staff=MODES[mode])
    await conn.execute("UPDATE appointments SET room = 'A.03' WHERE id = $1", appointment_id)
    callback_id = await conn.fetchval(
        "INSERT INTO callbacks (site_id, client_id, concern_id, channel, reference, link_token, phone, language) "
        "VALUES ($1, $2, $3, 'web', $5, $5, '+4915100000000', $4) RETURNING id",
        site.site_id, client_id, site.concerns["no_money"], language, f"CB-{mode}")
    token, reference = await conn.fetchrow("SELECT link_token, reference FROM requests WHERE id = $1", request_id)
    return {"appointment_id": appointment_id, "callback_id": callback_id, "token": token, "reference": reference}


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_kind_renders_in_every_language(conn: asyncpg.Connection, site: SiteFacts,
                                                    language: str) -> None:
    s = sites.resolved(await sites.site_by_id(conn, site.site_id), PUBLIC_URL)
    concern_labels = await conn.fetchval("SELECT labels FROM concerns WHERE code = 'no_money' AND site_id = $1",
                                         site.site_id)
    for mode in MODES:
        facts = await _setup(conn, site, language, mode)
        for kind in messages.TEXTS:
            rendered = await messages.render(conn, site=s, kind=kind, payload=facts, language=language, now=NOW)
            assert rendered is not None, kind
            body = rendered.body
            assert f"{s.public_base_url}/r/{facts['token']}" in body
            assert "%(" not in body
            for private in (NAME, "Petrenko", CUSTOMER_NUMBER, "no_money", *concern_labels.values()):
                assert private not in body, (kind, private)
            if kind.endswith("_received"):
                assert facts["reference"] in body
            if "appointment" in kind or kind == "sms.reminder":
                if kind != "sms.appointment_cancelled":
                    assert ("A.03" in body) == (mode == "in_person")
                # 09:30 local time, whatever the digits look like.
                assert re.search(r"(09|9)[:.]30|۹:۳۰|٩:٣٠", body), body
            limit = 2 if rendered.encoding == "GSM-7" else 4
            assert rendered.segments == count_segments(body).segments <= limit, (kind, language, rendered)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_text_is_translated(language: str) -> None:
    texts = [*messages.TEXTS.values(), *messages.PLACES.values(), *REPLIES.values(), messages.SUMMARY,
             messages.MAIL_TEXT, messages.MAIL_TEXT_CANCELLED, messages.MAIL_SUBJECT_CANCELLED]
    for msgid in texts:
        assert translate(language, msgid) != msgid, (language, msgid)
        assert sorted(re.findall(r"%\(\w+\)s", translate(language, msgid))) == sorted(re.findall(r"%\(\w+\)s", msgid))


def test_german_texts_stay_within_gsm7() -> None:
    for msgid in messages.TEXTS.values():
        for reason in messages.DECLINE_REASONS.values():  # only the decline text has a %(reason)s
            body = translate("de", msgid, when="05.03.30, 09:30", place="Raum A.03", reference="K7Q4-M2XD",
                             link="https://termine.example/r/" + "x" * 43, reason=translate("de", reason))
            assert count_segments(body).encoding == "GSM-7", body


async def test_out_of_date_messages_render_nothing(conn: asyncpg.Connection, site: SiteFacts) -> None:
    s = sites.resolved(await sites.site_by_id(conn, site.site_id), PUBLIC_URL)
    facts = await _setup(conn, site, "de", "in_person")
    after = START + timedelta(minutes=1)
    assert await messages.render(conn, site=s, kind="sms.reminder", payload=facts, language="de", now=after) is None
    await conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", facts["appointment_id"])
    for kind in ("sms.appointment_confirmed", "sms.reminder", "sms.appointment_moved"):
        assert await messages.render(conn, site=s, kind=kind, payload=facts, language="de", now=NOW) is None
    cancelled = await messages.render(conn, site=s, kind="sms.appointment_cancelled", payload=facts,
                                      language="de", now=NOW)
    assert cancelled is not None and "abgesagt" in cancelled.body
    await conn.execute("UPDATE callbacks SET status = 'cancelled' WHERE id = $1", facts["callback_id"])
    assert await messages.render(conn, site=s, kind="sms.callback_missed", payload=facts, language="de",
                                 now=NOW) is None


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_cleared_link_token_leaves_the_link_out(conn: asyncpg.Connection, site: SiteFacts,
                                                        language: str) -> None:
    s = sites.resolved(await sites.site_by_id(conn, site.site_id), PUBLIC_URL)
    facts = await _setup(conn, site, language, "in_person")
    for cleared in (None, ""):
        payload = {**facts, "token": cleared}
        for kind in messages.TEXTS:
            rendered = await messages.render(conn, site=s, kind=kind, payload=payload, language=language, now=NOW)
            assert rendered is not None, kind
            body = rendered.body
            assert "/r/" not in body and "None" not in body and s.public_base_url not in body, (kind, body)
            assert "  " not in body and body == body.strip(), (kind, body)
            if kind.endswith("_received"):
                assert facts["reference"] in body
    without_key = {k: v for k, v in facts.items() if k != "token"}
    rendered = await messages.render(conn, site=s, kind="sms.reminder", payload=without_key, language=language,
                                     now=NOW)
    assert rendered is not None and "/r/" not in rendered.body
