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
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

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
    args = parser.parse_args()
    # SIGINT too: a shell that starts us in the background would otherwise leave it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)
    plan = Plan.from_args(args)
    if plan.load_cpu is not None:
        os.sched_setaffinity(0, {plan.load_cpu})  # keep this script off the server's CPU
    else:
        print("bench: warning: fewer than 2 CPUs, nothing is pinned", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    bench: Bench | None = None
    try:
        bench = Bench(plan, tmp, ensure_wrk())
        bench.execute()
    except BenchError as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if bench is not None:
            bench.supervisor.stop_all()
        if args.keep:
            print(f"bench: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    bench.results["total_s"] = round(time.monotonic() - bench.started, 1)
    bench.results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    markdown = render(bench.results)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(bench.results, indent=2) + "\n")
    (out / "latest.md").write_text(markdown)
    print(markdown)
    bench.log(f"done in {bench.results['total_s']:.0f}s; wrote {out}/latest.md and latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
