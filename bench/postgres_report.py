"""Render `bench/run.py --postgres` results as Markdown (pasted into docs/benchmarks.md)."""

from __future__ import annotations

import statistics
from typing import Any

from postgres_server import COUNTERS
from report import get, millis, number

__all__ = ["render_postgres"]

_SIDES = ("sqlite", "postgres")


def _row(label: str, values: list[str], ratio: str = "") -> str:
    return f"| {label} | {' | '.join(values)} | {ratio} |"


def _ratio(sqlite: float | None, postgres: float | None) -> str:
    return f"{postgres / sqlite:.2f}" if sqlite and postgres else ""


def _comparison(results: dict[str, Any]) -> list[str]:
    """Return the table of one instance on PostgreSQL next to the gateway on SQLite."""
    runs = results["gateway"]
    bare = get(results, "bare", "peak_rate")

    def read(run: str, *path: str) -> list[Any]:
        return [get(runs, f"{side}_{run}", *path) for side in _SIDES]

    def rate_row(label: str, run: str) -> str:
        rates = read(run, "peak", "wrk", "rate")
        cells = [f"{number(r)} ({r / bare:.2f}x bare)" if r and bare else number(r) for r in rates]
        return _row(label, cells, _ratio(*rates))

    def latency_row(label: str, run: str, *path: str) -> str:
        pairs = read(run, *path)
        cells = [f"{millis(p['p50'])} / {millis(p['p99'])}" if p else "-" for p in pairs]
        return _row(label, cells, _ratio(*(p and p["p99"] for p in pairs)))

    def value_row(label: str, run: str, *path: str, digits: int = 0) -> str:
        values = read(run, *path)
        return _row(label, [number(v, digits) for v in values], _ratio(*values))

    rss = [
        max(get(runs, f"{side}_{run}", "peak_rss_mib") or 0 for run in ("store_only", "batch100"))
        for side in _SIDES
    ]
    startup = [get(results, "startup", "median_s"), get(results, "startup_postgres", "median_s")]
    return [
        "| one instance | SQLite (FULL sync) | PostgreSQL | PostgreSQL / SQLite |",
        "|---|---:|---:|---:|",
        "| *no backend (store only):* | | | |",
        rate_row("peak ingest (req/s)", "store_only"),
        latency_row("latency p50 / p99 at peak (ms)", "store_only", "peak", "wrk", "latency_ms"),
        latency_row("p50 / p99 at half peak (ms)", "store_only", "paced", "wrk", "latency_ms"),
        value_row("gateway CPU µs / request", "store_only", "peak", "cpu_us_per_req"),
        _row(
            "PostgreSQL server CPU µs / request",
            [
                "in the gateway's",
                number(get(runs, "postgres_store_only", "peak", "server_cpu_us_per_req")),
            ],
        ),
        value_row(
            "requests per group commit at peak", "store_only", "peak", "group_commit_mean", digits=1
        ),
        "| *webhook backend delivering (batch_size 100):* | | | |",
        rate_row("peak ingest, everything delivered (req/s)", "batch100"),
        value_row(
            "delivered during the peak (/s)", "batch100", "peak", "delivery", "during_ingest_per_s"
        ),
        latency_row("latency p50 / p99 at peak (ms)", "batch100", "peak", "wrk", "latency_ms"),
        latency_row("p50 / p99 at half peak (ms)", "batch100", "paced", "wrk", "latency_ms"),
        latency_row(
            "receipt→delivered p50 / p99 at half peak (ms)",
            "batch100",
            "paced",
            "delivery",
            "latency_ms",
        ),
        value_row("gateway CPU µs / request", "batch100", "peak", "cpu_us_per_req"),
        _row(
            "PostgreSQL server CPU µs / request",
            [
                "in the gateway's",
                number(get(runs, "postgres_batch100", "peak", "server_cpu_us_per_req")),
            ],
        ),
        value_row("backlog drain, receiver resumed (/s)", "batch100", "backlog", "drain_per_s"),
        _row("peak RSS of the gateway, VmHWM (MiB)", [number(v, 1) for v in rss], _ratio(*rss)),
        _row(
            "start-up to /readyz, median (s)",
            [f"{v:.2f}" if v else "-" for v in startup],
            _ratio(*startup),
        ),
        "",
        f"Bare aiohttp: {number(bare)} req/s (mean of"
        f" {' / '.join(number(p['rate']) for p in get(results, 'bare', 'peaks') or [])}, before"
        " and after the four gateways), "
        f"{number(get(results, 'bare', 'cpu_us_per_req'))} CPU µs / request.",
        "",
    ]


def _scale_out(results: dict[str, Any]) -> list[str]:
    """Return the table of 1, 2 and 3 instances on one database."""
    rows = results["scale_out"]
    one = get(rows, "1", "rate")
    lines = [
        "| instances | ingest, all delivered (req/s) | vs 1 | per instance (req/s) | worst"
        " instance's p99 at peak (ms) | delivered end to end (/s) | receipt→delivered p99 (ms)"
        " | gateway CPU µs / req (all instances) | PostgreSQL CPU µs / req: server (bench"
        " backends) | CPU 0 / CPU 1 busy | requests per group commit |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, row in rows.items():
        runs = row["rounds"]
        last = runs[-1]
        rounds = " / ".join(number(r["rate"]) for r in runs)
        busy = " / ".join(
            f"{statistics.median(r['cpu_busy_pct'].get(str(cpu), 0.0) for r in runs):.0f}%"
            for cpu in (0, 1)
        )
        receipt = get(last, "receipt_to_delivered_ms", "p99")
        lines.append(
            f"| {key} | {number(row['rate'])} ({rounds}) |"
            f" {row['rate'] / one:.2f}x |"
            f" {' + '.join(number(r) for r in last['per_instance_rate'])} |"
            f" {millis(row['p99_ms'])} | {number(row['delivered_end_to_end_per_s'])} |"
            f" {millis(receipt)} | {number(row['gateway_cpu_us_per_req'])} |"
            f" {number(row['server_cpu_us_per_req'])} ({number(row['backends_cpu_us_per_req'])}) |"
            f" {busy} | {number(last['group_commit_mean'], 1)} |"
        )
    lines += [
        "",
        "PostgreSQL's work per stored interaction (`pg_stat_database` and `pg_stat_user_tables` of"
        " the bench database, last round):",
        "",
        "| instances | " + " | ".join(COUNTERS.values()) + " |",
        "|---:|" + "---:|" * len(COUNTERS),
    ]
    for key, row in rows.items():
        work = row["rounds"][-1].get("postgres_per_interaction") or {}
        lines.append(f"| {key} | " + " | ".join(number(work.get(n), 1) for n in COUNTERS) + " |")
    return [*lines, ""]


def render_postgres(results: dict[str, Any]) -> str:
    """Return the Markdown report of a PostgreSQL run."""
    machine, plan, server = results["machine"], results["plan"], results["postgres"]
    foreign = [
        (name, run["peak"]["wrk"].get("foreign_cpu_pct"))
        for name, run in results["gateway"].items()
    ] + [
        (f"{r['instances']} instances", r["foreign_cpu_pct"])
        for row in results["scale_out"].values()
        for r in row["rounds"]
    ]
    worst = max((pct or 0.0 for _, pct in foreign), default=0.0)
    placement = "; ".join(
        f"{what}: CPU {', '.join(map(str, cpus))}"
        for what, cpus in results["placement"]["postgres (at the end of the last load)"].items()
    )
    lines = [
        f"# Channel Gateway on PostgreSQL ({'quick' if plan['quick'] else 'full'} run,"
        f" {results.get('finished_at', '?')})",
        "",
        "## One instance: PostgreSQL next to SQLite",
        "",
        *_comparison(results),
        f"## Scale-out: instances on one database ({plan['scale_out_s']} s peaks, webhook backend"
        " delivering; medians of the rounds, each round in brackets)",
        "",
        *_scale_out(results),
        f"Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, {machine['os']}, Linux"
        f" {machine['kernel']}; Python {machine['python']}, aiohttp {machine['aiohttp']}, SQLite"
        f" {machine['sqlite']}, {machine['wrk']}; gateway commit {machine['gateway_commit']}."
        f" PostgreSQL {server['server_version']}: "
        + ", ".join(f"{k} {v}" for k, v in server.items() if k != "server_version")
        + f". `gateway migrate`: {results['migrate']['output']}.",
        "",
        f"Load: `{plan['wrk']}` (scale-out: one wrk per instance, the {plan['connections']}"
        " connections split between them). Gateway instances on CPU"
        f" {plan['server_cpu']}; wrk, the receiver and bench/run.py on CPU {plan['load_cpu']};"
        f" PostgreSQL: {placement}. Event loop {results['event_loop']}. CPUs"
        f" {results.get('busy_before_pct', '?')}% busy before the start; other processes used at"
        f" most {worst:.1f}% of a CPU during any load phase. Total run time"
        f" {results.get('total_s', 0) / 60:.1f} min.",
        "",
    ]
    return "\n".join(lines)
