"""Run the benchmarks: python -m bench [--seconds N] [--only NAME ...].

Uses DATABASE_URL, or an embedded PostgreSQL in .data/bench-postgres. Results are printed and written
to bench/results/latest.json; bench/README.md records them by hand with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import ceiling, inbox, intake, intake_shape, kiosk, outbox_dispatch, policy, reminder_wave
from scheduler import db

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("ceiling", "intake", "policy", "inbox", "outbox", "wave", "kiosk")


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", nargs="*", default=list(BENCHMARKS), choices=BENCHMARKS,
                        help="which benchmarks to run (default: all)")
    parser.add_argument("--inbox-requests", type=int, default=1_000_000)
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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
