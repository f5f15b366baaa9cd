"""Upgrades without downtime: this release's migrations only expand, and the previous release still works.

While a new release migrates, the previous release's processes keep serving on the same database (see
docs/operations.md, "Rolling out a new release"). So the migrations a release adds may add tables, columns
with defaults, indexes and functions, but must not take away or change what the previous release reads and
writes: that contract step waits for a later release, once no process of the old one runs. The test
(a) lints the release's migration files for contract steps, and (b) runs the previous release's statements
for the tables this release changed (frozen in tests/previous_release/) against the schema migrated to head.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from asyncpg import Range

from scheduler import db
from tests.factories import SiteFacts

# The first migration of this release: the previous release (commit 5988cfe) ended at 0027. Move it on when
# the next release is cut, together with tests/previous_release/.
BASELINE = "0028"
PREVIOUS_RELEASE = Path(__file__).parent / "previous_release"

# Contract steps that are known to be safe, by (migration file, statement as the linter prints it): reason.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    rule: str
    statement: str


# --- (a) the linter ---------------------------------------------------------------------------------------

def statements(sql: str) -> list[str]:
    """The statements of a migration, without comments; dollar-quoted bodies and strings stay whole."""
    out: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(sql):
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        if sql.startswith("/*", i):
            i = sql.index("*/", i) + 2
            continue
        tag = re.match(r"\$[A-Za-z_]*\$", sql[i:])
        if tag:
            end = sql.index(tag.group(), i + len(tag.group())) + len(tag.group())
            current.append(sql[i:end])
            i = end
            continue
        if sql[i] == "'":
            end = i + 1
            while True:
                end = sql.index("'", end) + 1
                if not sql.startswith("'", end):  # '' is an escaped quote inside the string
                    break
                end += 1
            current.append(sql[i:end])
            i = end
            continue
        if sql[i] == ";":
            out.append(" ".join("".join(current).split()))
            current = []
        else:
            current.append(sql[i])
        i += 1
    out.append(" ".join("".join(current).split()))
    return [s for s in out if s]


def _function_signatures(sql_files: list[Path]) -> dict[str, set[str]]:
    """Argument lists of every function the given migrations create, by name."""
    found: dict[str, set[str]] = {}
    for path in sql_files:
        for stmt in statements(path.read_text(encoding="utf-8")):
            m = re.match(r"CREATE (?:OR REPLACE )?FUNCTION (\w+)\s*\(([^)]*)\)", stmt, re.I)
            if m:
                found.setdefault(m.group(1).lower(), set()).add(" ".join(m.group(2).lower().split()))
    return found


RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("drops a table or view", re.compile(r"^DROP (TABLE|VIEW|MATERIALIZED VIEW)\b", re.I)),
    ("drops a column", re.compile(r"^ALTER TABLE .*\bDROP (COLUMN\b|(?!CONSTRAINT|NOT NULL|DEFAULT|IDENTITY|"
                                  r"EXPRESSION)\w+\s*(,|$|CASCADE|RESTRICT))", re.I)),
    ("renames", re.compile(r"^ALTER (TABLE|TYPE|VIEW|FUNCTION|INDEX|SEQUENCE) .*\bRENAME\b", re.I)),
    ("changes a column's type", re.compile(r"^ALTER TABLE .*\bALTER (COLUMN )?\w+ (SET DATA )?TYPE\b", re.I)),
    ("drops a function", re.compile(r"^DROP FUNCTION\b", re.I)),
)


def lint(files: list[Path], earlier: list[Path]) -> list[Finding]:
    """Contract steps in `files` that would break processes of the release that ran `earlier` migrations."""
    previous_functions = _function_signatures(earlier)
    findings: list[Finding] = []
    for path in files:
        sql = path.read_text(encoding="utf-8")
        found = statements(sql)
        for stmt in found:
            hits = [rule for rule, pattern in RULES if pattern.search(stmt)]
            not_null = re.search(r"^ALTER TABLE (?:ONLY )?(?:IF EXISTS )?(\w+) .*\bALTER (?:COLUMN )?(\w+) SET NOT NULL",
                                 stmt, re.I)
            if not_null and not any(re.search(rf"\bALTER (COLUMN )?{not_null.group(2)} SET DEFAULT\b", s, re.I)
                                    for s in found):
                hits.append("sets NOT NULL on an existing column without a default")
            if re.match(r"ALTER TABLE\b", stmt, re.I) and any(
                    re.match(r"ADD (COLUMN )?(?!CONSTRAINT)", action, re.I) and re.search(r"\bNOT NULL\b", action, re.I)
                    and not re.search(r"\b(DEFAULT|GENERATED)\b", action, re.I)
                    for action in re.split(r",\s*(?=(?:ADD|ALTER|DROP)\b)", stmt.split(" ", 3)[-1], flags=re.I)):
                hits.append("adds a NOT NULL column without a default (the old inserts leave it out)")
            fn = re.match(r"CREATE OR REPLACE FUNCTION (\w+)\s*\(([^)]*)\)", stmt, re.I)
            if fn and fn.group(1).lower() in previous_functions:
                if " ".join(fn.group(2).lower().split()) not in previous_functions[fn.group(1).lower()]:
                    hits.append("replaces a function of the previous release with another signature")
            findings += [Finding(path.name, rule, stmt[:160]) for rule in hits]
    return findings


def release_files() -> tuple[list[Path], list[Path]]:
    files = db.migration_files()
    return [p for p in files if p.name >= BASELINE], [p for p in files if p.name < BASELINE]


def test_the_release_migrations_only_expand() -> None:
    files, earlier = release_files()
    assert files, f"no migrations from {BASELINE} on"
    findings = [f for f in lint(files, earlier) if (f.file, f.statement) not in ALLOWED]
    assert findings == [], "contract steps belong in a later release (or in ALLOWED, with a reason)"


def test_the_allow_list_names_real_statements() -> None:
    files, earlier = release_files()
    found = {(f.file, f.statement) for f in lint(files, earlier)}
    assert set(ALLOWED) <= found, "an ALLOWED entry no longer matches a statement: remove it"


@pytest.mark.parametrize(("sql", "rule"), [
    ("ALTER TABLE requests DROP COLUMN note;", "drops a column"),
    ("ALTER TABLE requests DROP note, ADD COLUMN x int;", "drops a column"),
    ("DROP TABLE IF EXISTS kiosks;", "drops a table or view"),
    ("ALTER TABLE sites RENAME COLUMN name TO title;", "renames"),
    ("ALTER TABLE sites RENAME TO offices;", "renames"),
    ("ALTER TABLE requests ALTER COLUMN priority TYPE bigint;", "changes a column's type"),
    ("ALTER TABLE requests ALTER priority SET DATA TYPE numeric;", "changes a column's type"),
    ("ALTER TABLE requests ALTER COLUMN note SET NOT NULL;", "sets NOT NULL on an existing column without a default"),
    ("ALTER TABLE requests ADD COLUMN flag boolean NOT NULL;",
     "adds a NOT NULL column without a default (the old inserts leave it out)"),
    ("DROP FUNCTION rate_limit_hit(text[]);", "drops a function"),
    ("CREATE OR REPLACE FUNCTION rate_limit_hit(names text[]) RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;",
     "replaces a function of the previous release with another signature"),
])
def test_the_linter_finds_each_contract_step(tmp_path: Path, sql: str, rule: str) -> None:
    path = tmp_path / "9999_contract.sql"
    path.write_text(f"-- a comment; DROP TABLE in a comment is not a statement\n{sql}\n", encoding="utf-8")
    _, earlier = release_files()
    assert [f.rule for f in lint([path], earlier)] == [rule]


def test_the_linter_lets_expand_steps_pass(tmp_path: Path) -> None:
    path = tmp_path / "9999_expand.sql"
    path.write_text(
        "ALTER TABLE requests ADD COLUMN needs text[] NOT NULL DEFAULT '{}';\n"
        "ALTER TABLE lobby_calls ALTER COLUMN appointment_id DROP NOT NULL;\n"
        "ALTER TABLE sites ALTER COLUMN public_base_url SET DEFAULT '';\n"
        "ALTER TABLE sites DROP CONSTRAINT sites_x_check;\n"
        "ALTER TABLE x ALTER COLUMN y SET DEFAULT 0; ALTER TABLE x ALTER COLUMN y SET NOT NULL;\n"
        "CREATE TABLE t (id bigint NOT NULL, note text DEFAULT 'it''s; fine');\n"
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DROP TABLE x; RETURN NEW; END $$;\n"
        "CREATE OR REPLACE FUNCTION brand_new(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$;\n",
        encoding="utf-8")
    _, earlier = release_files()
    assert lint([path], earlier) == []


# --- (b) the previous release's statements against the schema at head --------------------------------------

def previous(name: str) -> str:
    return (PREVIOUS_RELEASE / name).read_text(encoding="utf-8")


async def test_previous_release_rate_limit_counts_against_head(conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(seconds=now.timestamp() % 60)
    key = f"203.0.113.{secrets.randbelow(200)}"

    async def hit() -> list[asyncpg.Record]:
        return await conn.fetch(previous("ratelimit_hit.sql"), ["submit", "everyone"], [key, "*"],
                                [start, start], [60, 60], [2, 1000], [0.5, 0.5], [0, 0], [False, True])

    first, second, third = await hit(), await hit(), await hit()
    assert [r["admitted"] for r in first] == [True, True]
    assert [r["admitted"] for r in second] == [True, True]
    assert not third[0]["admitted"]  # the address's limit of 2 is full: still enforced by the head schema


async def test_previous_release_intake_writes_against_head(conn: asyncpg.Connection, site: SiteFacts) -> None:
    client = await conn.fetchrow(previous("client_upsert_by_phone.sql"), site.site_id, "+4915112345678", "tr",
                                 False, True)
    assert client["language"] == "tr" and client["site_id"] == site.site_id
    concern = next(iter(site.concerns.values()))
    staff_id = next(iter(site.staff.values()))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    reference = f"R-{secrets.token_hex(4).upper()}"
    row = await conn.fetchrow(
        previous("request_insert.sql"),
        site.site_id, client["id"], concern, "web", reference, secrets.token_urlsafe(24), "tr", ["in_person"],
        {"days": ["mon"]}, "old release", f"key-{secrets.token_hex(6)}", None, None, None, "proposed",
        json.dumps({"priority": 1}), next(iter(site.teams.values())), staff_id, 1, start, [],
        [{"actor": "client", "action": "request.created", "details": {"channel": "web"}}],
        [staff_id], [Range(start, start + timedelta(minutes=30))], ["in_person"], [None],
        None, None, True, None, None,
        "receipt-", "-sms", "sms", "receipt", "+4915112345678", "tr", {"reference": reference},
    )
    assert row is not None and row["reference"] == reference and row["status"] == "proposed"
    stored = await conn.fetchrow("SELECT needs, site_id FROM requests WHERE id = $1", row["id"])
    assert stored["site_id"] == site.site_id and list(stored["needs"]) == []  # a new column, at its default
    assert await conn.fetchval("SELECT count(*) FROM proposals WHERE request_id = $1", row["id"]) == 1
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE request_id = $1 AND kind = 'receipt'",
                               row["id"]) == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE subject_type = 'request' "
                               "AND subject_id = $1", row["id"]) == 1

    callback_id = await conn.fetchval(
        previous("callback_insert.sql"),
        site.site_id, client["id"], concern, "kiosk", f"C-{secrets.token_hex(4).upper()}",
        secrets.token_urlsafe(24), "+4915112345678", "tr", {}, "", None, None, None, True, None, None)
    assert await conn.fetchval("SELECT status FROM callbacks WHERE id = $1", callback_id) == "open"


async def test_previous_release_reads_sites_and_signs_staff_in_against_head(conn: asyncpg.Connection,
                                                                           site: SiteFacts) -> None:
    row = await conn.fetchrow(previous("site_by_code.sql"), "musterstadt")
    assert row["id"] == site.site_id and isinstance(row["public_base_url"], str)
    username, staff_id = next(iter(site.staff.items()))
    account = await conn.fetchrow(previous("staff_by_username.sql"), username)
    assert account["id"] == staff_id and account["site_id"] == site.site_id and account["active"] is not None
