"""The phases of a benchmark run: what `bench/run.py` executes, in order (see `Bench.execute`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway_under_test import (
    BACKEND,
    CHANNEL,
    Gateway,
    GatewayMetrics,
    gateway_argv,
    write_config,
)
from harness import (
    BENCH,
    BenchError,
    Child,
    CpuMeter,
    Supervisor,
    WrkResult,
    cpu_busy_pct,
    finish_wrk,
    free_port,
    git_commit,
    http_json,
    machine_facts,
    maps_mention,
    proc_status_kib,
    process_cpu_s,
    source_digest,
    start_wrk,
)
from preload import preload
from report import get, summarize_stacks
from workload import Workload, new_secret

FIRST_RATE_GUESS = 30_000.0
"""Requests per second to pre-sign for before any peak is known (more than bare aiohttp does)."""
DRAIN_TIMEOUT_S = 300.0
FOREIGN_CPU_WARN_PCT = 10.0
"""Other processes using more than this share of a CPU during a phase make it suspect."""
PROFILE_RATE = 250
"""py-spy samples per second and thread."""


@dataclass(frozen=True)
class Plan:
    """How long and how hard each phase runs."""

    quick: bool
    connections: int
    peak_s: int
    paced_s: int
    backlog_s: int
    warmup_s: int
    startups: int
    batch1: bool
    """Whether to run the batch_size 1 gateway (its slow drain does not fit the quick run)."""
    scaling: tuple[int, ...]
    scaling_rounds: int
    scaling_peak_s: int
    server_cpu: int | None
    load_cpu: int | None
    profile: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        """Return the plan for the command line."""
        cpus = sorted(os.sched_getaffinity(0))
        pinned = len(cpus) >= 2
        quick = bool(args.quick)
        peak = args.duration or (5 if quick else 15)
        return cls(
            quick=quick,
            connections=args.connections,
            peak_s=peak,
            paced_s=peak,
            backlog_s=max(3, peak // 3),
            warmup_s=1 if quick else 2,
            startups=3 if quick else 5,
            batch1=not quick,
            scaling=(0, 100_000) if quick else (0, 1_000, 100_000, 1_000_000),
            scaling_rounds=2 if quick else 3,
            scaling_peak_s=max(5, 2 * peak // 3),
            server_cpu=cpus[0] if pinned else None,
            load_cpu=cpus[1] if pinned else None,
            profile=bool(args.profile),
        )

    def facts(self) -> dict[str, Any]:
        """Return what every report says about the load and the placement."""
        return {
            "quick": self.quick,
            "wrk": f"wrk -t1 -c{self.connections} -d{self.peak_s}s --latency --timeout 10s",
            "connections": self.connections,
            "peak_s": self.peak_s,
            "paced_s": self.paced_s,
            "backlog_s": self.backlog_s,
            "warmup_s": self.warmup_s,
            "server_cpu": self.server_cpu,
            "load_cpu": self.load_cpu,
        }


class Bench:
    """One benchmark run: its processes, temporary files, pre-signed load and results."""

    def __init__(self, plan: Plan, tmp: Path, wrk: str) -> None:
        self.plan = plan
        self.tmp = tmp
        self.wrk = wrk
        self.supervisor = Supervisor(tmp)
        self.secret, key = new_secret()
        self.hook_secret, _ = new_secret()
        self.workload = Workload(key)
        self.rate_ceiling = FIRST_RATE_GUESS
        """Most requests per second any server may take: how much to sign for unpaced phases."""
        self.gateway_rates: list[float] = []
        self.started = time.monotonic()
        self.receiver_port = 0
        self.loop = "asyncio"
        self.source = ""
        self.results: dict[str, Any] = {}
        self.extra_cpu: Callable[[], float] | None = None
        """CPU seconds of a database server the gateways use, counted as the bench's own."""

    # -- plumbing -----------------------------------------------------------------------------

    def log(self, message: str) -> None:
        """Print progress to stderr (stdout gets the report)."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def signed(self, rate: float, duration_s: int, name: str = "signed") -> Path:
        """Return a file of requests signed now, enough for `rate` over `duration_s`."""
        count = int(rate * duration_s * 1.3) + 20 * self.plan.connections
        path = self.tmp / f"{name}.txt"
        self.workload.write_signed(path, count)
        return path

    def gateway_ceiling(self) -> float:
        """Return how many requests per second to sign for an unpaced gateway phase.

        Signing for the bare app's rate would waste seconds per phase: 2.5x the fastest gateway
        phase so far is plenty (a run that exhausts its file fails loudly, it never reuses ids).
        """
        if not self.gateway_rates:
            return self.rate_ceiling
        return min(self.rate_ceiling, 2.5 * max(self.gateway_rates))

    def load(
        self, url: str, duration_s: int, rate: float | None = None, data: Path | None = None
    ) -> WrkResult:
        """Run wrk against `url` for `duration_s`, paced at `rate` if given."""
        if data is None:
            data = self.signed(rate * 1.05 if rate else self.rate_ceiling, duration_s)
        meter = CpuMeter(self.supervisor, self.extra_cpu)
        meter.start()
        connections = self.plan.connections
        wrk = start_wrk(
            url,
            data,
            duration_s=duration_s,
            connections=connections,
            cpu=self.plan.load_cpu,
            rate=rate,
        )
        result = finish_wrk(wrk, duration_s=duration_s, connections=connections, rate=rate)
        foreign = meter.foreign_pct()
        if foreign > FOREIGN_CPU_WARN_PCT:
            self.log(
                f"warning: other processes used {foreign}% of a CPU during this phase:"
                " its numbers are not trustworthy"
            )
        return dataclasses.replace(result, foreign_cpu_pct=foreign)

    def receiver(self, query: str = "") -> dict[str, Any]:
        """Return the receiver's GET /stats?query."""
        status, body = http_json(f"http://127.0.0.1:{self.receiver_port}/stats?{query}")
        if status != 200 or not isinstance(body, dict):
            raise BenchError(f"receiver /stats answered {status}")
        return body

    def tell_receiver(self, action: str) -> None:
        """POST /reset, /pause or /resume to the receiver."""
        url = f"http://127.0.0.1:{self.receiver_port}/{action}"
        if (status := http_json(url, method="POST")[0]) != 200:
            raise BenchError(f"receiver /{action} answered {status}")

    def python(self, script: str, *args: str) -> list[str]:
        """Return the argv running a bench script with this interpreter."""
        return [sys.executable, str(BENCH / script), *args]

    def write_config(
        self, name: str, store: Path | str, batch_size: int, deliver: bool = True
    ) -> tuple[Path, int]:
        """Write the bench config of one gateway (no backend unless `deliver`) on a SQLite file
        or a PostgreSQL URL; return its path and webhook port."""
        path = self.tmp / f"{name}.yaml"
        port = write_config(
            path,
            store,
            secret=self.secret,
            hook_secret=self.hook_secret,
            receiver_port=self.receiver_port if deliver else None,
            batch_size=batch_size,
        )
        return path, port

    def start_gateway(self, name: str, config: Path, port: int) -> Gateway:
        """Start the gateway pinned to the server CPU and wait for /readyz."""
        child = self.supervisor.start(name, gateway_argv(config), self.plan.server_cpu)
        ready = child.wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=120.0)
        return Gateway(child, port, ready)

    def watch_server(self, gateway: Gateway) -> Gateway:
        """Return `gateway` with the database server serving it watched (`Gateway.server_cpu`);
        a bench on a database server (bench/postgres_phases.py) says how."""
        raise BenchError(f"{gateway.child.name}: this bench watches no database server")

    def stop(self, child: Child) -> None:
        """Stop a child and fail if it did not exit cleanly."""
        status = self.supervisor.stop(child)
        if status not in (0, -signal.SIGTERM):
            raise BenchError(f"{child.name} exited with {status}:\n{child.tail()}")

    # -- phases -------------------------------------------------------------------------------

    def start_receiver(self) -> None:
        """Start the receiver on the load CPU (it shares it with wrk during ingest)."""
        self.receiver_port = free_port()
        loop = "uvloop" if _has_uvloop() else "asyncio"
        child = self.supervisor.start(
            "receiver",
            self.python("receiver.py", "--port", str(self.receiver_port), "--loop", loop),
            self.plan.load_cpu,
        )
        child.wait_ready(f"http://127.0.0.1:{self.receiver_port}/readyz")
        self.results["receiver_loop"] = loop

    def startup(self) -> None:
        """Time spawn-to-ready of `gateway serve` several times; find which event loop it runs."""
        db = self.tmp / "startup" / "gateway.db"
        config, port = self.write_config("startup", db, batch_size=100)
        times = []
        for n in range(self.plan.startups):
            gateway = self.start_gateway(f"startup-{n}", config, port)
            times.append(gateway.ready_s)
            if n == 0:
                self.loop = "uvloop" if maps_mention(gateway.child.pid, "uvloop") else "asyncio"
            self.stop(gateway.child)
        self.results["startup"] = {
            "median_s": round(statistics.median(times), 3),
            "runs_s": [round(t, 3) for t in times],
            "note": "first run creates the store; the others open it",
        }
        self.results["event_loop"] = self.loop
        self.log(
            f"start-up to /readyz: median {statistics.median(times):.2f}s of"
            f" {', '.join(f'{t:.2f}' for t in times)}; gateway event loop: {self.loop}"
        )

    def start_bare(self) -> tuple[Child, str]:
        """Start the bare app on the server CPU; return it and its webhook URL."""
        port = free_port()
        child = self.supervisor.start(
            "bare",
            self.python(
                "bare_app.py", "--port", str(port), "--secret", self.secret, "--loop", self.loop
            ),
            self.plan.server_cpu,
        )
        child.wait_ready(f"http://127.0.0.1:{port}/readyz")
        url = f"http://127.0.0.1:{port}/webhooks/{CHANNEL}"
        self.load(url, self.plan.warmup_s)
        return child, url

    def bare_peak(self, child: Child, url: str) -> None:
        """Measure bare aiohttp at peak (twice per run: before and after the gateway's peak)."""
        os.sync()
        cpu_before = process_cpu_s(child.pid)
        peak = self.load(url, self.plan.peak_s)
        cpu_us = 1e6 * (process_cpu_s(child.pid) - cpu_before) / peak.requests
        samples = self.results.setdefault("bare", {}).setdefault("peaks", [])
        self.rate_ceiling = max(1.5 * peak.rate, self.rate_ceiling if samples else 0.0)
        samples.append(peak.as_dict() | {"cpu_us_per_req": round(cpu_us, 1)})
        self.log(
            f"bare peak: {peak.rate:,.0f} req/s, p99 {peak.latency_ms['p99']} ms,"
            f" {cpu_us:.1f} CPU us/req"
        )

    def bare_rest(self, child: Child, url: str) -> None:
        """Second bare peak, bare at half its peak, its RSS; then stop it."""
        self.bare_peak(child, url)
        bare = self.results["bare"]
        bare["peak_rate"] = round(statistics.mean(p["rate"] for p in bare["peaks"]), 1)
        bare["cpu_us_per_req"] = round(
            statistics.mean(p["cpu_us_per_req"] for p in bare["peaks"]), 1
        )
        half = self.load(url, self.plan.paced_s, rate=bare["peak_rate"] / 2)
        self.log(f"bare at half peak: {half.rate:,.0f} req/s, p99 {half.latency_ms['p99']} ms")
        bare["half"] = half.as_dict()
        rss = proc_status_kib(child.pid, "VmHWM")
        bare["peak_rss_mib"] = round(rss / 1024, 1) if rss else None
        self.stop(child)

    def check(self, before: GatewayMetrics, after: GatewayMetrics) -> None:
        """Fail if a request was a duplicate (replayed signing) or answered with an error."""
        if after.duplicates != before.duplicates:
            raise BenchError(
                f"{after.duplicates - before.duplicates:.0f} requests were duplicates:"
                " the pre-signed external ids were reused"
            )
        if bad := {k: v for k, v in after.outcomes.items() if k != "stored" and v}:
            raise BenchError(f"the gateway answered some webhooks with errors: {bad}")

    def ingest(
        self,
        gateway: Gateway,
        duration_s: int,
        rate: float | None = None,
        *,
        profile: bool = False,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """Load the gateway (receiver healthy), then wait until every interaction arrived.

        `cpu_us_per_req` is the gateway process's CPU time (all threads, from /proc) from the
        start of the load until the last delivery, per stored interaction. Without `deliver`
        (a gateway with no backend) the receiver is left alone.
        """
        if deliver:
            self.tell_receiver("reset")
        data = self.signed(rate * 1.05 if rate else self.gateway_ceiling(), duration_s)
        profiler = self.start_profiler(gateway, duration_s) if profile else None
        before = gateway.metrics()
        cpu_before = process_cpu_s(gateway.child.pid)
        server_before = gateway.server_cpu() if gateway.server_cpu else 0.0
        result = self.load(gateway.url, duration_s, rate, data=data)
        stopped = time.monotonic()
        self.gateway_rates.append(result.rate)
        if profiler is not None:
            self.results["profile"] = self.finish_profiler(profiler, duration_s)
        run: dict[str, Any] = {"wrk": result.as_dict()}
        if deliver:
            run["delivery"] = self.delivery_after(gateway, before, stopped, result.duration_s)
        cpu_s = process_cpu_s(gateway.child.pid) - cpu_before
        server_s = gateway.server_cpu() - server_before if gateway.server_cpu else None
        after = gateway.metrics()
        self.check(before, after)
        commits = after.commit_count - before.commit_count
        stored = int(after.stored - before.stored)
        run |= {
            "stored": stored,
            "group_commit_mean": round((after.commit_sum - before.commit_sum) / commits, 1)
            if commits
            else None,
            "cpu_us_per_req": round(1e6 * cpu_s / stored, 1) if stored else None,
        }
        if server_s is not None:
            run["server_cpu_us_per_req"] = round(1e6 * server_s / stored, 1) if stored else None
        return run

    def delivery_after(
        self, gateway: Gateway, before: GatewayMetrics, stopped: float, duration_s: float
    ) -> dict[str, Any]:
        """Wait until everything stored since `before` arrived; return the delivery figures."""
        at_stop = self.receiver()
        stored_at_stop = gateway.metrics().stored - before.stored
        delivered = self.await_delivery(gateway, before)
        window = self.receiver(f"since={stopped}&latency=1")
        drained = window["since"]
        drain_s = (window["last_at"] - stopped) if drained else 0.0
        # A drain shorter than a second, or of a handful of events, measures nothing.
        drain_rate = drained / drain_s if drained >= 1000 and drain_s >= 1.0 else None
        return {
            "delivered": delivered,
            "duplicates_at_receiver": window["events"] - window["unique"],
            "during_ingest_per_s": round(at_stop["unique"] / duration_s, 1),
            "backlog_at_stop": int(stored_at_stop - at_stop["unique"]),
            "drain_per_s": round(drain_rate, 1) if drain_rate else None,
            "latency_ms": window["latency_ms"],
        }

    def start_profiler(self, gateway: Gateway, duration_s: int) -> Child:
        """Sample the gateway with py-spy (from the load CPU) for `duration_s`."""
        py_spy = Path(sys.executable).with_name("py-spy")
        if not py_spy.exists():
            raise BenchError("--profile needs py-spy in the virtualenv: pip install py-spy")
        out = self.tmp / "profile.txt"
        argv = [
            str(py_spy), "record", "--pid", str(gateway.child.pid), "--duration",
            str(duration_s), "--rate", str(PROFILE_RATE), "--nonblocking", "--threads", "--format",
            "raw", "-o", str(out),
        ]  # fmt: skip
        return self.supervisor.start("py-spy", argv, self.plan.load_cpu)

    def finish_profiler(self, profiler: Child, duration_s: int) -> dict[str, Any]:
        """Wait for py-spy; keep its collapsed stacks and return the top functions."""
        try:
            profiler.process.wait(60)
        except subprocess.TimeoutExpired:
            raise BenchError(f"py-spy did not finish:\n{profiler.tail()}") from None
        self.supervisor.stop(profiler)
        source = self.tmp / "profile.txt"
        if not source.exists():
            raise BenchError(f"py-spy wrote no profile:\n{profiler.tail()}")
        out = BENCH / "results"
        out.mkdir(exist_ok=True)
        shutil.copy(source, out / "profile-peak.txt")
        return summarize_stacks(source.read_text(), PROFILE_RATE * duration_s)

    def backlog(
        self, gateway: Gateway, duration_s: int, paced_rate: float | None = None
    ) -> dict[str, Any]:
        """Pause the receiver, ingest (paced, then at full speed), resume it, time the drain.

        The paused receiver holds the requests in flight unanswered (the bench backend's timeout
        is 60 s), so nothing fails, retries or opens the circuit: the gateway only queues. This
        gives the ingest latency and throughput without concurrent delivery work, and the
        delivery throughput without concurrent ingest.
        """
        self.tell_receiver("reset")
        paced_data = (
            self.signed(paced_rate * 1.05, self.plan.paced_s, "paced") if paced_rate else None
        )
        data = self.signed(self.gateway_ceiling(), duration_s)
        before = gateway.metrics()
        run: dict[str, Any] = {}
        self.tell_receiver("pause")
        try:
            if paced_rate:
                result = self.load(gateway.url, self.plan.paced_s, paced_rate, data=paced_data)
                run["paced_wrk"] = result.as_dict()
            result = self.load(gateway.url, duration_s, data=data)
            self.gateway_rates.append(result.rate)
            run["wrk"] = result.as_dict()
        finally:
            resumed = time.monotonic()
            self.tell_receiver("resume")
        run["backlog"] = int(gateway.metrics().stored - before.stored)
        run["delivered"] = delivered = self.await_delivery(gateway, before)
        self.check(before, gateway.metrics())
        window = self.receiver(f"since={resumed}")
        drain_s = window["last_at"] - resumed if window["since"] else 0.0
        run["drain_s"] = round(drain_s, 3)
        run["drain_per_s"] = round(delivered / drain_s, 1) if drain_s > 0 else None
        return run

    def await_delivery(self, gateway: Gateway, before: GatewayMetrics) -> int:
        """Wait until the receiver holds every interaction stored since `before`."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        last_stored = -1.0
        while time.monotonic() < deadline:
            stored = gateway.metrics().stored - before.stored
            unique = self.receiver()["unique"]
            if unique >= stored and stored == last_stored:
                return int(unique)
            last_stored = stored
            time.sleep(0.05)
        raise BenchError(
            f"delivery did not finish within {DRAIN_TIMEOUT_S:.0f}s:"
            f" {self.receiver()['unique']} of {last_stored:.0f} interactions arrived"
        )

    def gateway_run(
        self,
        name: str,
        batch_size: int,
        *,
        store: Path | None = None,
        peak: bool = True,
        peak_s: int | None = None,
        after_peak: Callable[[], None] | None = None,
        paced: bool = True,
        paced_rate: float | None = None,
        backlog: bool = True,
        deliver: bool = True,
        database: str | None = None,
    ) -> dict[str, Any]:
        """Start a gateway on a fresh store (or a copy of `store`) and measure it.

        Phases: warm-up; `peak` (unpaced, receiver healthy), then `after_peak()` while this
        gateway idles; if `paced`, paced at `paced_rate` (default: half this run's peak); if
        `backlog`, the backlog drain. RSS is read at the end; the store is deleted. Without
        `deliver` the gateway has no backend at all (store only; no backlog phase). With
        `database` (a PostgreSQL URL, emptied by the caller) the store is there instead of in
        a fresh SQLite file, and `watch_server` watches its server.
        """
        backlog = backlog and deliver
        db = self.tmp / name / "gateway.db"
        db.parent.mkdir(parents=True)
        if store is not None:
            shutil.copyfile(store, db)
        os.sync()  # no write-back of earlier phases competes with this one's fsyncs
        run: dict[str, Any] = {"batch_size": batch_size}
        config, port = self.write_config(
            name, db if database is None else database, batch_size, deliver
        )
        gateway = self.start_gateway(name, config, port)
        if database is not None:
            gateway = self.watch_server(gateway)
        run["startup_s"] = round(gateway.ready_s, 3)
        if self.loop == "asyncio" and maps_mention(gateway.child.pid, "uvloop"):
            raise BenchError("the gateway switched to uvloop during the run; run again")
        self.ingest(gateway, self.plan.warmup_s, deliver=deliver)
        if peak:
            profile = self.plan.profile and name == "gateway-batch100"
            duration = peak_s or self.plan.peak_s
            run["peak"] = result = self.ingest(gateway, duration, profile=profile, deliver=deliver)
            wrk = result["wrk"]
            paced_rate = paced_rate or wrk["rate"] / 2
            delivery = result.get("delivery")
            self.log(
                f"{name}: peak {wrk['rate']:,.0f} req/s, p50/p99 {wrk['latency_ms']['p50']}/"
                f"{wrk['latency_ms']['p99']} ms, group commit {result['group_commit_mean']},"
                f" {result['cpu_us_per_req']} CPU us/req"
                + (
                    f"; delivered during ingest {delivery['during_ingest_per_s']:,.0f}/s,"
                    f" backlog {delivery['backlog_at_stop']:,}"
                    if delivery
                    else ""
                )
            )
        if after_peak is not None:
            after_peak()
        if paced and paced_rate:
            run["paced"] = result = self.ingest(
                gateway, self.plan.paced_s, rate=paced_rate, deliver=deliver
            )
            wrk, latency = result["wrk"], get(result, "delivery", "latency_ms") or {}
            self.log(
                f"{name}: paced {wrk['rate']:,.0f} req/s, p50/p99 {wrk['latency_ms']['p50']}/"
                f"{wrk['latency_ms']['p99']} ms"
                + (
                    f"; receipt-to-delivered p50/p99 {latency['p50']}/{latency['p99']} ms"
                    if latency
                    else ""
                )
            )
        if backlog:
            paused_rate = paced_rate if paced and batch_size > 1 else None
            run["backlog"] = result = self.backlog(gateway, self.plan.backlog_s, paused_rate)
            if paced_wrk := result.get("paced_wrk"):
                self.log(
                    f"{name}: receiver paused: paced {paced_wrk['rate']:,.0f} req/s, p50/p99"
                    f" {paced_wrk['latency_ms']['p50']}/{paced_wrk['latency_ms']['p99']} ms"
                )
            self.log(
                f"{name}: receiver paused: ingest {result['wrk']['rate']:,.0f} req/s; backlog"
                f" {result['backlog']:,} drained at {result['drain_per_s'] or 0:,.0f}/s"
            )
        hwm, rss = (
            proc_status_kib(gateway.child.pid, "VmHWM"),
            proc_status_kib(gateway.child.pid, "VmRSS"),
        )
        run["peak_rss_mib"] = round(hwm / 1024, 1) if hwm else None
        run["rss_end_mib"] = round(rss / 1024, 1) if rss else None
        self.stop(gateway.child)
        shutil.rmtree(db.parent, ignore_errors=True)
        return run

    def scaling(self) -> dict[str, Any]:
        """Ingest on stores pre-filled with 0..1M interactions, in rounds of alternating order.

        Gateway instances of one configuration differ by up to ~15% over minutes, as much as
        the effect looked for here, so every size is measured in several rounds (forward,
        reverse, forward ...), each time by a fresh gateway on a fresh copy of its pre-filled
        store, and the median peak is kept: a drift over the run does not pass for an effect of
        the store size, and one bad sample does not decide. The backlog drain runs in the last
        round.
        """
        templates: dict[int, Path | None] = {}
        rows: dict[int, dict[str, Any]] = {}
        for count in self.plan.scaling:
            rows[count] = {"prefill": count, "store_mib": 0.0, "rounds": []}
            templates[count] = None
            if count:
                path = self.tmp / "stores" / f"{count}.db"
                path.parent.mkdir(exist_ok=True)
                started = time.monotonic()
                preload(str(path), count, backend=BACKEND, channel=CHANNEL, kind="sms")
                rows[count]["preload_s"] = round(time.monotonic() - started, 1)
                rows[count]["store_mib"] = round(_store_bytes(path) / 2**20, 1)
                templates[count] = path
                self.log(f"preloaded {count:,} interactions in {rows[count]['preload_s']}s")
        order = list(self.plan.scaling)
        rounds = self.plan.scaling_rounds
        for round_no in range(1, rounds + 1):
            for count in order if round_no % 2 else order[::-1]:
                run = self.gateway_run(
                    f"gateway-prefill{count}-r{round_no}",
                    100,
                    store=templates[count],
                    peak_s=self.plan.scaling_peak_s,
                    paced=False,
                    backlog=round_no == rounds,
                )
                rows[count]["rounds"].append(run)
        for row in rows.values():
            runs = row["rounds"]
            row["peak_rate"] = round(statistics.median(r["peak"]["wrk"]["rate"] for r in runs), 1)
            row["p99_ms"] = round(
                statistics.median(r["peak"]["wrk"]["latency_ms"]["p99"] for r in runs), 2
            )
            row["peak_rss_mib"] = max(r["peak_rss_mib"] or 0 for r in runs)
            row["startup_s"] = round(statistics.median(r["startup_s"] for r in runs), 3)
            row["drain_per_s"] = runs[-1]["backlog"]["drain_per_s"]
        return {str(count): row for count, row in rows.items()}

    def execute(self) -> None:
        """Run every phase in order."""
        plan = self.plan
        self.results["machine"] = machine_facts(self.wrk)
        self.results["plan"] = plan.facts() | {
            "scaling_rounds": plan.scaling_rounds,
            "scaling_peak_s": plan.scaling_peak_s,
            "profile": plan.profile,
        }
        self.log(f"machine: {json.dumps(self.results['machine'])}")
        self.source = source_digest()
        self.results["busy_before_pct"] = busy = cpu_busy_pct(2.0)
        if busy > 10:
            self.log(
                f"warning: the CPUs were {busy}% busy before the bench started: other work skews"
                " the numbers; run the bench on an otherwise idle machine"
            )
        self.start_receiver()
        self.startup()
        bare, bare_url = self.start_bare()
        self.bare_peak(bare, bare_url)
        runs: dict[str, Any] = {}
        # Store only: the gateway with no backend at all, between the two bare peaks too.
        runs["store_only"] = self.gateway_run("gateway-store-only", 100, deliver=False)
        # bare, gateway, bare: the ratio's two sides bracket each other in time.
        runs["batch100"] = main = self.gateway_run(
            "gateway-batch100", 100, after_peak=lambda: self.bare_rest(bare, bare_url)
        )
        # Same moderate rate for batch_size 1, so the two delivery latencies compare.
        moderate = main["paced"]["wrk"]["target_rate"]
        if plan.batch1:
            runs["batch1"] = self.gateway_run("gateway-batch1", 1, peak=False, paced_rate=moderate)
        self.results["gateway"] = runs
        self.results["scaling"] = self.scaling()
        if source_digest() != self.source:
            self.results["source_changed"] = git_commit()
            self.log(
                "warning: the gateway's source changed during the run (now at"
                f" {self.results['source_changed']}): later phases may measure newer code"
            )


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
