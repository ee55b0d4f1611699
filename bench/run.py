"""Benchmark the gateway against bare aiohttp in one run; print and save a Markdown report.

    make bench                      # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --quick

Phases (docs/benchmarks.md explains each): machine facts; gateway start-up time (median of 5);
bare aiohttp at peak and at half its peak; the gateway with no backend (store only) at peak and
at half its peak; the gateway (webhook backend, batch_size 100) at peak and at half its peak
with the receiver healthy, then with the receiver paused (ingest without delivery work) and the
drain of the backlog once it resumes; batch_size 1 at the same moderate rate and its drain; the
gateway on stores pre-filled with 0, 1k, 100k and 1M delivered interactions (--quick: no
batch_size 1, stores of 0 and 100k). The server under test runs alone on one CPU (taskset);
wrk, the receiver and this script share the other. Every process it starts is stopped and every
temporary file deleted at the end, on errors and on Ctrl-C too.

The report opens with issue 16's ratios and limits (PASS/FAIL) and the CPU time per request.
Writes bench/results/latest.json and bench/results/latest.md. The phases are in phases.py, the
gateway's configuration in gateway_under_test.py, the plumbing in harness.py.

`--postgres` runs the PostgreSQL bench instead (issue 17; postgres_phases.py): one instance on
PostgreSQL next to one on SQLite, then 1, 2 and 3 instances on one database, on a throwaway
database created for the run and dropped at the end (`GATEWAY_BENCH_POSTGRES` names the
database to connect to for that; default the local server's `postgres` as user `postgres`).
Writes bench/results/latest-postgres.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from harness import BENCH, BenchError, ensure_wrk
from phases import Bench, Plan
from report import render


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5 s phases, no batch_size 1, stores 0 and 100k (<3 min)",
    )
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--duration", type=int, help="seconds per measured phase (15; quick 5)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the gateway with py-spy during its peak phase (numbers then include the"
        " sampling cost); stacks in bench/results/profile-peak.txt",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="the PostgreSQL bench: one instance next to SQLite, then 1, 2 and 3 instances on one"
        " database (~8 min; --quick < 4 min)",
    )
    args = parser.parse_args()
    if args.postgres and args.profile:
        parser.error("--profile samples the SQLite bench's gateway only")
    # SIGINT too: a shell that starts us in the background would otherwise leave it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)
    plan = Plan.from_args(args)
    if plan.load_cpu is not None:
        os.sched_setaffinity(0, {plan.load_cpu})  # keep this script off the server's CPU
    else:
        print("bench: warning: fewer than 2 CPUs, nothing is pinned", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        with ExitStack() as stack:
            bench = stack.enter_context(_bench(plan, tmp, args.postgres))
            bench.execute()
    except BenchError as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"bench: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    bench.results["total_s"] = round(time.monotonic() - bench.started, 1)
    bench.results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    markdown, name = _render(bench.results, args.postgres)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(bench.results, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown)
    print(markdown)
    bench.log(f"done in {bench.results['total_s']:.0f}s; wrote {out}/{name}.md and .json")
    return 0


@contextmanager
def _bench(plan: Plan, tmp: Path, postgres: bool) -> Iterator[Bench]:
    """Yield the run's bench; stop every process it started (and drop its database) after."""
    wrk = ensure_wrk()
    if not postgres:
        bench = Bench(plan, tmp, wrk)
        try:
            yield bench
        finally:
            bench.supervisor.stop_all()
        return
    from postgres_phases import PostgresBench
    from postgres_server import ADMIN_URL, throwaway_database

    with throwaway_database(ADMIN_URL) as database:
        pg_bench = PostgresBench(plan, tmp, wrk, database)
        try:
            yield pg_bench
        finally:
            pg_bench.supervisor.stop_all()  # before the database is dropped
            pg_bench.close()


def _render(results: dict[str, Any], postgres: bool) -> tuple[str, str]:
    """Return the Markdown report and the results' file name."""
    if not postgres:
        return render(results), "latest"
    from postgres_report import render_postgres

    return render_postgres(results), "latest-postgres"


if __name__ == "__main__":
    sys.exit(main())
