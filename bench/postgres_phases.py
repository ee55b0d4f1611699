"""The PostgreSQL bench (`bench/run.py --postgres`, issue 17): its phases, in order (`execute`).

1. Machine facts, the server's settings, `gateway migrate` once on the run's throwaway database.
2. Start-up to `/readyz` of a gateway on SQLite and on PostgreSQL (also fixes the event loop).
3. Bare aiohttp at peak; then, one instance each, the gateway on SQLite and on PostgreSQL with
   no backend (store only) and with the `webhook` backend delivering (`batch_size: 100`):
   warm-up, peak, paced at half that peak (and, in the full run, the receiver-paused backlog
   and its drain); then bare aiohttp again (peak, half peak): the two bare peaks bracket the four
   gateways, as in the SQLite bench.
4. Scale-out: 1, 2 and 3 instances on the one database, webhook backend delivering, in rounds of
   alternating order. Each instance gets its own wrk with its share of the connections (the
   total stays `--connections`), all wrk started together: one keep-alive connection sticks to
   one instance, as behind an L4 load balancer, and no proxy's CPU or hop is measured.

Placement: the gateway instances on the server CPU (0), as the SQLite gateway; the PostgreSQL
backends serving the bench database pinned to the load CPU (1) with wrk, the receiver and this
script; the server's own processes (WAL writer, checkpointer, autovacuum) stay where the system
put them. Every PostgreSQL gateway is started on an emptied database (`PostgresServer.reset`).
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from gateway_under_test import Gateway, GatewayMetrics, gateway_argv
from harness import (
    BenchError,
    CpuMeter,
    WrkResult,
    cpu_busy_pct,
    cpu_busy_s,
    finish_wrk,
    machine_facts,
    process_cpu_s,
    start_wrk,
)
from phases import DRAIN_TIMEOUT_S, FOREIGN_CPU_WARN_PCT, Bench, Plan
from postgres_server import PostgresServer, ServerCpu

__all__ = ["PostgresBench"]

INSTANCES = (1, 2, 3)
CONNECTIONS_PER_INSTANCE = 2
"""Each gateway holds a writer and a reader connection."""
SETTLE_S = 1.0
"""How long the stored counts must hold still before delivery counts as complete."""


class PostgresBench(Bench):
    """One PostgreSQL benchmark run, on a throwaway database the caller created."""

    def __init__(self, plan: Plan, tmp: Path, wrk: str, database_url: str) -> None:
        super().__init__(plan, tmp, wrk)
        self.database_url = database_url
        self.server = PostgresServer(database_url)
        self.extra_cpu = self.server.server_cpu_s

    def close(self) -> None:
        """Close the connection to the server."""
        self.server.close()

    def watch_server(self, gateway: Gateway) -> Gateway:
        """Pin the backends of the one gateway on the database; count the server's CPU."""
        self.server.pin_backends(self.plan.load_cpu, CONNECTIONS_PER_INSTANCE)
        gateway.server_cpu = self.server.server_cpu_s
        return gateway

    def postgres_run(self, name: str, **options: Any) -> dict[str, Any]:
        """`gateway_run` on the emptied database."""
        self.server.reset()
        return self.gateway_run(name, 100, database=self.database_url, **options)

    def migrate(self) -> None:
        """Run `gateway migrate` once on the run's database."""
        config, _ = self.write_config("migrate", self.database_url, 100, deliver=False)
        argv = [*gateway_argv(config)[:-3], "migrate", "--config", str(config)]
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"gateway migrate failed ({done.returncode}):\n{done.stderr}")
        self.results["migrate"] = {
            "output": done.stdout.strip(),
            "seconds": round(time.monotonic() - started, 2),
        }
        self.log(f"gateway migrate: {done.stdout.strip()}")

    def postgres_startup(self) -> None:
        """Time spawn-to-ready of `gateway serve` on the database several times."""
        config, port = self.write_config("startup-postgres", self.database_url, 100)
        times = []
        for n in range(self.plan.startups):
            gateway = self.start_gateway(f"startup-postgres-{n}", config, port)
            times.append(gateway.ready_s)
            self.stop(gateway.child)
        self.results["startup_postgres"] = {
            "median_s": round(statistics.median(times), 3),
            "runs_s": [round(t, 3) for t in times],
        }
        self.log(f"start-up on PostgreSQL: median {statistics.median(times):.2f}s")

    # -- scale-out ----------------------------------------------------------------------------

    def load_many(
        self, gateways: list[Gateway], duration_s: int
    ) -> tuple[list[WrkResult], float, dict[str, float]]:
        """Load every gateway at once, each with its own wrk and share of the connections;
        return the wrk results, the share of a CPU other processes used, and each CPU's busy
        percentage."""
        count = len(gateways)
        shares = [
            self.plan.connections // count + (n < self.plan.connections % count)
            for n in range(count)
        ]
        rate = self.gateway_ceiling() / count
        data = [self.signed(rate, duration_s, f"signed-{n}") for n in range(count)]
        meter = CpuMeter(self.supervisor, self.extra_cpu)
        busy_before, started = cpu_busy_s(), time.monotonic()
        meter.start()
        processes = [
            start_wrk(g.url, d, duration_s=duration_s, connections=c, cpu=self.plan.load_cpu)
            for g, d, c in zip(gateways, data, shares, strict=True)
        ]
        results = [
            finish_wrk(p, duration_s=duration_s, connections=c)
            for p, c in zip(processes, shares, strict=True)
        ]
        foreign = meter.foreign_pct()
        elapsed = time.monotonic() - started
        busy = {
            str(cpu): round(100 * (s - busy_before.get(cpu, 0.0)) / elapsed, 1)
            for cpu, s in cpu_busy_s().items()
        }
        if foreign > FOREIGN_CPU_WARN_PCT:
            self.log(f"warning: other processes used {foreign}% of a CPU during this phase")
        return results, foreign, busy

    def await_all(self, gateways: list[Gateway], before: list[GatewayMetrics]) -> int:
        """Wait until the receiver holds every interaction the gateways stored since `before`
        and their stored counts have not moved for `SETTLE_S`: requests still in flight when
        wrk stops are committed a group commit later (hundreds of ms on PostgreSQL), so a
        count that held for one poll may still grow."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        last, moved = -1.0, time.monotonic()
        while time.monotonic() < deadline:
            stored = sum(
                g.metrics().stored - b.stored for g, b in zip(gateways, before, strict=True)
            )
            unique = self.receiver()["unique"]
            if stored != last:
                last, moved = stored, time.monotonic()
            elif unique >= stored and time.monotonic() - moved >= SETTLE_S:
                return int(unique)
            time.sleep(0.05)
        raise BenchError(
            f"delivery did not finish within {DRAIN_TIMEOUT_S:.0f}s:"
            f" {self.receiver()['unique']} of {last:.0f} interactions arrived"
        )

    def await_delivery(self, gateway: Gateway, before: GatewayMetrics) -> int:
        """`await_all` for one gateway (the SQLite bench's check settles too early here)."""
        return self.await_all([gateway], [before])

    def instances_run(self, count: int, round_no: int) -> dict[str, Any]:
        """Start `count` instances on the emptied database, load them together, measure."""
        self.server.reset()
        gateways = []
        for n in range(count):
            name = f"postgres-x{count}-r{round_no}-{n}"
            config, port = self.write_config(name, self.database_url, 100)
            gateways.append(self.start_gateway(name, config, port))
        self.server.pin_backends(self.plan.load_cpu, CONNECTIONS_PER_INSTANCE * count)
        self.tell_receiver("reset")
        warm = [g.metrics() for g in gateways]
        self.load_many(gateways, self.plan.warmup_s)
        self.await_all(gateways, warm)
        self.tell_receiver("reset")
        before = [g.metrics() for g in gateways]
        cpu_before = [process_cpu_s(g.child.pid) for g in gateways]
        server_before, counters_before = self.server.cpu(), self.server.counters()
        started = time.monotonic()
        results, foreign, busy = self.load_many(gateways, self.plan.scaling_peak_s)
        stopped = time.monotonic()
        at_stop = self.receiver()["unique"]
        delivered = self.await_all(gateways, before)
        server: ServerCpu = self.server.cpu() - server_before
        time.sleep(1.1)  # backends flush their statistics at most once a second
        counters = self.server.counters()
        gateway_s = sum(
            process_cpu_s(g.child.pid) - c for g, c in zip(gateways, cpu_before, strict=True)
        )
        after = [g.metrics() for g in gateways]
        for b, a in zip(before, after, strict=True):
            self.check(b, a)
        window = self.receiver(f"since={started}&latency=1")
        stored = int(sum(a.stored - b.stored for a, b in zip(after, before, strict=True)))
        acknowledged = sum(r.requests for r in results)
        if stored < acknowledged or delivered < stored:
            raise BenchError(
                f"{count} instances: {acknowledged} acknowledged, {stored} stored,"
                f" {delivered} delivered once the counts held still: interactions were lost"
            )
        duration = max(r.duration_s for r in results)
        commits = sum(a.commit_count - b.commit_count for a, b in zip(after, before, strict=True))
        committed = sum(a.commit_sum - b.commit_sum for a, b in zip(after, before, strict=True))
        last_at = window["last_at"] or stopped
        run = {
            "instances": count,
            "rate": round(acknowledged / duration, 1),
            "per_instance_rate": [round(r.rate, 1) for r in results],
            "acknowledged": acknowledged,
            "stored": stored,
            "delivered": delivered,
            "duplicates_at_receiver": window["events"] - window["unique"],
            "delivered_during_ingest_per_s": round(at_stop / duration, 1),
            "delivered_end_to_end_per_s": round(delivered / (last_at - started), 1),
            "drain_after_stop_s": round(max(0.0, last_at - stopped), 2),
            "latency_ms": {
                key: max(r.latency_ms[key] for r in results) for key in ("p50", "p90", "p99")
            },
            "receipt_to_delivered_ms": window["latency_ms"],
            "group_commit_mean": round(committed / commits, 1) if commits else None,
            "gateway_cpu_us_per_req": round(1e6 * gateway_s / stored, 1),
            "backends_cpu_us_per_req": round(1e6 * server.backends / stored, 1),
            "server_cpu_us_per_req": round(1e6 * server.server / stored, 1),
            "postgres_per_interaction": {
                k: round((v - counters_before[k]) / stored, 2) for k, v in counters.items()
            },
            "cpu_busy_pct": busy,
            "foreign_cpu_pct": foreign,
            "wrk": [r.as_dict() for r in results],
        }
        self.log(
            f"{count} instance(s), round {round_no}: {run['rate']:,.0f} req/s"
            f" ({' + '.join(f'{r:,.0f}' for r in run['per_instance_rate'])}), worst p99"
            f" {run['latency_ms']['p99']} ms, delivered {run['delivered_end_to_end_per_s']:,.0f}/s"
            f" end to end; CPU us/req: gateways {run['gateway_cpu_us_per_req']}, postgres"
            f" {run['server_cpu_us_per_req']} (bench backends {run['backends_cpu_us_per_req']});"
            f" CPUs busy {busy}"
        )
        self.results["placement"] = {
            "gateway instances": [self.plan.server_cpu],
            "wrk, receiver, bench/run.py": [self.plan.load_cpu],
            "postgres (at the end of the last load)": self.server.placement(),
        }
        for gateway in reversed(gateways):
            self.stop(gateway.child)
        return run

    def scale_out(self) -> dict[str, Any]:
        """Measure 1, 2 and 3 instances in rounds of alternating order; keep the medians."""
        rows: dict[int, list[dict[str, Any]]] = {count: [] for count in INSTANCES}
        rounds = 1 if self.plan.quick else 2
        for round_no in range(1, rounds + 1):
            for count in INSTANCES if round_no % 2 else INSTANCES[::-1]:
                rows[count].append(self.instances_run(count, round_no))
        summary: dict[str, Any] = {}
        for count, runs in rows.items():

            def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
                return round(float(statistics.median(r[key] for r in runs)), 1)

            summary[str(count)] = {
                "instances": count,
                "rate": median("rate"),
                "p99_ms": round(statistics.median(r["latency_ms"]["p99"] for r in runs), 2),
                "delivered_end_to_end_per_s": median("delivered_end_to_end_per_s"),
                "gateway_cpu_us_per_req": median("gateway_cpu_us_per_req"),
                "backends_cpu_us_per_req": median("backends_cpu_us_per_req"),
                "server_cpu_us_per_req": median("server_cpu_us_per_req"),
                "rounds": runs,
            }
        return summary

    # -- the run ------------------------------------------------------------------------------

    def execute(self) -> None:
        """Run every phase in order."""
        plan = self.plan
        self.results["machine"] = machine_facts(self.wrk)
        self.results["postgres"] = self.server.settings()
        self.results["plan"] = plan.facts() | {"scale_out_s": plan.scaling_peak_s}
        self.log(f"machine: {self.results['machine']}; postgres: {self.results['postgres']}")
        self.results["busy_before_pct"] = busy = cpu_busy_pct(2.0)
        if busy > 10:
            self.log(f"warning: the CPUs were {busy}% busy before the bench started")
        self.migrate()
        self.start_receiver()
        self.startup()
        self.postgres_startup()
        bare, bare_url = self.start_bare()
        self.bare_peak(bare, bare_url)
        full = not plan.quick
        runs: dict[str, Any] = {}
        runs["sqlite_store_only"] = self.gateway_run("sqlite-store-only", 100, deliver=False)
        runs["postgres_store_only"] = self.postgres_run("postgres-store-only", deliver=False)
        runs["sqlite_batch100"] = self.gateway_run("sqlite-batch100", 100, backlog=full)
        runs["postgres_batch100"] = self.postgres_run(
            "postgres-batch100", backlog=full, after_peak=lambda: self.bare_rest(bare, bare_url)
        )
        self.results["gateway"] = runs
        self.server.reset()
        self.results["scale_out"] = self.scale_out()
