"""An invitation's delivery evidence for staff: the timeline on the request page, corrections, the PDF export."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from aiohttp import web

from scheduler import audit, invitation_evidence, notice_templates, sites
from scheduler import requests as requests_
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.invitation_evidence import EvidenceKind
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import StaffUser, check_may_act
from scheduler.staff import auth, evidence_pdf, ui

routes = web.RouteTableDef()
EVIDENCE: Final = r"/staff/requests/{request_id:\d{1,18}}/evidence"
CORRECTION_LIMIT: Final = 500

KIND_LABELS: Final = {
    EvidenceKind.created: N_("Invitation created"),
    EvidenceKind.sms_accepted: N_("SMS accepted by the provider"),
    EvidenceKind.sms_delivered: N_("SMS delivered (provider receipt)"),
    EvidenceKind.sms_failed: N_("SMS not delivered (provider receipt)"),
    EvidenceKind.email_sent: N_("E-mail sent"),
    EvidenceKind.email_failed: N_("E-mail could not be sent"),
    EvidenceKind.link_opened: N_("Link first opened"),
    EvidenceKind.confirmed: N_("Confirmed by the client"),
    EvidenceKind.declined: N_("Cancelled by the client"),
    EvidenceKind.letter_queued: N_("Letter queued for printing"),
    EvidenceKind.letter_printed: N_("Letter printed"),
    EvidenceKind.letter_posted: N_("Letter posted"),
    EvidenceKind.correction: N_("Correction"),
}
PRESUMED: Final = N_("Presumed received (posted letter, %(days)s days after posting)")
CHANNEL_LABELS: Final = {**ui.CHANNEL_LABELS, "email": N_("E-mail"), "letter": N_("Letter")}
# The keys entries carry in their detail (letters.py writes letter_id, reason, batch), as staff read them.
DETAIL_LABELS: Final = {
    "template": N_("Template"), "version": N_("Version"), "kind": N_("Kind"), "message": N_("Message"),
    "outbox_id": N_("Message no."), "provider_id": N_("Provider id"), "error_code": N_("Error code"),
    "note": N_("Note"), "letter_id": N_("Letter no."), "batch": N_("Print batch"), "reason": N_("Reason"),
}
NEEDS_TEXT: Final = N_("Please write the correction (at most 500 characters).")


def timeline_rows(entries: list[invitation_evidence.Entry], *, lang: str, tz: str, days: int) -> list[dict[str, Any]]:
    """The timeline as the staff member reads it, with each posted letter's presumed day of receipt."""
    fmt = ui.Formatter(lang, tz)
    rows = [{"when": fmt.when(e.at), "what": translate(lang, KIND_LABELS[e.kind]), "kind": e.kind.value,
             "who": e.staff_name or "", "channel": translate(lang, CHANNEL_LABELS.get(e.channel or "", "")) if
             e.channel in CHANNEL_LABELS else (e.channel or ""),
             "detail": _detail(e.detail, lang)} for e in entries]
    for posted, day in invitation_evidence.presumed_receipts(entries, timezone=tz, days=days):
        rows.append({"when": fmt.day(day, "medium"), "what": translate(lang, PRESUMED, days=days),
                     "kind": "presumed_receipt", "who": "", "channel": translate(lang, CHANNEL_LABELS["letter"]),
                     "detail": fmt.when(posted.at)})
    return rows


def _detail(detail: Mapping[str, str], lang: str) -> str:
    return " · ".join(f"{translate(lang, DETAIL_LABELS[k]) if k in DETAIL_LABELS else k}: {v}"
                      for k, v in sorted(detail.items()))


async def evidence_context(conn: asyncpg.Connection, req: requests_.Request, *, lang: str, tz: str,
                           days: int) -> dict[str, Any]:
    """What the request page shows of an invitation: its notice and its timeline (empty for other requests)."""
    if req.invitation is None:
        return {"evidence_rows": [], "notice": None, "notice_name": ""}
    entries = await invitation_evidence.list_for_request(conn, req.id)
    notice = await notice_templates.notice_for_request(conn, req.id)
    template = await notice_templates.get(conn, notice.template_id, version=notice.version) if notice else None
    return {"evidence_rows": timeline_rows(entries, lang=lang, tz=tz, days=days), "notice": notice,
            "notice_name": template.name if template else ""}


async def _invitation(conn: asyncpg.Connection, user: StaffUser, request_id: int) -> requests_.Request:
    req = await requests_.get(conn, request_id)
    check_may_act(user, site_id=req.site_id, team_id=req.team_id, staff_id=req.staff_id)
    return req


@routes.get(EVIDENCE + ".pdf", name="staff-evidence-pdf")
@ui.pages
async def evidence_pdf_export(request: web.Request) -> web.Response:
    """The invitation's delivery evidence as a PDF; the export is recorded as a view of client data."""
    user = await ui.page_user(request)
    request_id = ui.int_param(request.match_info["request_id"], "request_id")
    lang = ui.language(request, user)
    days = request.app[CONFIG].invitations.presumed_receipt_days
    async with request.app[POOL].acquire() as conn:
        req = await _invitation(conn, user, request_id)
        if req.invitation is None:
            raise NotFound()
        site = await sites.site_by_id(conn, req.site_id)
        context = await evidence_context(conn, req, lang=lang, tz=site.timezone, days=days)
        async with conn.transaction():
            await audit.record(conn, site_id=req.site_id, actor=user.actor, action="client.view",
                               subject_type="client", subject_id=req.client_id,
                               details={"request_id": request_id, "evidence": "pdf"})
    body = evidence_pdf.render(
        lang=lang, site_name=site.name, reference=req.reference, rows=context["evidence_rows"],
        notice=context["notice"], notice_name=context["notice_name"],
        created=ui.Formatter(lang, site.timezone).when(datetime.now(UTC)))
    return web.Response(body=body, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="evidence-{req.reference}.pdf"', "Cache-Control": "no-store"})


@routes.post(EVIDENCE + "/correction", name="staff-evidence-correction")
@ui.pages
async def correction(request: web.Request) -> web.Response:
    """Add a correction to the timeline; nothing recorded before changes."""
    user = await auth.require_staff(request)
    form = await request.post()
    request_id = ui.int_param(request.match_info["request_id"], "request_id")
    raw = form.get("correction")
    note = raw.strip() if isinstance(raw, str) else ""
    back = ui.url(request, "staff-request", request_id=request_id) + "#evidence"

    async def run() -> None:
        if not note or len(note) > CORRECTION_LIMIT:
            raise ValidationFailed(fields={"correction": NEEDS_TEXT})
        async with request.app[POOL].acquire() as conn, conn.transaction():
            req = await _invitation(conn, user, request_id)
            if req.invitation is None:
                raise NotFound()
            now = datetime.now(UTC)
            await invitation_evidence.record(conn, request_id=request_id, kind=EvidenceKind.correction, at=now,
                                             staff_id=user.id, channel="staff", detail={"note": note})
            await audit.record(conn, site_id=req.site_id, actor=user.actor, action="invitation.correction",
                               subject_type="request", subject_id=request_id)

    return await ui.perform(request, user, back, run, success=N_("The correction was added to the timeline."))
