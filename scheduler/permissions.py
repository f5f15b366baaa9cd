"""Who may do what: staff roles, the signed-in staff member, and the checks domain commands run.

No web code here: domain modules (approvals, …) check permissions without importing the staff pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scheduler.errors import Forbidden


class Role(StrEnum):
    caseworker = "caseworker"
    team_lead = "team_lead"
    admin = "admin"


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: int
    site_id: int
    username: str
    display_name: str
    role: Role
    team_id: int | None
    languages: tuple[str, ...]
    system_admin: bool = False  # also sets up sites and the staff of every site (never another site's cases)

    @property
    def actor(self) -> str:
        """How this user is named in audit rows."""
        return f"staff:{self.id}"


def check_site(user: StaffUser, site_id: int) -> None:
    """Refuse access to another site's data."""
    if user.site_id != site_id:
        raise Forbidden()


def check_may_act(user: StaffUser, *, site_id: int, team_id: int | None, staff_id: int | None) -> None:
    """Caseworkers act on their own items and their team's unassigned ones; leads on their team's; admins on all."""
    check_site(user, site_id)
    if user.role is Role.admin:
        return
    if staff_id == user.id:
        return
    if team_id is not None and team_id == user.team_id and (staff_id is None or user.role is Role.team_lead):
        return
    raise Forbidden()


def check_system_admin(user: StaffUser) -> None:
    """Only system administrators set up sites and the staff of other sites."""
    if not (user.system_admin and user.role is Role.admin):
        raise Forbidden()


def check_may_list_team(user: StaffUser, team_id: int | None) -> None:
    """A team's lists are for its members; admins may list any team of their site (None: the whole site)."""
    if user.role is Role.admin:
        return
    if team_id is None or team_id != user.team_id:
        raise Forbidden()


def may_manage_team(user: StaffUser, team_id: int | None) -> bool:
    """Whether a lead or admin may change this team's rules: admins any team's, leads their own team's."""
    return user.role is Role.admin or team_id == user.team_id
