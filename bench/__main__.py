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

from bench import ceiling, inbox, policy
from scheduler import db

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", nargs="*", default=["ceiling", "policy", "inbox"],
                        help="which benchmarks to run (ceiling, policy, inbox)")
    parser.add_argument("--inbox-requests", type=int, default=1_000_000)
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL") or db.start_embedded(
        Path(__file__).resolve().parent.parent / ".data" / "bench-postgres")
    report: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    if "ceiling" in args.only:
        results = ceiling.measure(dsn, seconds=args.seconds, connections=args.connections)
        report["ceiling"] = {k: v.as_dict() for k, v in results.items()}
        for result in results.values():
            sys.stdout.write(f"{result.name:55s} {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                             f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}\n")
    if "policy" in args.only:
        report["policy"] = policy.measure()
        for name, numbers in report["policy"].items():
            sys.stdout.write(f"{name:55s} median {numbers['median_ms']:.3f} ms  p99 {numbers['p99_ms']:.3f} ms\n")
    if "inbox" in args.only:
        report["inbox"] = found = inbox.measure(dsn, requests=args.inbox_requests)
        sys.stdout.write(f"{'inbox query, ' + str(found['requests']) + ' requests / 400 sites':55s} "
                         f"median {found['median_ms']:.2f} ms  p99 {found['p99_ms']:.2f} ms\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
