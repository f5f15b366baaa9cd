"""`python -m scheduler site apply FILE` (issue 18): the documented example applies, a second run changes nothing
and says "unchanged", a bad file names file, line and field and changes nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import asyncpg
import pytest

from scheduler import concerns, site_files, site_settings
from scheduler.__main__ import site_apply
from scheduler.config import Config
from tests.factories import SiteFacts

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "site.yaml"


async def _snapshot(conn: asyncpg.Connection) -> list[object]:
    return [await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")  # nosec B608 - fixed names
            for table in ("sites", "site_hosts", "site_phone_numbers", "teams", "concerns", "audit_events")]


async def test_the_example_applies_and_a_second_run_is_unchanged(conn: asyncpg.Connection) -> None:
    report = await site_files.apply(conn, EXAMPLE)
    assert report[0] == "site neustadt: added" and "  concern no_money: added" in report
    neustadt = await site_settings.site_id_by_code(conn, "neustadt")
    assert neustadt is not None
    settings = await site_settings.read(conn, neustadt)
    assert settings is not None
    assert (settings.hosts, settings.phone_numbers, settings.allowed_countries, settings.opening_hours) == (
        ("termine.jobcenter-neustadt.example",), ("+495032123450",), ("DE", "AT", "PL"),
        (("mon-fri", "08:00-12:30"), ("thu", "14:00-17:00")))
    offered = {c.code: c for c in await concerns.for_channel(conn, site_id=neustadt, channel="web")}
    assert concerns.label(offered["no_money"].labels, "tr") == "Hiç param kalmadı"
    assert concerns.description(offered["no_money"].descriptions, "de-simple").startswith("Das Geld vom Jobcenter")
    assert concerns.description(offered["no_money"].descriptions, "uk").startswith("Your payment")  # en fallback
    assert concerns.description(offered["change_notice"].descriptions, "tr").startswith("Umzug")  # then de
    altstadt = await site_settings.read(conn, await site_settings.site_id_by_code(conn, "altstadt") or 0)
    assert altstadt is not None and altstadt.holiday_region == "DE-BY" and altstadt.languages == ("de", "en")

    before = await _snapshot(conn)
    again = await site_files.apply(conn, EXAMPLE)
    assert again and all(line.endswith("unchanged") for line in again), again
    assert await _snapshot(conn) == before  # not a row written, not an audit event


async def test_a_bad_file_names_its_places_and_changes_nothing(conn: asyncpg.Connection, site: SiteFacts,
                                                               tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("retention_days: 180", "retention_days: 0")
                   .replace("hosts: [termine.jobcenter-altstadt.example]", "hosts: [termine.jobcenter-altstadt.example]\n"
                            "    colour: blue")
                   .replace("{de: Allgemeine Frage, en: General question}", "{en: General question}"),
                   encoding="utf-8")
    before = await _snapshot(conn)
    with pytest.raises(site_files.SiteFileInvalid) as e:
        await site_files.apply(conn, bad)
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "retention_days: 0" in t)
    assert f"{bad}:{line}: sites[0].retention_days: Please enter a number of days from 1 to 3650." in e.value.problems
    assert any(p.endswith("sites[1].colour: unknown field") for p in e.value.problems)
    assert any("sites[1].concerns[0].labels.de: Please enter a label" in p for p in e.value.problems)
    assert await _snapshot(conn) == before


async def test_an_address_taken_by_another_site_rolls_back_the_whole_file(conn: asyncpg.Connection,
                                                                          site: SiteFacts, tmp_path: Path) -> None:
    from scheduler import site_addresses

    await site_addresses.set_hosts(conn, site.site_id, ["termine.jobcenter-altstadt.example"])
    before = await _snapshot(conn)
    with pytest.raises(site_files.SiteFileInvalid) as e:
        await site_files.apply(conn, EXAMPLE)  # neustadt would be fine; altstadt's host is musterstadt's
    assert e.value.problems == [f"{EXAMPLE}:40: sites[1].hosts: “termine.jobcenter-altstadt.example” already "
                                "belongs to another office."]
    assert await _snapshot(conn) == before


async def test_the_command_line_prints_the_report(config: Config, pool: asyncpg.Pool, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert await site_apply(config, EXAMPLE) == 0
    assert "site neustadt: added" in capsys.readouterr().out
    assert await site_apply(config, EXAMPLE) == 0
    assert "site neustadt: unchanged" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("sites: [", encoding="utf-8")
    assert await site_apply(dataclasses.replace(config), broken) == 1
    assert "nothing was changed" in capsys.readouterr().err
