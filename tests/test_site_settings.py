"""A site's settings (issue 18): every field checked and named, create and update in one audited transaction,
an address another site holds refused at its field with nothing written."""

from __future__ import annotations

import asyncpg
import pytest

from scheduler import site_addresses, site_settings
from scheduler.errors import ValidationFailed
from scheduler.i18n import translate
from tests.factories import SiteFacts

GOOD = {
    "code": "neustadt", "name": "Jobcenter Neustadt", "address": "Marktplatz 1, 31134 Neustadt",
    "timezone": "Europe/Berlin", "holiday_region": "DE-NI", "languages": ["de", "en", "tr", "ar"],
    "opening_hours": "mon-fri: 08:00-12:30\nthu: 14:00-17:00, 17:30-18:00", "sms_sender": "JC Neustadt",
    "phone_numbers": "+49 5121 9876543", "hosts": "Termine.Jobcenter-Neustadt.example.",
    "public_base_url": "https://termine.jobcenter-neustadt.example/", "email_enabled": True,
    "retention_days": "365", "allowed_countries": "de, at",
}


def test_good_settings_are_normalised() -> None:
    s = site_settings.parse(GOOD)
    assert s.hosts == ("termine.jobcenter-neustadt.example",) and s.phone_numbers == ("+4951219876543",)
    assert s.public_base_url == "https://termine.jobcenter-neustadt.example"
    assert s.opening_hours == (("mon-fri", "08:00-12:30"), ("thu", "14:00-17:00, 17:30-18:00"))
    assert (s.languages, s.allowed_countries, s.retention_days, s.email_enabled) == (
        ("de", "en", "ar", "tr"), ("DE", "AT"), 365, True)  # languages in the order the pages offer them


def test_file_shapes_parse_like_form_shapes() -> None:
    from_file = site_settings.parse({**GOOD, "opening_hours": {"thu": "14:00-17:00,17:30-18:00",
                                                               "mon-fri": "08:00-12:30"},
                                     "hosts": ["termine.jobcenter-neustadt.example"], "retention_days": 365,
                                     "phone_numbers": ["+4951219876543"], "allowed_countries": ["DE", "AT"]})
    assert from_file == site_settings.parse(GOOD)


@pytest.mark.parametrize(("field", "value"), [
    ("code", "Neu Stadt"), ("name", ""), ("address", "x" * 301), ("timezone", "Europe/Musterstadt"),
    ("holiday_region", "AT-9"), ("languages", ["en", "tr"]), ("languages", ["de", "xx"]),
    ("opening_hours", "weekdays 8-12"), ("opening_hours", "mon: 12:00-08:00"), ("sms_sender", "Jobcenter Neustadt"),
    ("sms_sender", "12345"), ("sms_sender", "JC-Neu"), ("public_base_url", "ftp://x.example"),
    ("public_base_url", "https://x.example/termine"), ("public_base_url", "https://x.example?a=1"),
    ("retention_days", "0"), ("retention_days", "3651"), ("retention_days", "viele"),
    ("allowed_countries", "DE, XX"), ("hosts", "nicht erlaubt!"), ("phone_numbers", "Telefon"),
])
def test_each_wrong_field_is_named(field: str, value: object) -> None:
    with pytest.raises(ValidationFailed) as e:
        site_settings.parse({**GOOD, field: value})
    assert list(e.value.fields) == [field]


def test_all_wrong_fields_at_once_in_german_and_english() -> None:
    with pytest.raises(ValidationFailed) as e:
        site_settings.parse({"code": "", "name": "", "sms_sender": "!", "hosts": "a b"})
    assert set(e.value.fields) == {"code", "name", "sms_sender", "hosts"}
    host = e.value.fields["hosts"]
    assert translate("de", host, **e.value.params) == "„a b“ ist kein Hostname (z. B. termine.jobcenter.example)."
    assert translate("tr", e.value.fields["sms_sender"]).startswith("Lütfen en az biri harf")


async def test_create_and_update_are_audited_and_an_unchanged_save_writes_nothing(conn: asyncpg.Connection) -> None:
    settings = site_settings.parse(GOOD)
    site_id = await site_settings.create_site(conn, settings, actor="staff:1")
    assert await site_settings.read(conn, site_id) == settings
    assert await site_addresses.site_id_by_host(conn, "termine.jobcenter-neustadt.example") == site_id
    assert await site_addresses.site_id_by_number(conn, "+4951219876543") == site_id
    changed = await site_settings.update_site(conn, site_id, site_settings.parse(
        {**GOOD, "name": "Jobcenter Neustadt a. Rbge.", "hosts": "neu.example\ntermine.jobcenter-neustadt.example"}),
        actor="staff:1")
    assert changed == ["name", "hosts"]
    assert await site_addresses.hosts_of(conn, site_id) == ["neu.example", "termine.jobcenter-neustadt.example"]
    again = await site_settings.read(conn, site_id)
    assert again is not None
    assert await site_settings.update_site(conn, site_id, again, actor="staff:1") == []
    events = await conn.fetch("SELECT action, actor, details FROM audit_events WHERE site_id = $1 AND "
                              "subject_type = 'site' ORDER BY id", site_id)
    assert [(e["action"], e["actor"]) for e in events] == [("site.create", "staff:1"), ("site.update", "staff:1")]
    assert events[1]["details"] == {"changed": ["name", "hosts"]}


async def test_an_address_of_another_site_is_a_field_error_and_nothing_is_written(
        conn: asyncpg.Connection, site: SiteFacts) -> None:
    await site_addresses.set_hosts(conn, site.site_id, ["termine.musterstadt.example"])
    before = await conn.fetchval("SELECT count(*) FROM sites")
    with pytest.raises(ValidationFailed) as e:
        await site_settings.create_site(conn, site_settings.parse({**GOOD, "hosts": "termine.musterstadt.example"}),
                                        actor="staff:1")
    assert e.value.fields == {"hosts": "“%(value)s” already belongs to another office."}
    assert e.value.params == {"value": "termine.musterstadt.example"}
    assert await conn.fetchval("SELECT count(*) FROM sites") == before  # the site row went back with it
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'site.create'") == 0


async def test_a_taken_code_is_a_field_error(conn: asyncpg.Connection, site: SiteFacts) -> None:
    with pytest.raises(ValidationFailed) as e:
        await site_settings.create_site(conn, site_settings.parse({**GOOD, "code": "musterstadt", "hosts": ""}),
                                        actor="staff:1")
    assert e.value.fields == {"code": site_settings.CODE_TAKEN}


async def test_the_code_of_a_site_stays(conn: asyncpg.Connection, site: SiteFacts) -> None:
    current = await site_settings.read(conn, site.site_id)
    assert current is not None and current.code == "musterstadt"
    with pytest.raises(ValidationFailed) as e:
        await site_settings.update_site(conn, site.site_id, site_settings.parse({**GOOD, "hosts": ""}),
                                        actor="staff:1")
    assert list(e.value.fields) == ["code"]
