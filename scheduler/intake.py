"""Intake: the single entry point for every channel (web, kiosk, phone, SMS, staff).

Channels parse what they received into an `Intake` with `parse_intake` and call `submit`; the same
validation, policy and notices apply whatever the channel.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import asyncpg

from scheduler import (
    addresses,
    audit,
    callbacks,
    clients,
    email_addresses,
    idempotency,
    letter_triggers,
    needs,
    notice_templates,
    notices,
    outbox,
    phones,
    planning,
    references,
    sites,
)
from scheduler import requests as requests_
from scheduler.errors import ValidationFailed
from scheduler.holds import Holds, Scope
from scheduler.i18n import LANGUAGES, N_, normalise
from scheduler.metrics import INTAKE
from scheduler.policy.rules import Channel, Kind

T = TypeVar("T")

CHANNELS = tuple(Channel)
MODES = ("in_person", "phone", "video")
PARTS = ("morning", "afternoon")
# Bidirectional overrides can make a note display differently from what was stored.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CUSTOMER_NUMBER = re.compile(r"^[0-9]{3}[A-Z][0-9]{6}$")


@dataclass(frozen=True, slots=True)
class Intake:
    site: str
    kind: Kind
    channel: Channel
    concern: str
    phone: str
    language: str = "de"
    modes: tuple[str, ...] = ()
    windows: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    sms_consent: bool = False
    customer_number: str | None = None
    name: str | None = None
    idempotency_key: str | None = None     # sent by the client: bound to its number and body
    server_key: str | None = None          # made by the server (never from a client's input)
    created_by: int | None = None          # staff id, for invitations
    invitation: str | None = None          # voluntary | mandatory
    notice_text: str | None = None
    notice: notice_templates.Chosen | None = None  # invitations: attached in the invitation's own transaction
    route_staff_id: int | None = None      # invitations go to the inviting caseworker
    postal_address: addresses.Address | None = None  # invitations: where a letter goes (given by staff)
    electronic_consent: bool = False       # invitations: staff recorded consent to electronic notice
    email: str | None = None               # appointment requests where the site allows e-mail (email_addresses)
    needs: tuple[str, ...] = ()            # appointment requests: policy.rules.Need values (needs.py)
    interpreter_language: str | None = None


def _fingerprint(intake: Intake) -> str | None:
    if not intake.idempotency_key:
        return None
    return idempotency.fingerprint({
        "site": intake.site, "kind": intake.kind.value, "channel": str(intake.channel), "concern": intake.concern,
        "phone": intake.phone, "language": intake.language, "modes": list(intake.modes),
        "windows": dict(intake.windows), "note": intake.note, "sms_consent": intake.sms_consent,
        "customer_number": intake.customer_number, "name": intake.name,
        **({"email": intake.email} if intake.email else {}),
        **({"needs": list(intake.needs), "interpreter_language": intake.interpreter_language} if intake.needs else {})})


@dataclass(frozen=True, slots=True)
class Submitted:
    kind: Kind
    id: int
    reference: str
    link_token: str
    status: str
    language: str


def clean_text(value: object, *, name: str, limit: int, multiline: bool = False,
               errors: dict[str, str]) -> str:
    """Free text as stored: trimmed, NFC, no control or direction-override characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[name] = N_("Please enter text here.")
        return ""
    text = unicodedata.normalize("NFC", value).strip()
    allowed = "\n\t" if multiline else ""
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text) or _BIDI_CONTROLS.search(text):
        errors[name] = N_("This text contains characters we cannot store. Please type it again.")
        return ""
    if len(text) > limit:
        errors[name] = N_("This text is too long.")
        return ""
    return text


def parse_intake(data: Mapping[str, Any], *, kind: Kind, channel: Channel | str, default_site: str,
                 countries: Collection[str] = ("DE",), phone_optional: bool = False) -> Intake:
    """Validate a client's submission (JSON, form or kiosk) into an Intake; field errors are collected.

    The phone number must be from one of `countries` (config sms.allowed_countries).

    Unknown keys (such as `status`) are ignored: a client cannot set what staff decide.
    """
    errors: dict[str, str] = {}
    concern = data.get("concern")
    if not isinstance(concern, str) or not re.fullmatch(r"[a-z0-9_]{2,40}", concern):
        errors["concern"] = N_("Please choose what it is about.")
        concern = ""
    language = normalise(data.get("language") if isinstance(data.get("language"), str) else None)
    if isinstance(data.get("language"), str) and data["language"] not in LANGUAGES and \
            data["language"].split("-")[0] not in LANGUAGES:
        errors["language"] = N_("Please choose a language from the list.")
    raw_phone = data.get("phone")
    phone = ""
    try:
        if not (phone_optional and raw_phone in (None, "")):  # staff may invite by customer number and name
            phone = phones.normalise(raw_phone if isinstance(raw_phone, str) else "",
                                     landline_ok=kind is Kind.callback, countries=countries)
    except ValidationFailed as e:
        errors.update(e.fields)
    modes = data.get("modes") or []
    if not isinstance(modes, list) or not all(m in MODES for m in modes):
        errors["modes"] = N_("Please choose how you want to talk to us.")
        modes = []
    windows = _parse_windows(data.get("windows") or {}, errors)
    note = clean_text(data.get("note"), name="note", limit=500, multiline=True, errors=errors)
    name, customer, consent, key = _parse_person(data, errors)
    email = email_addresses.parse(data.get("email"), errors) if kind is Kind.appointment else None
    chosen_needs, interpreter = needs.parse(data.get("needs"), data.get("interpreter_language"), errors) \
        if kind is Kind.appointment else ((), None)
    if not phone and "phone" not in errors and not (customer and name):
        errors["customer_number"] = N_("Without a mobile number, please give the customer number and the name.")
    site = data.get("site") or default_site
    if not isinstance(site, str) or not re.fullmatch(r"[a-z0-9-]{2,40}", site):
        errors["site"] = N_("This office is unknown.")
    if errors:
        raise ValidationFailed(fields=errors)
    return Intake(site=str(site), kind=kind, channel=Channel(channel), concern=str(concern), phone=phone,
                  language=language, modes=tuple(dict.fromkeys(modes)), windows=windows, note=note,
                  sms_consent=bool(consent), customer_number=customer, name=name, idempotency_key=key, email=email,
                  needs=chosen_needs, interpreter_language=interpreter)


def _parse_person(data: Mapping[str, Any], errors: dict[str, str]) -> tuple[str | None, str | None, object, Any]:
    """Name, customer number, SMS consent and idempotency key, each optional."""
    name = clean_text(data.get("name"), name="name", limit=100, errors=errors) or None
    customer = clean_text(data.get("customer_number"), name="customer_number", limit=20, errors=errors) or None
    if customer is not None:
        customer = customer.replace(" ", "").upper()
        if not _CUSTOMER_NUMBER.match(customer):
            errors["customer_number"] = N_("A customer number looks like 123A456789.")
    consent = data.get("sms_consent", False)
    if not isinstance(consent, bool):
        errors["sms_consent"] = N_("Please say yes or no.")
    key = data.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 8 <= len(key) <= 100):
        errors["idempotency_key"] = N_("This value is not valid.")
    return name, customer, consent, key


def _parse_windows(raw: object, errors: dict[str, str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        errors["windows"] = N_("Please choose when you can come.")
        return {}
    out: dict[str, Any] = {}
    weekdays = raw.get("weekdays") or []
    if not isinstance(weekdays, list) or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 4
                                                 for d in weekdays):
        errors["windows.weekdays"] = N_("Please choose days from Monday to Friday.")
    elif weekdays:
        out["weekdays"] = sorted(set(weekdays))
    parts = raw.get("parts") or []
    if not isinstance(parts, list) or not all(p in PARTS for p in parts):
        errors["windows.parts"] = N_("Please choose morning or afternoon.")
    elif parts:
        out["parts"] = sorted(set(parts))
    for name in ("date_from", "date_to"):
        value = raw.get(name)
        if value in (None, ""):
            continue
        try:
            out[name] = date.fromisoformat(str(value)).isoformat()
        except ValueError:
            errors[f"windows.{name}"] = N_("Please enter a date like 2026-12-01.")
    if out.get("date_from") and out.get("date_to") and out["date_from"] > out["date_to"]:
        errors["windows.date_to"] = N_("The last day must not be before the first day.")
    return out


async def _concern(conn: asyncpg.Connection, site: sites.Site, code: str,
                   channel: Channel, setups: sites.SetupCache | None) -> sites.Concern:
    concern = (await sites.setup(conn, site, setups)).concerns.get(code)
    if concern is None or channel not in concern.channels:
        raise ValidationFailed(fields={"concern": N_("Please choose what it is about.")})
    return concern


async def submit(pool: asyncpg.Pool, intake: Intake, *, now: datetime, reminder_offsets: tuple[timedelta, ...] = (),
                 limit_phone: Callable[[asyncpg.Pool, str], Awaitable[None]] | None = None,
                 holds: Holds | None = None, setups: sites.SetupCache | None = None,
                 site: sites.Site | None = None) -> Submitted:
    """Store a new request or callback, run the policy, store its plan and queue the notices.

    Retrying with the same idempotency key (and the same number and body) returns the first result and writes
    nothing new; the same key with anything else is refused (see idempotency.py). Name and customer number
    from a client's channel are stored with the request as unverified, never on the client. `limit_phone`
    (the per-number rate limit of the client channels) runs first, before the transaction takes a
    connection: a number that is being flooded costs no transaction. `holds` and `setups` are the process's
    (the app's) recent proposals and site setup cache; without them, nothing is shared with other intakes.
    `site` is the office named by `intake.site` when the caller has just read it (a channel that chose the office
    by its address): the transaction then does not read it again.
    """
    if site is not None and site.code != intake.site:
        raise ValueError(f"site {site.code!r} given for an intake of {intake.site!r}")
    if limit_phone is not None:
        await limit_phone(pool, intake.phone)
    # The holds wrap the transaction: the slots it proposes count as held for this process's other searches
    # until they can see them in the database.
    with (holds if holds is not None else Holds()).transaction() as held:
        async with pool.acquire() as conn, conn.transaction():
            if site is None:
                site = await sites.site_by_code(conn, intake.site)
            if site is None:
                raise ValidationFailed(fields={"site": N_("This office is unknown.")})
            earlier = await _earlier(conn, site.id, intake)
            if earlier is not None:
                return earlier
            concern = await _concern(conn, site, intake.concern, intake.channel, setups)
            client = await _client(conn, site.id, intake)
            if intake.kind is Kind.callback:
                result = await _submit_callback(conn, site, intake, concern, client, now=now)
            else:
                result = await _submit_request(conn, site, intake, concern, client, now=now,
                                               reminder_offsets=reminder_offsets, held=held, setups=setups)
    INTAKE.labels(intake.kind.value, intake.channel).inc()
    return result


async def _client(conn: asyncpg.Connection, site_id: int, intake: Intake) -> clients.Client:
    if intake.phone:
        return await clients.upsert_by_phone(
            conn, site_id=site_id, phone=intake.phone, language=intake.language,
            staff=intake.created_by is not None, sms_consent=intake.sms_consent)
    # Only staff invite without a number: their customer number and name are verified.
    if intake.kind is not Kind.appointment or intake.created_by is None or not intake.customer_number:
        raise ValidationFailed(fields={"phone": N_("Please enter a mobile number, so that we can send you an SMS.")})
    return await clients.upsert_by_customer_number(conn, site_id=site_id, customer_number=intake.customer_number,
                                                   name=intake.name, language=intake.language)


async def _earlier(conn: asyncpg.Connection, site_id: int, intake: Intake) -> Submitted | None:
    found = await idempotency.find_earlier(conn, site_id, callback=intake.kind is Kind.callback,
                                           client_key=intake.idempotency_key, server_key=intake.server_key,
                                           bound_to=_fingerprint(intake))
    if found is None:
        return None
    kind = Kind.callback if isinstance(found, callbacks.Callback) else Kind.appointment
    return Submitted(kind, found.id, found.reference, found.link_token, found.status.value, found.language)


async def _insert_with_fresh_codes(conn: asyncpg.Connection, site_id: int, intake: Intake,
                                   insert: Callable[[str, str], Awaitable[T | None]]) -> T | Submitted:
    """Run an insert with a new reference and link token.

    The insert does nothing when a unique value is taken: then either a retry with the same idempotency key
    won (its result is returned), or a code was taken, and new ones are drawn.
    """
    for _ in range(3):
        inserted = await insert(references.new_reference(), references.new_link_token())
        if inserted is not None:
            return inserted
        earlier = await _earlier(conn, site_id, intake)
        if earlier is not None:
            return earlier
    raise RuntimeError("three references in a row were taken")


async def _submit_request(conn: asyncpg.Connection, site: sites.Site, intake: Intake,
                          concern: sites.Concern, client: clients.Client, *, now: datetime,
                          reminder_offsets: tuple[timedelta, ...], held: Scope,
                          setups: sites.SetupCache | None) -> Submitted:
    # Plan first, then store request, decision, proposals and audit rows in one statement.
    route = (None, intake.route_staff_id) if intake.route_staff_id else None
    plan = await planning.make_plan(
        conn, site=site, kind=Kind.appointment, concern_code=intake.concern, urgent=concern.urgent,
        channel=intake.channel, language=intake.language, modes=intake.modes, client=client, received_at=now,
        now=now, route=route, setups=setups, needs=intake.needs, invitation=intake.invitation is not None)
    slots = await planning.find_slots(conn, site=site, plan=plan, language=intake.language,
                                      windows=dict(intake.windows), now=now, hold=held)
    auto_book = plan.auto_confirm and bool(slots)
    proposals = [] if auto_book else slots
    actor = f"staff:{intake.created_by}" if intake.created_by else f"client:{intake.channel}"
    events: list[tuple[str, str, Mapping[str, object]]] = [
        (actor, "request.received", {"channel": intake.channel, "concern": intake.concern})]
    if proposals:
        events.append(("policy", "request.proposed", {"proposals": len(proposals)}))
    new = requests_.NewRequest(
        site_id=site.id, client_id=client.id, concern_id=concern.id, channel=intake.channel,
        language=intake.language, modes=list(intake.modes), windows=intake.windows, note=intake.note,
        idempotency_key=intake.idempotency_key, invitation=intake.invitation, notice_text=intake.notice_text,
        created_by=intake.created_by, server_key=intake.server_key, idempotency_hash=_fingerprint(intake),
        sms_consent=intake.sms_consent, claimed_name=intake.name, claimed_customer_number=intake.customer_number,
        status=requests_.Status.proposed if proposals else requests_.Status.received,
        decision=plan.decision, team_id=plan.team_id, staff_id=plan.staff_id, deadline_at=plan.deadline_at,
        policy_ids=plan.policy_ids, proposals=proposals, events=events, needs=intake.needs,
        interpreter_language=intake.interpreter_language)

    def receipt(reference: str, token: str) -> outbox.Receipt | None:
        if intake.invitation is not None:  # an invitation's message goes out when a time is chosen
            return None
        return notices.request_receipt(client, reference=reference, link_token=token, consent=intake.sms_consent)

    stored = await _insert_with_fresh_codes(
        conn, site.id, intake, lambda reference, token: requests_.insert(
            conn, new, reference=reference, link_token=token, receipt=receipt(reference, token)))
    if isinstance(stored, Submitted):  # a concurrent retry with the same key won the insert
        return stored
    status = stored.status
    if intake.email:  # before an auto-booking, whose invite may go to a staff-given address
        await email_addresses.given(conn, site_id=site.id, client_id=client.id, request_id=stored.id,
                                    email=intake.email, channel=intake.channel, staff_id=intake.created_by,
                                    language=intake.language, link_token=stored.link_token, now=now)
    if auto_book:
        await planning.book(conn, request=stored, slot=slots[0], actor=planning.AUTO_CONFIRM, now=now,
                            reminder_offsets=reminder_offsets)
        status = requests_.Status.scheduled
    if intake.notice is not None and intake.created_by is not None:
        await notice_templates.attach_new(conn, request_id=stored.id, site_id=site.id, chosen=intake.notice,
                                          staff_id=intake.created_by, now=now)
    if intake.invitation is not None:
        await letter_triggers.invitation_created(
            conn, site_id=site.id, client_id=client.id, phone=client.phone, request_id=stored.id,
            invitation=intake.invitation, address=intake.postal_address, electronic_consent=intake.electronic_consent,
            staff_id=intake.created_by, now=now)
    return Submitted(Kind.appointment, stored.id, stored.reference, stored.link_token, status.value,
                     intake.language)


async def _submit_callback(conn: asyncpg.Connection, site: sites.Site, intake: Intake,
                           concern: sites.Concern, client: clients.Client, *, now: datetime) -> Submitted:
    stored = await _insert_with_fresh_codes(conn, site.id, intake, lambda reference, token: callbacks.insert(
        conn, site_id=site.id, client_id=client.id, concern_id=concern.id, channel=intake.channel,
        reference=reference, link_token=token, phone=intake.phone, language=intake.language,
        windows=intake.windows, note=intake.note, idempotency_key=intake.idempotency_key,
        server_key=intake.server_key, idempotency_hash=_fingerprint(intake), sms_consent=intake.sms_consent,
        claimed_name=intake.name, claimed_customer_number=intake.customer_number))
    if isinstance(stored, Submitted):  # a concurrent retry with the same key won the insert
        return stored
    callback_id, reference, token = stored
    await audit.record(conn, site_id=site.id, actor=f"client:{intake.channel}", action="callback.received",
                       subject_type="callback", subject_id=callback_id,
                       details={"channel": intake.channel, "concern": intake.concern})
    plan = await planning.make_plan(
        conn, site=site, kind=Kind.callback, concern_code=intake.concern, urgent=concern.urgent,
        channel=intake.channel, language=intake.language, modes=("phone",), client=client, received_at=now, now=now)
    first_call = max(now, _window_start(intake.windows, site, now))
    await callbacks.store_decision(conn, callback_id, decision=plan.decision, team_id=plan.team_id,
                                   staff_id=plan.staff_id, deadline_at=plan.deadline_at, next_attempt_at=first_call,
                                   policy_ids=plan.policy_ids)
    await notices.request_received(conn, client=client, request_id=callback_id, reference=reference,
                                   link_token=token, kind="callback", consent=intake.sms_consent)
    return Submitted(Kind.callback, callback_id, reference, token, callbacks.CallbackStatus.open.value,
                     intake.language)


def _window_start(windows: Mapping[str, Any], site: sites.Site, now: datetime) -> datetime:
    if windows.get("date_from"):
        return site.calendar().day_start(date.fromisoformat(windows["date_from"]))
    return now
