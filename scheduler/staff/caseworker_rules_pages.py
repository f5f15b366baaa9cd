"""A caseworker's own rules ("Meine Regeln"): a plain form for their preferred modes, buffer, personal caps,
blocked times, the concerns they take and their notice; preview on their open requests, save, activate, roll back.

The form builds policy/personal.py settings (no YAML); whatever would widen the team's rules comes back at the
field with its sentence (staff/personal_errors.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from scheduler import personal_rules, sites
from scheduler import teams as teams_
from scheduler.errors import NotFound
from scheduler.i18n import N_, babel_locale, translate
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser
from scheduler.policy import store
from scheduler.policy.personal import MAX_BLOCKED, PersonalInvalid, PersonalSettings, parse_personal
from scheduler.policy.rules import Mode
from scheduler.staff import auth, personal_errors, ui

routes = web.RouteTableDef()
OWNERS: Final = (Role.caseworker, Role.team_lead)
EMPTY_ROWS: Final = 2  # blank blocked-time rows offered below the filled ones (no JavaScript needed)
_NUMBERS: Final = ("buffer_minutes", "appointments_cap", "callbacks_cap", "lead_time")
_TEXT_LIMIT: Final = 100


@dataclass(frozen=True, slots=True)
class FormValues:
    """What the form shows: as stored (a version) or as typed (after a problem or a preview)."""

    take: frozenset[str] | None  # None: every concern the team takes
    modes: Mapping[str, frozenset[str]]
    numbers: Mapping[str, str]
    blocked: tuple[Mapping[str, str], ...]


def values_of(settings: PersonalSettings) -> FormValues:
    """The form's values for stored settings."""
    return FormValues(
        take=None if settings.concerns is None else frozenset(settings.concerns),
        modes={code: frozenset(m.value for m in modes) for code, modes in settings.modes},
        numbers={"buffer_minutes": str(settings.buffer_minutes),
                 **{n: "" if getattr(settings, n) is None else str(getattr(settings, n)) for n in _NUMBERS[1:]}},
        blocked=tuple({"weekday": str(b.weekday), "from": b.start.strftime("%H:%M"), "to": b.end.strftime("%H:%M"),
                       "label": b.label} for b in settings.blocked),
    )


def _number(text: str) -> int | str | None:
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 6 else text


def read_form(form: Mapping[str, Any], shown: list[str]) -> tuple[FormValues, dict[str, object], list[int]]:
    """The typed values, the settings' raw shape for parse_personal, and each raw blocked row's form row."""
    def many(name: str) -> frozenset[str]:
        getall = getattr(form, "getall", None)
        found = getall(name, []) if getall is not None else [form.get(name)] if form.get(name) else []
        return frozenset(str(v)[:_TEXT_LIMIT] for v in found)

    take = many("take")
    codes = dict.fromkeys([*shown, *(str(k)[6:_TEXT_LIMIT] for k in form if str(k).startswith("modes."))])
    modes = {code: many(f"modes.{code}") for code in codes}
    numbers = {n: ui.text(form, n, 20) for n in _NUMBERS}
    rows: list[dict[str, str]] = []
    for i in range(MAX_BLOCKED + EMPTY_ROWS):
        row = {k: ui.text(form, f"blocked_{k}_{i}", _TEXT_LIMIT).strip() for k in ("weekday", "from", "to", "label")}
        rows.append(row)
    filled = [i for i, r in enumerate(rows) if r["from"] or r["to"] or r["label"]]
    raw: dict[str, object] = {
        "modes": {code: sorted(ms) for code, ms in modes.items()},
        "buffer_minutes": _number(numbers["buffer_minutes"]) or 0,
        **{n: _number(numbers[n]) for n in _NUMBERS[1:]},
        "blocked": [{"weekday": _number(rows[i]["weekday"]), "from": rows[i]["from"], "to": rows[i]["to"],
                     "label": rows[i]["label"]} for i in filled],
        "concerns": None if take == frozenset(shown) else sorted(take),
    }
    typed = FormValues(take=None if take == frozenset(shown) else take, modes=modes, numbers=numbers,
                       blocked=tuple(rows[i] for i in filled))
    return typed, raw, filled


def _form_field(name: str, filled: list[int]) -> str:
    """The form's name for a settings field (a blocked row's index is its row in the form)."""
    if name.startswith("blocked[") and "]" in name:
        index, rest = name[8:].split("]", 1)
        if index.isdigit() and int(index) < len(filled):
            return f"blocked[{filled[int(index)]}]{rest}"
    return name


def _unplaced(errors: Mapping[str, str], frame: personal_rules.Frame) -> list[str]:
    """Problems of fields the form does not show (say, a concern the team does not take): shown at the top."""
    shown = {*_NUMBERS, "concerns", "blocked", *(f"{kind}.{code}" for code in frame.limits.concerns
                                                 for kind in ("take", "modes"))}
    return [text for name, text in errors.items() if name not in shown and not name.startswith("blocked[")]


async def _context(request: web.Request, user: StaffUser, lang: str) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        frame = await personal_rules.frame(conn, site=site, staff_id=user.id)
        versions = await personal_rules.versions(conn, site_id=user.site_id, staff_id=user.id)
        names = await teams_.staff_names(conn, user.site_id)
    days = babel_locale(lang).days["format"]["wide"]
    labels = ui.labels(lang)
    return {"frame": frame, "versions": versions, "names": names, "tz": site.timezone, "labels": labels,
            "mode_names": lambda modes: ", ".join(labels["mode"][m] for m in modes),
            "weekdays": [(i, str(days[i])) for i in range(7)], "modes": [m.value for m in Mode],
            "concern_label": lambda code: ui.concern_label(frame.concern_labels.get(code, {}), lang) or code,
            "empty_rows": EMPTY_ROWS, "errors": {}, "unplaced": [], "preview_rows": None}


@routes.get("/staff/my-rules", name="staff-my-rules")
@ui.pages
async def my_rules_page(request: web.Request) -> web.Response:
    """The caseworker's active settings (or a chosen version) in the form, with their versions."""
    user = await ui.page_user(request, *OWNERS)
    lang = ui.language(request, user)
    version_id = ui.optional_int(request.query.get("version"), "version")
    context = await _context(request, user, lang)
    versions: list[store.StoredPolicy] = context["versions"]
    shown = next((v for v in versions if v.id == version_id), None) or \
        next((v for v in versions if v.status is store.PolicyStatus.active), None)
    settings = shown.personal if shown is not None and shown.personal is not None else PersonalSettings()
    return ui.render(request, "my_rules.html", {**context, "values": values_of(settings), "shown": shown})


@routes.post("/staff/my-rules", name="staff-my-rules-submit")
@ui.pages
async def my_rules_submit(request: web.Request) -> web.StreamResponse:
    """Preview (shown at once), or save as draft / save and activate; problems come back at their fields."""
    user = await auth.require_staff(request, *OWNERS)
    lang = ui.language(request, user)
    form = await request.post()
    action = ui.text(form, "action", 20)
    context = await _context(request, user, lang)
    frame: personal_rules.Frame = context["frame"]
    typed, raw, filled = read_form(form, list(frame.limits.concerns))
    pool = request.app[POOL]
    try:
        settings = parse_personal(raw)
        if action in ("save", "activate"):
            saved = await personal_rules.save(pool, site_id=user.site_id, staff_id=user.id, settings=settings,
                                              activate=action == "activate")
            message = N_("Version %(version)s of your rules is active now.") if action == "activate" else \
                N_("Version %(version)s of your rules was saved as a draft.")
            return ui.see_other(ui.url(request, "staff-my-rules"),
                                flash=("ok", translate(lang, message, version=saved.version)))
        rows = await personal_rules.preview(pool, site_id=user.site_id, staff_id=user.id, settings=settings,
                                            now=datetime.now(UTC))
    except PersonalInvalid as e:
        errors = {_form_field(k, filled): v for k, v in personal_errors.by_field(e.errors, lang).items()}
        return ui.render(request, "my_rules.html", {**context, "values": typed, "shown": None, "errors": errors,
                                                    "unplaced": _unplaced(errors, frame)}, status=422)
    return ui.render(request, "my_rules.html", {**context, "values": typed, "shown": None, "preview_rows": rows})


@routes.post(r"/staff/my-rules/{policy_id:\d{1,18}}/activate", name="staff-my-rules-activate")
@ui.pages
async def my_rules_activate(request: web.Request) -> web.Response:
    """Make one of my earlier versions (or a draft) the active one: this is also the roll-back."""
    user = await auth.require_staff(request, *OWNERS)
    policy_id = ui.int_param(request.match_info["policy_id"], "policy_id")
    async with request.app[POOL].acquire() as conn:
        policy = await store.get(conn, policy_id)
    if policy.site_id != user.site_id or policy.scope is not store.Scope.caseworker or policy.staff_id != user.id:
        raise NotFound()  # someone else's rules are not there for me

    async def run() -> store.StoredPolicy:
        return await personal_rules.activate(request.app[POOL], site_id=user.site_id, staff_id=user.id,
                                             policy_id=policy_id)

    return await ui.perform(request, user, ui.url(request, "staff-my-rules"), run,
                            success=N_("The chosen version of your rules is active now."))
