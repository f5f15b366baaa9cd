"""Who may act on what: the pure checks in scheduler.permissions."""

from __future__ import annotations

import pytest

from scheduler.errors import Forbidden
from scheduler.permissions import Role, StaffUser, check_may_act, check_site, may_manage_team


def user(role: Role, *, team_id: int | None = 7, staff_id: int = 1) -> StaffUser:
    return StaffUser(id=staff_id, site_id=1, username="u", display_name="U", role=role, team_id=team_id,
                     languages=("de",))


@pytest.mark.parametrize(("role", "team_id", "staff_id", "allowed"), [
    (Role.caseworker, None, 1, True),      # own item
    (Role.caseworker, 7, None, True),      # team's unassigned item
    (Role.caseworker, 7, 2, False),        # a colleague's item
    (Role.team_lead, 7, 2, True),          # leads act on their team's items
    (Role.team_lead, 8, 2, False),
    (Role.admin, 8, 2, True),
])
def test_check_may_act(role: Role, team_id: int | None, staff_id: int | None, allowed: bool) -> None:
    if allowed:
        check_may_act(user(role), site_id=1, team_id=team_id, staff_id=staff_id)
    else:
        with pytest.raises(Forbidden):
            check_may_act(user(role), site_id=1, team_id=team_id, staff_id=staff_id)


def test_another_site_is_refused_even_for_admins() -> None:
    with pytest.raises(Forbidden):
        check_may_act(user(Role.admin), site_id=2, team_id=None, staff_id=None)
    with pytest.raises(Forbidden):
        check_site(user(Role.admin), 2)


def test_may_manage_team() -> None:
    assert may_manage_team(user(Role.team_lead), 7)
    assert not may_manage_team(user(Role.team_lead), 8)
    assert may_manage_team(user(Role.admin), 8)
