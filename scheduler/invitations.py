"""Staff invitations with a notice template: a voluntary offer or a mandatory summons (§ 59 SGB II, § 309 SGB III).

The invitation is a request (channel staff, `invitation` set) routed to the inviting caseworker. It names the
notice template version it uses (notice_templates.attach) and starts its delivery evidence (`created`). It offers
the policy's proposals (the caseworker then books one) or, with `fixed_start`, one fixed time booked at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import asyncpg

from scheduler import addresses, approvals, intake, invitation_evidence, notice_templates, sites
from scheduler import requests as requests_
from scheduler.errors import DomainError, ValidationFailed
from scheduler.i18n import N_
from scheduler.invitation_evidence import EvidenceKind
from scheduler.permissions import StaffUser
from scheduler.policy.rules import Channel, Kind

CHOOSE_TEMPLATE: Final = N_("Please choose a notice template.")
KEY_PATTERN_LIMIT: Final = 60


@dataclasses.dataclass(frozen=True, slots=True)
class Invited:
    request: requests_.Request
    fixed_booked: bool | None   # None: no fixed time asked; False: the time was not free (proposals stay)


async def invite(pool: asyncpg.Pool, *, user: StaffUser, phone: str, concern: str, language: str,
                 template_id: int | None, bring: str, now: datetime, reminder_offsets: tuple[timedelta, ...],
                 countries: Collection[str] = ("DE",), form_key: str = "", fixed_start: datetime | None = None,
                 fixed_mode: str = "in_person", customer_number: str = "", name: str = "",
                 postal_address: addresses.Address | None = None, electronic_consent: bool = False,
                 email: str = "", needs: Mapping[str, object] | None = None) -> Invited:
    """Invite a client with a notice template of the caseworker's site; the version used is kept with it.

    `form_key` (the form's own random key) makes a resubmitted form return the first invitation; the notice
    and the `created` entry are written once. Without a mobile number, customer number and name identify the
    client and the invitation goes by letter (`postal_address`, see letters.py). `needs` holds the client's
    needs as intake reads them (`needs`, `interpreter_language`).
    """
    errors: dict[str, str] = {}
    bring = intake.clean_text(bring, name="bring", limit=notice_templates.BRING_LIMIT, multiline=True,
                              errors=errors) or ""
    async with pool.acquire() as conn:
        template = await notice_templates.get(conn, template_id) if template_id is not None else None
        site = await sites.site_by_id(conn, user.site_id)
    if fixed_start is not None and fixed_start.tzinfo is None:  # as typed into the form: the site's local time
        fixed_start = fixed_start.replace(tzinfo=ZoneInfo(site.timezone))
    if template is None or template.site_id != user.site_id or not template.active:
        errors["template"] = CHOOSE_TEMPLATE
    if errors:
        raise ValidationFailed(fields=errors)
    assert template is not None
    person = {"customer_number": customer_number or None, "name": name or None,
              "email": (email or None) if site.email_enabled else None}  # ignored where e-mail is not allowed
    parsed = intake.parse_intake({"concern": concern, "phone": phone, "language": language, "sms_consent": bool(phone),
                                  **person, **(needs or {})}, kind=Kind.appointment, channel=Channel.staff,
                                 default_site=site.code, countries=countries, phone_optional=True)
    key = f"invite-{user.id}-{form_key[:KEY_PATTERN_LIMIT]}" if form_key else None
    submitted = await intake.submit(pool, dataclasses.replace(
        parsed, created_by=user.id, invitation=template.kind.value, route_staff_id=user.id, server_key=key,
        postal_address=postal_address, electronic_consent=electronic_consent,
        notice=notice_templates.Chosen(template, bring)),
        now=now, reminder_offsets=reminder_offsets)
    booked: bool | None = None
    if fixed_start is not None:
        try:
            await approvals.book_other(pool, request_id=submitted.id, staff_id=user.id, start=fixed_start,
                                       mode=fixed_mode, user=user, now=now, reminder_offsets=reminder_offsets)
            booked = True
        except DomainError:
            booked = False  # taken meanwhile, or outside working hours: the proposals stay to choose from
    async with pool.acquire() as conn:
        return Invited(await requests_.get(conn, submitted.id), booked)


async def notice_on_open(pool: asyncpg.Pool, *, token: str, now: datetime, channel: str = "web",
                         record: bool = True) -> notice_templates.RenderedNotice | None:
    """The notice an invitation's link shows; the first opening of the link is kept as evidence (`record`:
    not for a HEAD request, which link previews send without anyone reading)."""
    async with pool.acquire() as conn:
        request = await requests_.find_by_token(conn, token)
        if request is None or request.invitation is None:
            return None
        if record:
            await invitation_evidence.record(conn, request_id=request.id, kind=EvidenceKind.link_opened, at=now,
                                             channel=channel)
        return await notice_templates.notice_for_request(conn, request.id)
