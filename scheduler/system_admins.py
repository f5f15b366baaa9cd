"""The first system administrator of a deployment, from the command line.

Staff are otherwise created in the admin pages, which need someone signed in; on a new installation nobody is.
`python -m scheduler site admin-link USERNAME --site CODE` creates that person (or gives an existing admin the
flag) and hands out a one-time password link, the same link an administrator issues in the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from scheduler import audit, password_resets, sites, teams
from scheduler.permissions import Role

ACTOR = "cli:admin-link"


@dataclass(frozen=True, slots=True)
class AdminLink:
    username: str
    created: bool  # False: an existing account of that site was made system administrator
    link: str
    expires: datetime


class AdminLinkRefused(Exception):
    """Why no link was issued (unknown site, a username of another site, a single sign-on account)."""


async def issue(pool: asyncpg.Pool, *, site_code: str, username: str, display_name: str, deployment_url: str,
                now: datetime) -> AdminLink:
    """Create or promote the system administrator `username` at the site and issue their password link."""
    async with pool.acquire() as conn, conn.transaction():
        site = await sites.site_by_code(conn, site_code)
        if site is None:
            raise AdminLinkRefused(f"there is no site {site_code!r} (create it with `site apply FILE`)")
        account = await teams.account_by_username(conn, username)
        if account is None:
            staff_id = await teams.create_staff(conn, site_id=site.id, username=username,
                                                display_name=display_name or username, email=None, role=Role.admin,
                                                system_admin=True, team_id=None, languages=("de", "en"), sso=None)
        elif account.user.site_id != site.id:
            raise AdminLinkRefused(f"{username!r} works for another site")
        elif account.sso is not None:
            raise AdminLinkRefused(f"{username!r} signs in by single sign-on only and has no password")
        elif not account.active:
            raise AdminLinkRefused(f"{username!r} is deactivated")
        else:
            staff_id = account.user.id
            row = await teams.staff_account(conn, staff_id)
            await teams.update_staff(conn, staff_id, display_name=account.user.display_name,
                                     email=row["email"] if row else None,
                                     role=Role.admin, system_admin=True, team_id=account.user.team_id,
                                     languages=account.user.languages)
        token, expires = await password_resets.issue(conn, site_id=site.id, staff_id=staff_id, issued_by=None, now=now)
        await audit.record(conn, site_id=site.id, actor=ACTOR, action="staff.system_admin_link",
                           subject_type="staff", subject_id=staff_id, details={"created": account is None})
    link = f"{sites.public_url(site, deployment_url)}/staff/password/{token}"
    return AdminLink(username=username, created=account is None, link=link, expires=expires)
