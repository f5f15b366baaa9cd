"""Command line: python -m scheduler serve | migrate | seed-demo | backup FILE | restore FILE | policy check FILE |
site apply FILE | site admin-link USERNAME --site CODE."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from pathlib import Path

import asyncpg
from aiohttp import web

from scheduler import db, logs, startup_checks
from scheduler.app import ROLES, create_app
from scheduler.config import Config, ConfigError, load_config

log = logging.getLogger("scheduler")

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _history_weeks(text: str) -> int:
    from scheduler.demo_history import HistoryWeeksInvalid, parse_weeks

    try:
        return parse_weeks(text)
    except HistoryWeeksInvalid as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scheduler", description=__doc__)
    parser.add_argument("--config", type=Path, default=PROJECT_DIR / "config.yaml",
                        help="settings file (default: config.yaml in the project)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web service and/or the workers")
    serve.add_argument("--role", choices=ROLES, default="all",
                       help="all (default): web and workers; web: pages and API only; worker: periodic jobs only")
    serve.add_argument("--demo", action="store_true",
                       help="load the demo site if the database has none; allow its published passwords and tokens")
    serve.add_argument("--port", type=int, help="override server.port")
    sub.add_parser("migrate", help="apply pending migrations")
    seed = sub.add_parser("seed-demo", help="load the demo site (no-op if present)")
    seed.add_argument("--history", type=_history_weeks, metavar="Nw",
                      help="also fill N weeks (1w to 52w) of demo history before now, once per site (e.g. 12w)")
    seed.add_argument("--sites", type=int, choices=(1, 2), default=1,
                      help="2: also load a second office (Jobcenter Nordstadt) beside the first, to try isolation")
    dump = sub.add_parser("backup", help="write the database to FILE with pg_dump (custom format)")
    dump.add_argument("file", type=Path)
    load = sub.add_parser("restore", help="load FILE into an empty database with pg_restore")
    load.add_argument("file", type=Path)
    load.add_argument("--database-url", help="the empty target database (default: DATABASE_URL / database.url)")
    policy = sub.add_parser("policy", help="rule set tools")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="validate a rule set YAML file and print every problem")
    check.add_argument("file", type=Path)
    site = sub.add_parser("site", help="set up offices")
    site_sub = site.add_subparsers(dest="site_command", required=True)
    site_apply = site_sub.add_parser("apply", help="create or change the sites a YAML file describes (idempotent)")
    site_apply.add_argument("file", type=Path)
    admin_link = site_sub.add_parser("admin-link", help="create or promote a system administrator of a site and "
                                     "print a one-time link to set their password")
    admin_link.add_argument("username")
    admin_link.add_argument("--site", required=True, help="the code of the site they work for")
    admin_link.add_argument("--name", default="", help="display name of a new account (default: the username)")
    return parser


def with_database(config: Config) -> Config:
    """The config with a database URL: the external one, or the embedded server started now."""
    if config.database.url:
        return config
    data_dir = PROJECT_DIR / config.database.embedded_dir if not Path(config.database.embedded_dir).is_absolute() \
        else Path(config.database.embedded_dir)
    dsn = db.start_embedded(data_dir)
    return dataclasses.replace(config, database=dataclasses.replace(config.database, url=dsn))


async def _prepare(config: Config, *, demo: bool, sites: int = 1) -> None:
    from scheduler.seed import seed_demo
    from scheduler.seed_sites import seed_second_site

    assert config.database.url
    applied = await db.migrate_dsn(config.database.url)
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    if demo:
        pool = await db.create_pool(config.database.url, max_size=2)
        try:
            await seed_demo(pool)
            if sites > 1:
                await seed_second_site(pool)
        finally:
            await pool.close()


def _banner(config: Config, role: str) -> str:
    base = f"http://localhost:{config.server.port}"
    lines = [
        f"Jobcenter appointments and callbacks ({role}) on {base}",
        f"  client pages  {base}/",
        f"  kiosk         {base}/kiosk/",
        f"  staff UI      {base}/staff/",
        f"  API docs      {base}/api/docs",
        f"  metrics       {base}/metrics",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines) + "\n"


def serve(config: Config, *, role: str, demo: bool) -> None:
    """Start PostgreSQL if embedded, migrate, seed, and serve until Ctrl-C."""
    config = with_database(config)
    asyncio.run(_prepare(config, demo=demo))
    if not demo and role != "worker":  # workers take no sign-ins and set no cookies
        asyncio.run(startup_checks.check_service(config))
    app = create_app(config, role=role)
    web.run_app(app, host=config.server.host, port=config.server.port, access_log=None,
                print=lambda _: sys.stdout.write(_banner(config, role)))


def policy_check(path: Path) -> int:
    """Print every problem of a rule set file; exit status 0 when it is valid."""
    from scheduler.policy.parse import load_yaml
    from scheduler.policy.rules import RuleSetInvalid

    try:
        load_yaml(path.read_text(encoding="utf-8"))
    except RuleSetInvalid as e:
        for error in e.errors:
            sys.stdout.write(f"{path}: {error.message}\n")
        return 1
    sys.stdout.write(f"{path}: valid\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config if args.config.exists() else None)
    except ConfigError as e:
        sys.stderr.write(f"configuration error: {e}\n")
        return 2
    logs.configure(config.logging.level, json=config.logging.json)
    if args.command == "serve":
        if args.port:
            config = dataclasses.replace(config, server=dataclasses.replace(config.server, port=args.port))
        try:
            serve(config, role=args.role, demo=args.demo)
        except startup_checks.UnsafeForProduction as e:
            sys.stderr.write(f"refusing to serve without --demo:\n{e}\n")
            return 2
        return 0
    if args.command == "policy":
        return policy_check(args.file)
    if args.command in ("backup", "restore"):
        return backup_or_restore(config, args)
    if args.command == "site" and args.site_command == "admin-link":
        return asyncio.run(system_admin_link(with_database(config), args))
    if args.command == "site":
        return asyncio.run(site_apply(with_database(config), args.file))
    config = with_database(config)
    asyncio.run(_prepare(config, demo=args.command == "seed-demo", sites=getattr(args, "sites", 1)))
    if args.command == "seed-demo" and args.history:
        asyncio.run(_seed_history(config, args.history))
    return 0


def backup_or_restore(config: Config, args: argparse.Namespace) -> int:
    """Run `backup FILE` or `restore FILE`; a clear message and exit status 1 when it cannot."""
    from scheduler import backup

    url = getattr(args, "database_url", None) or with_database(config).database.url
    assert url
    try:
        if args.command == "backup":
            asyncio.run(backup.backup(url, args.file))
        else:
            asyncio.run(backup.restore(url, args.file))
    except backup.BackupError as e:
        sys.stderr.write(f"{args.command}: {e}\n")
        return 1
    sys.stdout.write(f"{args.command}: done ({args.file})\n")
    return 0


async def site_apply(config: Config, path: Path) -> int:
    """Migrate, then apply a site file; print what changed, or every problem and exit status 1."""
    from scheduler import site_files

    assert config.database.url
    await db.migrate_dsn(config.database.url)
    pool = await db.create_pool(config.database.url, max_size=1)  # the pool's connections know jsonb
    try:
        async with pool.acquire() as conn:
            report = await site_files.apply(conn, path)
    except site_files.SiteFileInvalid as e:
        sys.stderr.write("".join(f"{line}\n" for line in e.problems) + "nothing was changed\n")
        return 1
    finally:
        await pool.close()
    sys.stdout.write("".join(f"{line}\n" for line in report))
    return 0


async def system_admin_link(config: Config, args: argparse.Namespace) -> int:
    """Migrate, then create or promote a system administrator and print their one-time password link."""
    from datetime import UTC, datetime

    from scheduler import system_admins

    assert config.database.url
    await db.migrate_dsn(config.database.url)
    pool = await db.create_pool(config.database.url, max_size=1)
    try:
        made = await system_admins.issue(pool, site_code=args.site, username=args.username, display_name=args.name,
                                         deployment_url=config.server.public_base_url, now=datetime.now(UTC))
    except system_admins.AdminLinkRefused as e:
        sys.stderr.write(f"site admin-link: {e}\n")
        return 1
    except asyncpg.CheckViolationError:
        sys.stderr.write(f"site admin-link: {args.username!r} is not a valid username (a-z 0-9 . _ -)\n")
        return 1
    finally:
        await pool.close()
    sys.stdout.write(f"{made.username}: {'created' if made.created else 'is now system administrator'}; "
                     f"the link below sets the password once, until {made.expires:%Y-%m-%d %H:%M} UTC:\n{made.link}\n")
    return 0


async def _seed_history(config: Config, weeks: int) -> None:
    """Fill the demo site's past weeks (demo_history), once; say what was added."""
    from datetime import UTC, datetime

    from scheduler import demo_history
    from scheduler.seed import load_demo

    assert config.database.url
    pool = await db.create_pool(config.database.url, max_size=2, command_timeout=120)
    try:
        counts = await demo_history.fill(pool, site_code=load_demo()["site"]["code"], weeks=weeks,
                                         now=datetime.now(UTC))
    finally:
        await pool.close()
    if counts is None:
        sys.stdout.write("demo history: the demo site has it already; nothing added\n")
    else:
        sys.stdout.write(f"demo history: {counts.weeks} weeks with {counts.requests} requests, {counts.callbacks} "
                         f"callbacks and {counts.appointments} appointments added\n")


if __name__ == "__main__":
    sys.exit(main())
