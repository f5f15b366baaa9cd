"""Batch invitations and letters (issue 15): 1,000 invitations planned, then sent with their outbox rows and
letters in one transaction; then a print batch of 500 letters rendered as one PDF (fpdf2).

On a fresh demo database. 700 lines have a mobile number, 300 only a customer number, a name and an address
(those get letters); the batch is mandatory (the demo's notice template, with its translations: a second page
in the client's language, Arabic and Persian shaped), so every client without consent to electronic notice gets
a letter too. Targets: planning under 5 s, sending under 5 s, 500 letters rendered under 60 s.
"""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pypdf

from bench.intake import drop_database, fresh_database
from scheduler import batch_invitations, batch_lists, db, letters, notice_templates, seed, sites
from scheduler.notify import letter_pdf


def measure(admin_dsn: str, *, invitations: int = 1000, letters_per_batch: int = 500) -> dict[str, Any]:
    """Plan, send and print one batch on a fresh database; seconds of each step."""
    name, dsn = fresh_database(admin_dsn)
    try:
        return asyncio.run(_run(dsn, invitations, letters_per_batch))
    finally:
        drop_database(admin_dsn, name)


def _list(n: int) -> str:
    lines = ["customer_number;phone;name;language;street;postcode;city"]
    languages = ("de", "uk", "ar", "tr", "ru", "fa", "en", "de-simple")
    for i in range(n):
        lang = languages[i % len(languages)]
        if i % 10 < 7:
            lines.append(f"{100 + i // 1_000_000:03d}B{i:06d};0151 5{i:07d};Kundin {i};{lang};Weg {i};30159;Hannover")
        else:
            lines.append(f"{100 + i // 1_000_000:03d}B{i:06d};;Kunde {i};{lang};Straße {i};30159;Hannover")
    return "\n".join(lines) + "\n"


async def _run(dsn: str, n: int, per_batch: int) -> dict[str, Any]:
    pool = await db.create_pool(dsn, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            site = await sites.site_by_code(conn, "musterstadt")
            assert site is not None
            concern = (await sites.setup(conn, site)).concerns["general"]
            lead = await conn.fetchval("SELECT id FROM staff WHERE username = 'lead.placement'")
            admin = await conn.fetchval("SELECT id FROM staff WHERE username = 'admin'")
            if not await notice_templates.list_for_site(conn, site.id):  # the demo seed may have them already
                await seed.insert_notice_templates(conn, site.id, admin)
            template = next(t for t in await notice_templates.list_for_site(conn, site.id)
                            if t.kind.value == "mandatory")
        now = datetime.now(UTC)
        today = site.calendar().local_date(now)
        text = _list(n)
        t0 = time.perf_counter()
        rows = batch_lists.parse_list(text)
        batch_id = await batch_invitations.plan(
            pool, site=site, staff_id=lead, concern=concern, invitation="mandatory", template_id=template.id,
            bring="Personalausweis",
            window_from=today + timedelta(days=1), window_to=today + timedelta(days=90), rows=rows, now=now)
        planned_s = time.perf_counter() - t0
        async with pool.acquire() as conn:
            statuses = [r.status.value for r in await batch_invitations.list_rows(conn, batch_id)]
        t1 = time.perf_counter()
        sent = await batch_invitations.send(pool, site_id=site.id, staff_id=lead, batch_id=batch_id, now=now,
                                            reminder_offsets=(timedelta(days=1), timedelta(hours=2)))
        sent_s = time.perf_counter() - t1
        async with pool.acquire() as conn:
            outbox_rows = await conn.fetchval("SELECT count(*) FROM outbox WHERE created_at >= $1", now)
            t2 = time.perf_counter()
            async with conn.transaction():
                batch = await letters.print_ready(conn, site_id=site.id, staff_id=lead, now=now, limit=per_batch)
            assert batch is not None
            pdf = await letter_pdf.render_batch(conn, site=site, batch_id=batch.id, today=today)
            print_s = time.perf_counter() - t2
        return {
            "invitations": n, "planned_rows": statuses.count("planned"), "unplanned_rows": statuses.count("unplanned"),
            "plan_s": round(planned_s, 3), "send_s": round(sent_s, 3), "sent": sent, "outbox_rows": outbox_rows,
            "print_letters": batch.letters, "print_s": round(print_s, 3), "pdf_bytes": len(pdf),
            "pdf_pages": len(pypdf.PdfReader(io.BytesIO(pdf)).pages),
            "unicode_font": letter_pdf.fonts_available(),
        }
    finally:
        await pool.close()
