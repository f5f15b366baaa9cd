"""The staff account form (create and edit): its fields read, checked and named in field errors.

Every field is read with a size limit; every refusal names its field, so the form comes back with the message
next to it and nothing is stored.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

from multidict import MultiDictProxy

from scheduler import email_addresses
from scheduler.errors import ValidationFailed
from scheduler.i18n import LANGUAGES, N_
from scheduler.permissions import Role, StaffUser
from scheduler.staff import ui

USERNAME: Final = re.compile(r"[a-z0-9._-]{2,60}")  # the CHECK on staff.username (migration 0001)
NAME_LIMIT: Final = 100
FIELD_LIMIT: Final = 400  # read this much, so that "too long" is said rather than cut
SYSTEM_ADMIN: Final = "system_admin"  # the role choice for an admin with the system flag
ROLE_CHOICES: Final = (Role.caseworker.value, Role.team_lead.value, Role.admin.value, SYSTEM_ADMIN)
SIGN_IN_CHOICES: Final = ("password", "sso")

BAD_USERNAME: Final = N_("Please enter a username of 2 to 60 lowercase letters, digits, “.”, “_” or “-”, for "
                         "example a.schmidt.")
USERNAME_TAKEN: Final = N_("This username is already taken. Please choose another one.")
BAD_NAME: Final = N_("Please enter the name as colleagues should see it, at most 100 characters.")
BAD_ROLE: Final = N_("Please choose one of the roles offered.")
BAD_TEAM: Final = N_("Please choose a team of this office, or no team.")
BAD_LANGUAGES: Final = N_("Please choose at least one language this person speaks with clients.")
BAD_SIGN_IN: Final = N_("Please choose how this account signs in.")
OWN_ROLE: Final = N_("You cannot change your own role.")


@dataclass(frozen=True, slots=True)
class StaffFields:
    """What the form says about a staff member (username and sign-in only when creating)."""

    display_name: str
    email: str | None
    role: Role
    system_admin: bool
    team_id: int | None
    languages: tuple[str, ...]
    username: str = ""
    sso: str | None = None

    @property
    def role_choice(self) -> str:
        """The role as the form's select names it."""
        return SYSTEM_ADMIN if self.system_admin else self.role.value


def role_choices(user: StaffUser) -> tuple[str, ...]:
    """The roles this admin may give: "system administrator" only to system administrators."""
    return ROLE_CHOICES if user.system_admin else ROLE_CHOICES[:-1]


def typed(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The values as sent, to show the form again after a refusal."""
    values: dict[str, Any] = {name: ui.text(form, name, FIELD_LIMIT)
                              for name in ("username", "display_name", "email", "role", "team_id", "sign_in")}
    values["languages"] = [v for v in form.getall("languages", []) if isinstance(v, str)][:len(LANGUAGES)]
    return values


def read(form: MultiDictProxy[Any], *, user: StaffUser, team_ids: Collection[int], creating: bool,
         sso_enabled: bool) -> StaffFields:
    """The checked fields, or ValidationFailed naming every field that is wrong."""
    problems: dict[str, str] = {}
    values = typed(form)
    username = values["username"].strip().lower()
    if creating and not USERNAME.fullmatch(username):
        problems["username"] = BAD_USERNAME
    display_name = " ".join(values["display_name"].split())
    if not display_name or len(display_name) > NAME_LIMIT or not display_name.isprintable():
        problems["display_name"] = BAD_NAME
    email = email_addresses.parse(values["email"], problems)
    role_choice = values["role"]
    if role_choice not in role_choices(user):
        problems["role"] = BAD_ROLE
    team_id: int | None = None
    if values["team_id"]:
        team_id = int(values["team_id"]) if values["team_id"].isdigit() and len(values["team_id"]) < 19 else -1
        if team_id not in team_ids:
            problems["team_id"] = BAD_TEAM
    chosen = set(values["languages"])
    languages = tuple(lang for lang in LANGUAGES if lang in chosen)
    if not languages or not chosen <= set(LANGUAGES):
        problems["languages"] = BAD_LANGUAGES
    sso: str | None = None
    if creating:
        if values["sign_in"] not in SIGN_IN_CHOICES or (values["sign_in"] == "sso" and not sso_enabled):
            problems["sign_in"] = BAD_SIGN_IN
        # Single sign-on only: linked on the first sign-in whose username claim matches (and carries the group).
        sso = "username" if values["sign_in"] == "sso" else None
    if problems:
        raise ValidationFailed(fields=problems)
    return StaffFields(display_name=display_name, email=email,
                       role=Role.admin if role_choice == SYSTEM_ADMIN else Role(role_choice),
                       system_admin=role_choice == SYSTEM_ADMIN, team_id=team_id, languages=languages,
                       username=username, sso=sso)
