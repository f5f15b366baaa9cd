"""Run the benchmarks: python -m bench [--seconds N] [--only NAME ...].

Uses DATABASE_URL, or an embedded PostgreSQL in .data/bench-postgres. Results are printed and written
to bench/results/latest.json (the sections of benchmarks not run this time are kept, each section with
the time it was measured in "measured_at"); bench/README.md records them by hand with the machine they
ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    ceiling,
    demand_capacity,
    inbox,
    intake,
    intake_shape,
    kiosk,
    letters_batch,
    lifecycle_jobs,
    lobby_display,
    many_sites,
    openloop,
    outbox_dispatch,
    policy,
    preview_impact,
    reminder_wave,
    rule_builder,
)
from scheduler import db

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("ceiling", "intake", "open-loop", "policy", "inbox", "outbox", "wave", "kiosk", "jobs", "letters",
              "displays", "preview-impact", "rule-builder", "demand-capacity", "many-sites")


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _merge(path: Path, report: dict[str, Any]) -> dict[str, Any]:
    """The previous results with the sections measured now replaced; each section keeps when it was measured."""
    try:
        merged: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        merged = {}
    measured_at = merged.setdefault("measured_at", {})
    for key in merged:
        if key not in ("when", "machine", "measured_at"):
            measured_at.setdefault(key, merged.get("when"))
    for key, value in report.items():
        merged[key] = value
        if key not in ("when", "machine"):
            measured_at[key] = report["when"]
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", nargs="*", default=list(BENCHMARKS), choices=BENCHMARKS,
                        help="which benchmarks to run (default: all)")
    parser.add_argument("--inbox-requests", type=int, default=1_000_000)
    parser.add_argument("--jobs-requests", type=int, default=1_000_000,
                        help="jobs: requests in the lifecycle jobs' data set (default: %(default)s)")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in openloop.DEFAULT_RATES),
                        help="open-loop: intake rates in requests/s, comma-separated (default: %(default)s)")
    parser.add_argument("--rate-seconds", type=float, default=15.0,
                        help="open-loop: measured seconds per rate (default: %(default)s)")
    parser.add_argument("--check-seconds", type=float, default=5.0,
                        help="open-loop: seconds of the generator check against a bare handler, 0 skips it "
                             "(default: %(default)s)")
    parser.add_argument("--warmup-seconds", type=float, default=2.0,
                        help="open-loop: uncounted warm-up per rate, at up to 20 requests/s (default: %(default)s)")
    parser.add_argument("--many-sites-requests", type=int, default=1_000_000,
                        help="many-sites: requests in its kept data set (default: %(default)s)")
    parser.add_argument("--many-sites-refill", action="store_true",
                        help="many-sites: load the kept data set again even if it matches")
    parser.add_argument("--many-sites-rate", type=float, default=50.0,
                        help="many-sites: intake open-loop rate, requests/s (default: %(default)s)")
    parser.add_argument("--many-sites-repeats", type=int, default=200,
                        help="many-sites: sequential GETs per inbox page variant (default: %(default)s)")
    parser.add_argument("--many-sites-pairs", type=int, default=2,
                        help="many-sites: open-loop runs per database, alternating; 0 skips (default: %(default)s)")
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL") or db.start_embedded(
        Path(__file__).resolve().parent.parent / ".data" / "bench-postgres")
    report: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    ceiling_tx = None
    if "ceiling" in args.only or "intake" in args.only:
        results = ceiling.measure(dsn, seconds=args.seconds, connections=args.connections)
        report["ceiling"] = {k: v.as_dict() for k, v in results.items()}
        ceiling_tx = results["two_inserts"].rps
        for result in results.values():
            _line(f"{result.name:55s} {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                  f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}")
    if "intake" in args.only:
        shape, statements = intake_shape.measure(dsn, seconds=args.seconds, connections=args.connections)
        report["ceiling"]["intake_transaction"] = {**shape.as_dict(), "statements": statements}
        _line(f"{shape.name:55s} {shape.rps:9.1f} req/s  p50 {shape.p50_ms:7.2f} ms  p99 {shape.p99_ms:7.2f} ms"
              f"  errors {shape.errors}  (statements per request: intake {statements['intake']}, "
              f"ceiling {statements['ceiling']})")
        report["intake"] = {}
        for processes in (1, 2):
            found = intake.measure(dsn, processes=processes, seconds=args.seconds, connections=args.connections)
            ratio = found.rps / shape.rps if shape.rps else 0.0
            ratio_two = found.rps / ceiling_tx if ceiling_tx else 0.0
            report["intake"][f"{processes}_process"] = {**found.as_dict(), "ratio_of_ceiling": round(ratio, 3),
                                                        "ratio_of_two_insert_ceiling": round(ratio_two, 3)}
            _line(f"{found.name:55s} {found.rps:9.1f} req/s  p50 {found.p50_ms:7.2f} ms  p99 {found.p99_ms:7.2f} ms"
                  f"  errors {found.errors}  = {ratio:.0%} of the same-transaction ceiling"
                  f" ({ratio_two:.0%} of the two-insert one)")
    if "open-loop" in args.only:
        rates = tuple(float(r) for r in args.rates.split(",") if r.strip())
        found = openloop.measure(dsn, rates=rates, seconds=args.rate_seconds, warmup_s=args.warmup_seconds,
                                 check_s=args.check_seconds)
        report["open_loop"] = {"what": "POST /api/requests at a fixed rate, 1 web process, fresh database per "
                                       "rate, latency from each request's scheduled send time", **found}
        runs = ([("generator check: bare aiohttp at", found["generator_check"])] if found["generator_check"] else [])
        for label, run in [*runs, *(("intake open-loop at", run) for run in found["rates"])]:
            load = run["load"]
            errors = f"{run['errors']}" + (f" {run['errors_by_kind']}" if run["errors"] else "")
            _line(f"{label + ' ' + format(run['rate'], 'g') + '/s for ' + format(run['seconds'], 'g') + ' s':55s}"
                  f" sent {run['sent']}  ok {run['completed']}  errors {errors}  "
                  f"achieved {run['achieved_rps']:.1f}/s  p50 {run['p50_ms']:.2f}  p90 {run['p90_ms']:.2f}  "
                  f"p99 {run['p99_ms']:.2f}  max {run['max_ms']:.2f} ms  send lag p99 {run['send_lag_p99_ms']:.2f} ms")
            _line(f"{'':55s} CPU: generator {load['generator_cpu_share']:.0%}  service {load['service_cpu_share']:.0%}"
                  f"  postgres {'-' if load['postgres_cpu_share'] is None else format(load['postgres_cpu_share'], '.0%')}"
                  f"  machine busy {load['machine_busy_share']:.0%} of {load['machine_cores']} cores"
                  f"  load avg {load['loadavg_1m_before']} -> {load['loadavg_1m_after']}")
    if "policy" in args.only:
        report["policy"] = policy.measure()
        for name, numbers in report["policy"].items():
            _line(f"{name:55s} median {numbers['median_ms']:.3f} ms  p99 {numbers['p99_ms']:.3f} ms")
    if "inbox" in args.only:
        report["inbox"] = found = inbox.measure(dsn, requests=args.inbox_requests)
        _line(f"{'inbox query, ' + str(found['requests']) + ' requests / 400 sites':55s} "
              f"median {found['median_ms']:.2f} ms  p99 {found['p99_ms']:.2f} ms")
    if "outbox" in args.only:
        report["outbox"] = found = outbox_dispatch.measure(dsn)
        for name, run in found["runs"].items():
            _line(f"{'outbox dispatch, ' + name:55s} {run['messages_per_s']:9.1f} msg/s  "
                  f"({run['sent_rows']} sent, {run['distinct_provider_ids']} distinct provider ids)")
    if "wave" in args.only:
        report["wave"] = found = reminder_wave.measure(dsn)
        _line(f"{'reminder wave, 5000 due, 10% answered 429':55s} {found['messages_per_s']:9.1f} msg/s  "
              f"{found['seconds']} s, retried {found['rows_retried']}, all delivered once: {found['all_delivered_once']}")
    if "kiosk" in args.only:
        report["kiosk"] = found = kiosk.measure(dsn)
        _line(f"{'kiosk burst, 100 concurrent flows':55s} {found['seconds']} s  flow median "
              f"{found['flow_median_ms']} ms  p99 {found['flow_p99_ms']} ms  errors {found['errors']}")
    if "jobs" in args.only:
        report["lifecycle_jobs"] = found = lifecycle_jobs.measure(dsn, requests=args.jobs_requests)
        for job_id, runs in found["jobs"].items():
            for i, run in enumerate(runs, 1):
                _line(f"{'job ' + job_id + ', run ' + str(i):55s} handled {run['handled']}  {run['seconds']} s  "
                      f"{run['transactions']} tx, longest {run['longest_transaction_ms']} ms (server saw "
                      f"{run['longest_open_transaction_seen_by_server_ms']} ms)  still due {run['still_due_after']}  "
                      f"load avg {run['loadavg_1m_before']} -> {run['loadavg_1m_after']}")
        move = found["bulk_move"]
        if "missing" in move:
            _line(f"{'bulk move':55s} {move['missing']}")
        else:
            _line(f"{'bulk move, ' + str(move['targets']) + ' appointments':55s} moved {move['moved']}  conflicts "
                  f"{move['conflicts']} {move['conflict_codes']}  {move['seconds']} s in {move['transactions']} tx  "
                  f"outbox +{move['outbox_rows_added']} rows, {move['outbox_rows_cancelled']} cancelled  "
                  f"load avg {move['loadavg_1m_before']} -> {move['loadavg_1m_after']}")
    if "letters" in args.only:
        report["letters"] = found = letters_batch.measure(dsn)
        _line(f"{'batch invitations, ' + str(found['invitations']) + ' planned':55s} {found['plan_s']} s  "
              f"(planned {found['planned_rows']}, no time {found['unplanned_rows']})")
        _line(f"{'batch invitations sent, one transaction':55s} {found['send_s']} s  {found['sent']}  "
              f"outbox rows {found['outbox_rows']}")
        _line(f"{'letters printed and rendered (fpdf2), ' + str(found['print_letters']):55s} {found['print_s']} s  "
              f"{found['pdf_pages']} pages, {found['pdf_bytes']} bytes, unicode font {found['unicode_font']}")
    if "displays" in args.only:
        report["displays"] = found = lobby_display.measure(dsn)
        _line(f"{'call displays, ' + str(found['displays']) + ' open, ' + format(found['rate_per_s'], 'g') + ' calls/s':55s}"
              f" {found['calls']} calls, {found['deliveries']} deliveries ({found['deliveries_missing']} missing)  "
              f"p50 {found['p50_ms']} ms  p99 {found['p99_ms']} ms  max {found['max_ms']} ms  "
              f"RSS idle {found['rss_mb_idle']} MB, open {found['rss_mb_with_displays_open']} MB, "
              f"peak {found['rss_mb_peak']} MB")
    if "preview-impact" in args.only:
        report["preview_impact"] = found = preview_impact.measure(dsn)
        _line(f"{'rules preview impact, ' + str(found['requests']) + ' requests of ' + str(found['weeks']) + ' weeks':55s}"
              f" first {found['first_ms']} ms  median {found['median_ms']} ms  max {found['max_ms']} ms  "
              f"(query {found['query_median_ms']} ms; changed {found['changed']})")
    if "rule-builder" in args.only:
        report["rule_builder"] = found = rule_builder.measure(dsn)
        for label, run in found.items():
            if isinstance(run, dict):
                _line(f"{'rule builder save-and-validate, ' + label:55s} median {run['save_and_validate_median_ms']} ms"
                      f"  p99 {run['save_and_validate_p99_ms']} ms  (validate alone {run['validate_median_ms']} ms)")
    if "demand-capacity" in args.only:
        report["demand_capacity"] = found = demand_capacity.measure(dsn, requests=args.inbox_requests)
        for label in ("office_page_queries", "team_page_queries"):
            run = found[label]
            _line(f"{'demand/capacity ' + label.split('_')[0] + ', ' + str(found['requests']) + ' requests / 400 sites':55s}"
                  f" median {run['median_ms']} ms  p99 {run['p99_ms']} ms  max {run['max_ms']} ms")
    if "many-sites" in args.only:
        report["many_sites"] = found = many_sites.measure(
            dsn, requests=args.many_sites_requests, refill=args.many_sites_refill, rate=args.many_sites_rate,
            repeats=args.many_sites_repeats,
            seconds=args.rate_seconds, pairs=args.many_sites_pairs)
        many_sites.print_report(found, _line)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(_merge(RESULTS / "latest.json", report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
