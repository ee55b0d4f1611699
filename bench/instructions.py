"""Count the CPU instructions one ingested webhook costs: a meter that does not move with the load.

    make bench-instructions                     # = .venv/bin/python bench/instructions.py
    .venv/bin/python bench/instructions.py --compare main    # A/B: gateway/ of `main` too

Each server runs alone under `valgrind --tool=callgrind --trace-children=no` (pinned to one CPU,
instrumentation off until it is ready); this script loads it over loopback HTTP from another
process, with its own aiohttp client and the signed requests of bench/workload.py, so the load
generator is never counted. Per server: start-up, `callgrind_control --instr=on`, `--warmup`
requests, `callgrind_control --zero`, `--requests` requests (and, with a backend, until the
receiver has every one of them), `callgrind_control --dump`: the dump holds the instructions
(Ir, all threads, user space) of the measured requests, plus the event loop's idle ticks in
between, which are small. Servers:

- `store-only`: `gateway serve`, the `generic` channel, SQLite `synchronous: full`, no backend;
- `delivery`: the same with a `webhook` backend (`batch_size: 100`) posting to bench/receiver.py,
  which runs natively in its own process (not counted); delivery is counted;
- `bare`: bench/bare_app.py on the gateway's event loop.

Prints instructions per request, bare / gateway, and per server the shared objects they are
spent in (the interpreter, libc, SQLite, pydantic-core ...). The dumps are kept in
bench/results/ (`callgrind_annotate bench/results/callgrind-store-only.out | head -40` lists the
functions). `--compare REV` also runs the gateway servers on `git archive REV gateway/`
(imported through PYTHONPATH ahead of this checkout; plugins and bench/ stay this checkout's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from gateway_under_test import CHANNEL, write_config
from harness import (
    BENCH,
    ROOT,
    BenchError,
    Child,
    Supervisor,
    free_port,
    http_json,
    maps_mention,
)
from workload import Workload, new_secret

VALGRIND = [
    "valgrind", "--tool=callgrind", "--trace-children=no", "--dump-instr=no",
    "--compress-strings=no", "--instr-atstart=no",
]  # fmt: skip
READY_TIMEOUT_S = 300.0
"""Start-up under callgrind is ~40x slower than native."""
DELIVERY_TIMEOUT_S = 300.0
TOP_OBJECTS = 6


@dataclass(frozen=True)
class Measured:
    """One server's count."""

    kind: str
    """store-only, delivery or bare."""
    source: str
    """Whose gateway/: "this tree" or the --compare revision."""
    requests: int
    instructions: int
    seconds: float
    objects: dict[str, int]
    """Self instructions per shared object."""

    @property
    def per_request(self) -> float:
        """Return instructions per request."""
        return self.instructions / self.requests


class Meter:
    """Starts servers under callgrind, loads them, reads their counts."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.supervisor = Supervisor(tmp)
        self.secret, key = new_secret()
        self.workload = Workload(key)
        cpus = sorted(os.sched_getaffinity(0))
        pinned = len(cpus) >= 2
        self.server_cpu: int | None = cpus[0] if pinned else None
        self.load_cpu: int | None = cpus[1] if pinned else None
        self.receiver_port = 0
        self.loop = "asyncio"

    def log(self, message: str) -> None:
        """Print progress to stderr (stdout gets the result)."""
        print(f"instructions: {message}", file=sys.stderr, flush=True)

    # -- servers ------------------------------------------------------------------------------

    def start_receiver(self) -> None:
        """Start bench/receiver.py natively on the load CPU."""
        self.receiver_port = free_port()
        argv = [sys.executable, str(BENCH / "receiver.py"), "--port", str(self.receiver_port)]
        child = self.supervisor.start("receiver", argv, self.load_cpu)
        child.wait_ready(f"http://127.0.0.1:{self.receiver_port}/readyz")

    def received(self) -> int:
        """Return how many distinct interactions the receiver has."""
        status, body = http_json(f"http://127.0.0.1:{self.receiver_port}/stats")
        if status != 200:
            raise BenchError(f"receiver /stats answered {status}")
        return int(body["unique"])

    def gateway(self, name: str, source: Path | None, deliver: bool) -> tuple[list[str], int]:
        """Return the callgrind argv of a gateway (code from `source`, if given) and its port."""
        config = self.tmp / f"{name}.yaml"
        port = write_config(
            config,
            self.tmp / name / "gateway.db",
            secret=self.secret,
            hook_secret=new_secret()[0],
            receiver_port=self.receiver_port if deliver else None,
            batch_size=100,
        )
        (self.tmp / name).mkdir()
        env = [] if source is None else ["env", f"PYTHONPATH={source}"]
        # The script, not `-m gateway`: -m would put the working directory (this checkout)
        # ahead of PYTHONPATH.
        script = Path(sys.executable).with_name("gateway")
        argv = [sys.executable, str(script), "serve", "--config", str(config)]
        return [*env, *VALGRIND, *self.out_file(name), *argv], port

    def bare(self, name: str) -> tuple[list[str], int]:
        """Return the callgrind argv of the bare app and its port."""
        port = free_port()
        argv = [sys.executable, str(BENCH / "bare_app.py"), "--port", str(port),
                "--secret", self.secret, "--loop", self.loop]  # fmt: skip
        return [*VALGRIND, *self.out_file(name), *argv], port

    def out_file(self, name: str) -> list[str]:
        """Return the option naming a server's callgrind files."""
        return [f"--callgrind-out-file={self.tmp / name}.callgrind"]

    # -- one measurement ----------------------------------------------------------------------

    def measure(
        self, name: str, kind: str, source: str, server: tuple[list[str], int], deliver: bool
    ) -> Measured:
        """Run server `name` under callgrind and count its measured requests."""
        argv, port = server
        started = time.monotonic()
        child = self.supervisor.start(name, argv, self.server_cpu)
        try:
            child.wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=READY_TIMEOUT_S)
            if kind == "store-only" and maps_mention(child.pid, "uvloop"):
                self.loop = "uvloop"
            url = f"http://127.0.0.1:{port}/webhooks/{CHANNEL}"
            callgrind_control(child, "--instr=on")
            base = self.received() if deliver else 0
            self.send(url, self.args.warmup)
            if deliver:
                self.await_received(base + self.args.warmup)
            callgrind_control(child, "--zero")
            measured = time.monotonic()
            self.send(url, self.args.requests)
            if deliver:
                self.await_received(base + self.args.warmup + self.args.requests)
            seconds = time.monotonic() - measured
            dump = callgrind_control(child, "--dump")
            instructions = read_total(dump)
            out = BENCH / "results"
            out.mkdir(exist_ok=True)
            shutil.copyfile(dump, out / f"callgrind-{name}.out")
        finally:
            self.supervisor.stop(child, timeout=60.0)
        result = Measured(kind, source, self.args.requests, instructions, seconds, by_object(dump))
        self.log(
            f"{kind} ({source}): {result.per_request / 1e6:.3f} M instr/req; measured"
            f" {seconds:.0f}s, {time.monotonic() - started:.0f}s in all"
        )
        return result

    def send(self, url: str, count: int) -> None:
        """POST `count` fresh signed requests over `--connections` connections; all must be 2xx."""
        asyncio.run(post_all(url, self.workload.signed(count), self.args.connections))

    def await_received(self, count: int) -> None:
        """Wait until the receiver holds `count` distinct interactions."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while (got := self.received()) < count:
            if time.monotonic() > deadline:
                raise BenchError(f"only {got} of {count} deliveries arrived")
            time.sleep(0.1)


async def post_all(
    url: str, requests: list[tuple[bytes, bytes, bytes, bytes]], connections: int
) -> None:
    """Send every request, `connections` at a time; raise `BenchError` on any non-2xx."""
    pending = iter(requests)
    limit = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=limit) as session:

        async def worker() -> None:
            for msg_id, stamp, signature, body in pending:
                headers = {
                    "content-type": "application/json",
                    "webhook-id": msg_id.decode(),
                    "webhook-timestamp": stamp.decode(),
                    "webhook-signature": signature.decode(),
                }
                async with session.post(url, data=body, headers=headers) as response:
                    text = await response.text()
                    if response.status >= 300:
                        raise BenchError(f"{url} answered {response.status}: {text[:200]}")

        await asyncio.gather(*(worker() for _ in range(connections)))


def callgrind_control(child: Child, action: str) -> Path:
    """Run `callgrind_control ACTION PID`; return the newest callgrind file of `child`."""
    done = subprocess.run(
        ["callgrind_control", action, str(child.pid)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0 or "OK" not in done.stdout:
        raise BenchError(f"callgrind_control {action} failed:\n{done.stdout}{done.stderr}")
    files = sorted(
        child.log.parent.glob(f"{child.name}.callgrind*"), key=lambda p: p.stat().st_mtime
    )
    if not files:
        raise BenchError(f"{child.name}: callgrind wrote no file:\n{child.tail()}")
    return files[-1]


def read_total(dump: Path) -> int:
    """Return the instruction total (`summary:` or `totals:` line) of one callgrind dump."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise BenchError(f"{dump} has no summary line")


def by_object(dump: Path) -> dict[str, int]:
    """Return the self instructions of each shared object (the interpreter, SQLite, orjson...).

    In callgrind's format `ob=` names the object of the functions that follow, a cost line is
    `position instructions`, and the line after `calls=` is the inclusive cost of a call (already
    counted in the callee), so it is skipped.
    """
    totals: dict[str, int] = {}
    obj, after_call = "?", False
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("ob="):
            obj = Path(line[3:]).name.split(".cpython-")[0].split(".so")[0]
        elif line.startswith("calls="):
            after_call = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_call:
                after_call = False
            elif len(fields := line.split()) == 2:
                totals[obj] = totals.get(obj, 0) + int(fields[1])
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def export_gateway(rev: str, into: Path) -> Path:
    """Write `gateway/` of commit `rev` under `into` (for PYTHONPATH); return `into`."""
    archive = subprocess.run(
        ["git", "archive", rev, "gateway"], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise BenchError(f"git archive {rev} failed: {archive.stderr.decode().strip()}")
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def report(results: list[Measured], rev: str | None) -> str:
    """Return the result lines: per server and source, the ratio, and the A/B change."""
    by = {(r.kind, r.source): r for r in results}
    bare = by[("bare", "this tree")].per_request
    lines = []
    for r in results:
        ratio = "" if r.kind == "bare" else f"; bare / gateway {bare / r.per_request:.2f}"
        lines.append(f"{r.kind:>10} ({r.source}): {r.per_request / 1e6:6.3f} M instr/req{ratio}")
    lines.append("where they go (self instructions per request, by shared object):")
    for r in results:
        top = list(r.objects.items())[:TOP_OBJECTS]
        lines.append(
            f"{r.kind:>10} ({r.source}): "
            + ", ".join(f"{name} {n / r.requests / 1e6:.3f}M" for name, n in top)
        )
    if rev:
        for name in ("store-only", "delivery"):
            if (name, rev) in by and (name, "this tree") in by:
                new, old = by[(name, "this tree")].per_request, by[(name, rev)].per_request
                lines.append(f"{name:>10}: this tree vs {rev}: {100 * (new - old) / old:+.1f}%")
    return "\n".join(lines)


def main() -> int:
    """Measure; print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500, help="measured requests (1500)")
    parser.add_argument("--warmup", type=int, default=200, help="requests before (200)")
    parser.add_argument("--connections", type=int, default=32, help="client connections (32)")
    parser.add_argument("--compare", metavar="REV", help="also measure gateway/ of commit REV")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        print("instructions: needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="gateway-instructions-"))
    meter = Meter(args, tmp)
    if meter.load_cpu is not None:
        os.sched_setaffinity(0, {meter.load_cpu})
    results: list[Measured] = []
    try:
        meter.start_receiver()
        sources: list[tuple[str, Path | None]] = [("this tree", None)]
        if args.compare:
            sources.append((args.compare, export_gateway(args.compare, tmp / "rev")))
        for label, source in sources:
            for kind, deliver in (("store-only", False), ("delivery", True)):
                name = kind if source is None else f"{kind}-rev"
                server = meter.gateway(name, source, deliver)
                results.append(meter.measure(name, kind, label, server, deliver))
        results.append(meter.measure("bare", "bare", "this tree", meter.bare("bare"), False))
    except BenchError as exc:
        print(f"instructions: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        meter.supervisor.stop_all()
        if args.keep:
            print(f"instructions: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report(results, args.compare))
    return 0


if __name__ == "__main__":
    sys.exit(main())
