"""Needs stored with a request by intake, and proposals that respect room attributes and more time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import intake, needs, rooms
from scheduler.errors import ValidationFailed
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts

NOW = datetime.now(UTC)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer (room A.03 in the demo hours)


def _intake(**overrides: object) -> intake.Intake:
    base = intake.Intake(site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general",
                         phone=MEYER_CLIENT, language="de", sms_consent=True)
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


async def _proposals(conn: asyncpg.Connection, request_id: int) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT mode, room, upper(during) - lower(during) AS length FROM proposals "
                                 "WHERE request_id = $1", request_id))


def test_parse_keeps_the_list_order_and_refuses_garbage() -> None:
    errors: dict[str, str] = {}
    assert needs.parse(["more_time", "interpreter"], "ar", errors) == (("interpreter", "more_time"), "ar")
    assert needs.parse(["step_free"], "ar", errors) == (("step_free",), None)  # no language without interpreter
    assert needs.parse(["interpreter"], "", errors) == (("interpreter",), None)
    assert not errors
    needs.parse(["wings"], None, errors)
    assert "needs" in errors
    errors.clear()
    needs.parse(["interpreter"], "klingon", errors)
    assert "interpreter_language" in errors
    errors.clear()
    needs.parse("interpreter", None, errors)
    assert "needs" in errors


def test_describe_names_the_interpreter_language_in_the_readers_language() -> None:
    noted = needs.describe(("interpreter", "step_free"), "ar", "de")
    assert [n.code for n in noted] == ["interpreter", "step_free"]
    assert noted[0].text == "Dolmetschen: Arabisch"
    assert needs.summary(("hearing_loop",), None, "en") == "Hearing loop"


async def test_intake_stores_needs_in_the_request_row(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    parsed = intake.parse_intake({"concern": "general", "phone": "0151 23456704", "needs": ["interpreter"],
                                  "interpreter_language": "fa"}, kind=Kind.appointment, channel="web",
                                 default_site="musterstadt")
    submitted = await intake.submit(pool, parsed, now=NOW)
    row = await conn.fetchrow("SELECT needs, interpreter_language FROM requests WHERE id = $1", submitted.id)
    assert (row["needs"], row["interpreter_language"]) == (["interpreter"], "fa")


async def test_bad_needs_write_nothing(conn: asyncpg.Connection) -> None:
    with pytest.raises(ValidationFailed) as refused:
        intake.parse_intake({"concern": "general", "phone": "0151 23456704", "needs": ["interpreter", 7]},
                            kind=Kind.appointment, channel="web", default_site="musterstadt")
    assert "needs" in refused.value.fields
    assert await conn.fetchval("SELECT count(*) FROM requests") == 0


async def test_the_database_refuses_unknown_needs_and_a_language_without_interpreter(
        conn: asyncpg.Connection, site: SiteFacts) -> None:
    from tests.factories import create_request
    request_id = await create_request(conn, site)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE requests SET needs = '{teleport}' WHERE id = $1", request_id)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE requests SET interpreter_language = 'ar' WHERE id = $1", request_id)


async def test_step_free_without_a_step_free_room_offers_phone_or_video_and_says_why(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    submitted = await intake.submit(pool, _intake(needs=("step_free",)), now=NOW)
    found = await _proposals(conn, submitted.id)
    assert found and all(p["mode"] != "in_person" for p in found)
    explanation = await conn.fetchval("SELECT decision->'explanation' FROM requests WHERE id = $1", submitted.id)
    assert {"field": "room", "rule_id": "needs", "value": "-"} in explanation


async def test_only_in_person_and_no_room_leaves_the_request_to_the_caseworker(
        pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    submitted = await intake.submit(pool, _intake(needs=("hearing_loop",), modes=("in_person",)), now=NOW)
    assert submitted.status == "received"
    assert await _proposals(conn, submitted.id) == []


async def test_a_step_free_room_gets_the_in_person_times(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                         site: SiteFacts) -> None:
    await rooms.save(conn, site_id=site.site_id, room_id=None, name="A.03", step_free=True, hearing_loop=False,
                     staff_id=site.staff["admin"] if "admin" in site.staff else site.staff["cw.meyer"])
    submitted = await intake.submit(pool, _intake(needs=("step_free",), modes=("in_person",)), now=NOW)
    found = await _proposals(conn, submitted.id)
    assert found and {(p["mode"], p["room"]) for p in found} == {("in_person", "A.03")}
    # The same room without a hearing loop does not serve a client who needs both.
    both = await intake.submit(pool, _intake(phone="+4915123456799", needs=("step_free", "hearing_loop"),
                                             modes=("in_person",)), now=NOW)
    assert await _proposals(conn, both.id) == []


async def test_more_time_lengthens_the_appointment(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    plain = await intake.submit(pool, _intake(), now=NOW)
    longer = await intake.submit(pool, _intake(phone="+4915123456798", needs=("more_time",)), now=NOW)
    plain_length = (await _proposals(conn, plain.id))[0]["length"]
    assert {p["length"] for p in await _proposals(conn, longer.id)} == {plain_length + timedelta(minutes=15)}


async def test_a_room_name_is_unique_per_site(conn: asyncpg.Connection, site: SiteFacts) -> None:
    staff_id = site.staff["cw.meyer"]
    room_id = await rooms.save(conn, site_id=site.site_id, room_id=None, name="E.01", step_free=True,
                               hearing_loop=True, staff_id=staff_id)
    with pytest.raises(ValidationFailed) as taken:
        await rooms.save(conn, site_id=site.site_id, room_id=None, name="E.01", step_free=False,
                         hearing_loop=False, staff_id=staff_id)
    assert "name" in taken.value.fields
    assert await rooms.suitable_names(conn, site.site_id, ("hearing_loop",)) == frozenset({"E.01"})
    assert await rooms.suitable_names(conn, site.site_id, ("interpreter",)) is None
    await rooms.delete(conn, site_id=site.site_id, room_id=room_id, staff_id=staff_id)
    assert await rooms.list_for_site(conn, site.site_id) == []
