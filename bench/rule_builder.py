"""The rule builder's save-and-validate (goal: under 50 ms): a posted form read, built into a rule set and
validated, and stored as the next draft version, as rules_pages.builder_submit does on "save" (its YAML is written
only when the advanced view or an export asks for it).

A fresh database with the demo site. Two forms: the demo office's 4 rules, and 50 rules that use every field
of the builder (each with concerns, age, channel, language, needs, invitation and no-shows, and a full "then").
"""

from __future__ import annotations

import asyncio
import statistics
import time

from multidict import MultiDict

from scheduler import db
from scheduler.policy import store
from scheduler.policy.parse import load_yaml
from scheduler.seed import seed_demo
from scheduler.staff import rule_form
from tests import dbharness
from tests.dbharness import PROJECT_DIR

SITE_POLICY = (PROJECT_DIR / "scheduler" / "demo" / "policy-site.yaml").read_text()
RULE = """
  - id: rule-{n}
    when: {{concern: [no_money, eviction, documents], age: {{gte: 18, lt: 25}}, channel: [web, kiosk],
           language: [de, en, uk], needs: [interpreter, step_free], invitation: false, no_shows: {{lt: 3}}}}
    then: {{priority: {p}, route: {{team: u25}}, duration: 45m, lead_time: 1 workday, within: 10 workdays,
           modes: [in_person, phone], propose: 4, auto_confirm: false, follow_up: {{invite: 3 workdays}},
           walk_in: true}}"""


def _posted(yaml_text: str) -> MultiDict[str]:
    """The rule set as a browser posts the builder's form."""
    state = rule_form.state_of(load_yaml(yaml_text))
    fields = [(f"r{i}.{k}", v) for i, values in enumerate(state.rules) for k, vs in values.items() for v in vs]
    fields += [(k, v) for k, vs in state.settings.items() for v in vs]
    return MultiDict([("csrf_token", "x"), ("scope", "site"), ("action", "save"), *fields])


async def _run(admin_dsn: str, runs: int) -> dict[str, object]:
    name, url = await dbharness.create_database(admin_dsn, prefix="bench_builder")
    forms = {"demo_4_rules": _posted(SITE_POLICY),
             "50_rules_every_field": _posted("rules:" + "".join(RULE.format(n=n, p=n + 20) for n in range(50)))}
    try:
        await db.migrate_dsn(url)
        pool = await db.create_pool(url, max_size=2)
        try:
            await seed_demo(pool)
            async with pool.acquire() as conn:
                site_id = await conn.fetchval("SELECT id FROM sites WHERE code = 'musterstadt'")
                admin_id = await conn.fetchval("SELECT id FROM staff WHERE username = 'admin'")
            out: dict[str, object] = {"runs": runs}
            for label, form in forms.items():
                validate_ms, save_ms = [], []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    ruleset = rule_form.build(rule_form.read(form))
                    t1 = time.perf_counter()
                    async with pool.acquire() as conn, conn.transaction():
                        await store.save_draft(conn, site_id=site_id, scope=store.Scope.site, ruleset=ruleset,
                                               source_yaml="", owner_id=admin_id)
                    t2 = time.perf_counter()
                    validate_ms.append((t1 - t0) * 1000)
                    save_ms.append((t2 - t0) * 1000)
                save_ms.sort()
                out[label] = {"fields_posted": len(form), "validate_median_ms": round(statistics.median(validate_ms), 2),
                              "save_and_validate_median_ms": round(statistics.median(save_ms), 2),
                              "save_and_validate_p99_ms": round(save_ms[int(0.99 * (runs - 1))], 2)}
            return out
        finally:
            await pool.close()
    finally:
        await dbharness.drop_database(admin_dsn, name)


def measure(admin_dsn: str, *, runs: int = 200) -> dict[str, object]:
    """Median and p99 of the builder's read + build + validate + YAML + stored draft, in milliseconds."""
    return asyncio.run(_run(admin_dsn, runs))
