"""The rule builder's field table: one row per control of a rule set's form (issue 16, "Rule builder").

Each row names the field as the rule set's YAML does, how the form shows it (its widget), its label and help
text, and where its choices come from. rule_form.py converts between the form and the rule set by these rows,
and the template draws them; adding a rule field to the builder is adding one row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from scheduler.i18n import N_


class Widget(StrEnum):
    choices = "choices"      # check boxes; none ticked: the field is not set
    yes_no = "yes_no"        # a select of "not set", yes, no
    number = "number"        # a whole number
    minutes = "minutes"      # a duration, typed in minutes (the YAML says 20m, 1h30m)
    workdays = "workdays"    # a number of workdays
    bounds = "bounds"        # "at least" and "below" of a whole number (age, no-shows)
    route = "route"          # one select: the assigned caseworker, a team or a caseworker
    follow_up = "follow_up"  # nothing, a task, or a new invitation after N workdays
    select = "select"        # one of a few values


class Source(StrEnum):
    """Where a choices or select field takes its options from (rules_pages.py fills them per site)."""

    concern = "concern"
    language = "language"
    channel = "channel"
    kind = "kind"
    need = "need"
    mode = "mode"
    tie_break = "tie_break"
    group = "group"  # the office's active customer groups
    none = ""


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # as in the YAML section
    widget: Widget
    label: str  # N_ message ids
    help: str
    source: Source = Source.none
    low: str = ""  # bounds: the labels of the "at least" and "below" inputs
    high: str = ""


_AT_LEAST = N_("at least")
_BELOW = N_("below")

WHEN: Final[tuple[Field, ...]] = (
    Field("concern", Widget.choices, N_("Concern"), N_("The rule applies to requests about one of the ticked "
                                                       "concerns. None ticked: any concern."), Source.concern),
    Field("age", Widget.bounds, N_("Age"), N_("The client's age in years, when it is known. Empty: any age."),
          low=N_("from age"), high=N_("under age")),
    Field("channel", Widget.choices, N_("Channel"), N_("How the request came in. None ticked: any channel."),
          Source.channel),
    Field("language", Widget.choices, N_("Language"), N_("The language the client chose. None ticked: any "
                                                         "language."), Source.language),
    Field("kind", Widget.choices, N_("Kind"), N_("Appointment requests, callback requests, or both."),
          Source.kind),
    Field("urgent", Widget.yes_no, N_("Urgent concern"), N_("Whether the concern is one the office marks as "
                                                            "urgent.")),
    Field("needs", Widget.choices, N_("Client needs"), N_("Applies when the client needs at least one of the "
                                                          "ticked things."), Source.need),
    Field("invitation", Widget.yes_no, N_("Invitation"), N_("Yes: a caseworker invited the client. No: the "
                                                            "client asked on their own.")),
    Field("no_shows", Widget.bounds, N_("Earlier no-shows"), N_("How often the client did not come to an "
                                                                "appointment in the last 12 months."),
          low=_AT_LEAST, high=_BELOW),
    Field("groups", Widget.choices, N_("Customer groups"), N_("Applies when the client belongs to at least one "
                                                              "of the ticked groups. None ticked: any client."),
          Source.group),
)

_PRIORITY = Field("priority", Widget.number, N_("Priority"), N_("0 to 100; higher comes first in the queue."))
_ROUTE = Field("route", Widget.route, N_("Goes to"), N_("The client's own caseworker (if there is one), a team "
                                                        "or a caseworker."))
_DURATION = Field("duration", Widget.minutes, N_("Duration (minutes)"), N_("How long the appointment is, "
                                                                           "5 to 240 minutes."))
_LEAD_TIME = Field("lead_time", Widget.workdays, N_("Earliest after (workdays)"),
                   N_("The first proposed time is at least this many workdays away; 0 allows today."))
_WITHIN = Field("within", Widget.workdays, N_("Latest within (workdays)"),
                N_("Proposed times lie within this many workdays; not less than the earliest."))
_MODES = Field("modes", Widget.choices, N_("Ways to meet"), N_("In person, by phone or by video; the client's "
                                                               "wish narrows them."), Source.mode)
_PROPOSE = Field("propose", Widget.number, N_("Number of proposals"), N_("How many times the client is "
                                                                         "offered, 1 to 10."))
_FOLLOW_UP = Field("follow_up", Widget.follow_up, N_("After a no-show"),
                   N_("What follows when the client does not come, or a callback ends unreachable."))

THEN: Final[tuple[Field, ...]] = (
    _PRIORITY, _ROUTE, _DURATION, _LEAD_TIME, _WITHIN, _MODES, _PROPOSE,
    Field("auto_confirm", Widget.yes_no, N_("Book automatically"),
          N_("Yes: the first proposed time is booked without a caseworker; only a team's own rule can do this.")),
    _FOLLOW_UP,
    Field("walk_in", Widget.yes_no, N_("Walk-in ticket"),
          N_("Yes: the kiosk may hand out a ticket to be seen the same day.")),
)
# What no rule sets: the same settings, without what only a rule may switch on.
DEFAULTS: Final[tuple[Field, ...]] = (_PRIORITY, _ROUTE, _DURATION, _LEAD_TIME, _WITHIN, _MODES, _PROPOSE,
                                      _FOLLOW_UP)
ORDERING: Final[tuple[Field, ...]] = (
    Field("aging_per_workday", Widget.number, N_("Aging per workday"),
          N_("Priority points a waiting request gains each workday, 0 to 100.")),
    Field("tie_break", Widget.select, N_("Equal priority"), N_("Which request comes first when priorities are "
                                                               "equal."), Source.tie_break),
)
CAPS: Final[tuple[Field, ...]] = (
    Field("appointments_per_caseworker_per_day", Widget.number, N_("Appointments per caseworker and day"),
          N_("At most this many appointments are booked for one caseworker on one day, 1 to 100.")),
    Field("callbacks_per_caseworker_per_day", Widget.number, N_("Callbacks per caseworker and day"),
          N_("At most this many callbacks are planned for one caseworker on one day, 1 to 100.")),
)
CALLBACKS: Final[tuple[Field, ...]] = (
    Field("retry_after", Widget.minutes, N_("Try again after (minutes)"),
          N_("When a call is not answered, the next try comes this much later, 5 minutes to 24 hours.")),
    Field("max_attempts", Widget.number, N_("Attempts"), N_("How often the office calls before the callback "
                                                            "ends unreachable, 1 to 10.")),
)

# The sections of the whole rule set besides its rules: name, heading, fields.
SECTIONS: Final[tuple[tuple[str, str, tuple[Field, ...]], ...]] = (
    ("defaults", N_("When no rule sets it"), DEFAULTS),
    ("ordering", N_("Order of the queue"), ORDERING),
    ("caps", N_("Caps"), CAPS),
    ("callbacks", N_("Callbacks"), CALLBACKS),
)

# Words of the controls themselves.
NOT_SET: Final = N_("not set")
YES: Final = N_("yes")
NO: Final = N_("no")
ROUTE_ASSIGNED: Final = N_("the client's own caseworker")
ROUTE_TEAMS: Final = N_("Teams")
ROUTE_CASEWORKERS: Final = N_("Caseworkers")
FOLLOW_UP_NONE: Final = N_("nothing")
FOLLOW_UP_TASK: Final = N_("a task for the caseworker")
FOLLOW_UP_INVITE: Final = N_("a new invitation")
FOLLOW_UP_LEAD: Final = N_("invitation after (workdays)")
KIND_LABELS: Final = {"appointment": N_("Appointment"), "callback": N_("Callback")}
TIE_BREAK_LABELS: Final = {"oldest_first": N_("the older request first"),
                           "newest_first": N_("the newer request first")}
