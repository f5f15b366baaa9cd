"""The letter print queue: what waits (and for what), print the ready letters as one PDF, mark a batch posted."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from scheduler import addresses, audit, letters, sites
from scheduler import requests as requests_
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.notify import letter_pdf
from scheduler.permissions import check_may_act
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
BATCH = r"/staff/letters/batches/{batch_id:\d{1,18}}"

REASONS = {"no_mobile": N_("No mobile number"), "sms_failed": N_("SMS failed"),
           "no_electronic_consent": N_("Mandatory, no consent to electronic notice")}


@routes.get("/staff/letters", name="staff-letters")
@ui.pages
async def letters_page(request: web.Request) -> web.Response:
    """The office's waiting letters and recent print batches; listing them is a view of client data (audited)."""
    user = await ui.page_user(request)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        queue = await letters.list_queue(conn, site_id=user.site_id)
        batches = await letters.list_batches(conn, site_id=user.site_id)
        await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="letter",
                                     clients_by_item={q.id: q.client_id for q in queue})
    return ui.render(request, "letters.html", {
        "tz": site.timezone, "queue": queue, "ready": sum(1 for q in queue if q.ready), "batches": batches,
        "reasons": REASONS, "fonts": letter_pdf.fonts_available(),
    })


@routes.post("/staff/letters/print", name="staff-letters-print")
@ui.pages
async def print_letters(request: web.Request) -> web.Response:
    """Take every ready letter into a new print batch and open its PDF; two staff printing at once never share one."""
    user = await auth.require_staff(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        batch = await letters.print_ready(conn, site_id=user.site_id, staff_id=user.id, now=datetime.now(UTC))
    if batch is None:
        return ui.see_other(ui.url(request, "staff-letters"),
                            flash=("error", translate(ui.language(request, user), N_("No letter is ready to print."))))
    return ui.see_other(ui.url(request, "staff-letters-batch-pdf", batch_id=batch.id))


@routes.get(BATCH + "/letters.pdf", name="staff-letters-batch-pdf")
@ui.pages
async def batch_pdf(request: web.Request) -> web.Response:
    """One print batch as a PDF (rendered from the current data, never stored); opening it is audited."""
    user = await ui.page_user(request)
    batch_id = ui.int_param(request.match_info["batch_id"], "batch_id")
    async with request.app[POOL].acquire() as conn:
        batch = await letters.get_batch(conn, site_id=user.site_id, batch_id=batch_id)
        site = sites.resolved(await sites.site_by_id(conn, user.site_id), request.app[CONFIG].server.public_base_url)
        pdf = await letter_pdf.render_batch(conn, site=site, batch_id=batch.id,
                                            today=site.calendar().local_date(batch.printed_at))
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="client.view",
                           subject_type="letter_batch", subject_id=batch.id, details={"letters": batch.letters})
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="letters-{batch.id}.pdf"', "Cache-Control": "no-store"})


@routes.post(BATCH + "/posted", name="staff-letters-posted")
@ui.pages
async def mark_posted(request: web.Request) -> web.Response:
    """Mark a printed batch posted (its letters' evidence starts the presumed receipt); a second time is refused."""
    user = await auth.require_staff(request)
    batch_id = ui.int_param(request.match_info["batch_id"], "batch_id")

    async def run() -> object:
        async with request.app[POOL].acquire() as conn, conn.transaction():
            return await letters.mark_posted(conn, site_id=user.site_id, batch_id=batch_id, staff_id=user.id,
                                             now=datetime.now(UTC))

    return await ui.perform(request, user, ui.url(request, "staff-letters"), run,
                            success=N_("The batch is marked as posted."))


async def letter_context(conn: asyncpg.Connection, req: requests_.Request) -> dict[str, object]:
    """What the request page shows for letters: the client's address and consent, this request's letters."""
    return {"postal_address": await addresses.get(conn, req.client_id),
            "electronic_consent": await addresses.has_electronic_consent(conn, req.client_id),
            "letters": await letters.list_for_request(conn, req.id) if req.invitation else [],
            "letter_reasons": REASONS}


@routes.post(r"/staff/requests/{request_id:\d{1,18}}/address", name="staff-request-address")
@ui.pages
async def save_address(request: web.Request) -> web.Response:
    """Take down (or correct) the client's postal address and consent to electronic notice; audited."""
    user = await auth.require_staff(request)
    form = await request.post()
    request_id = ui.int_param(request.match_info["request_id"], "request_id")
    fields = {name: ui.text(form, f"address_{name}", 200) for name in addresses.FIELDS}
    consent = form.get("electronic_consent") == "yes"
    back = ui.url(request, "staff-request", request_id=request_id) + "#letters"

    async def run() -> None:
        address = addresses.parse(fields)
        if address is None:
            raise ValidationFailed(fields={"address.street": N_("Please fill in the whole address.")})
        now = datetime.now(UTC)
        async with request.app[POOL].acquire() as conn, conn.transaction():
            req = await requests_.get(conn, request_id)
            check_may_act(user, site_id=req.site_id, team_id=req.team_id, staff_id=req.staff_id)
            await addresses.save(conn, site_id=req.site_id, client_id=req.client_id, address=address,
                                 staff_id=user.id)
            await addresses.set_electronic_consent(conn, site_id=req.site_id, client_id=req.client_id, given=consent,
                                                   staff_id=user.id, now=now)
            await audit.record(conn, site_id=req.site_id, actor=user.actor, action="client.address",
                               subject_type="client", subject_id=req.client_id,
                               details={"request_id": request_id, "electronic_consent": consent})

    return await ui.perform(request, user, back, run, success=N_("The address was saved."))
