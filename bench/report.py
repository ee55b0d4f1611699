"""Render bench/run.py results as the Markdown report (also pasted into docs/benchmarks.md)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = [
    "ISSUE_16_TARGETS",
    "TARGETS",
    "evaluate",
    "get",
    "millis",
    "number",
    "render",
    "summarize_stacks",
]


def number(value: float | None, digits: int = 0) -> str:
    """Return `value` with thousands separators, or "-"."""
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def millis(value: float | None) -> str:
    """Return milliseconds to a sensible precision, or "-"."""
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def get(data: dict[str, Any], *path: str) -> Any:
    """Return `data[path[0]][path[1]]...`, or None where a key is missing."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


Target = tuple[str, Callable[[dict[str, Any]], float | None], str, float, str]
"""(what, how to read it from the results, comparison, threshold, unit)."""

TARGETS: list[Target] = [
    (
        "Durable ingest throughput vs bare aiohttp",
        lambda r: _ratio(r),
        ">=",
        0.50,
        "x",
    ),
    (
        "Ingest p99 at half the gateway's peak rate",
        lambda r: get(r, "gateway", "batch100", "paced", "wrk", "latency_ms", "p99"),
        "<",
        25.0,
        "ms",
    ),
    (
        "Delivery throughput with batching (batch_size 100, backlog drain)",
        lambda r: get(r, "gateway", "batch100", "backlog", "drain_per_s"),
        ">=",
        3000.0,
        "/s",
    ),
    (
        "Receipt-to-delivered p99, healthy receiver, half-peak ingest",
        lambda r: get(r, "gateway", "batch100", "paced", "delivery", "latency_ms", "p99"),
        "<",
        100.0,
        "ms",
    ),
    (
        "Peak RSS under load (VmHWM)",
        lambda r: get(r, "gateway", "batch100", "peak_rss_mib"),
        "<=",
        120.0,
        "MiB",
    ),
    (
        "Start-up to /readyz (median)",
        lambda r: get(r, "startup", "median_s"),
        "<=",
        1.5,
        "s",
    ),
    (
        "Ingest at 1M stored interactions vs empty store",
        lambda r: _scaling_ratio(r, "1000000"),
        ">=",
        0.85,
        "x",
    ),
]


ISSUE_16_TARGETS: list[Target] = [
    (
        "Store-only ingest vs bare aiohttp (no backend, FULL sync)",
        lambda r: _ratio(r, "store_only"),
        ">=",
        0.50,
        "x",
    ),
    (
        "Ingest with a webhook backend delivering, same core, vs bare aiohttp",
        lambda r: _ratio(r),
        ">=",
        0.35,
        "x",
    ),
    (
        "Ingest p99 at half peak, store only",
        lambda r: get(r, "gateway", "store_only", "paced", "wrk", "latency_ms", "p99"),
        "<",
        25.0,
        "ms",
    ),
    (
        "Ingest p99 at half peak, with delivery",
        lambda r: get(r, "gateway", "batch100", "paced", "wrk", "latency_ms", "p99"),
        "<",
        25.0,
        "ms",
    ),
    (
        "Receipt-to-delivered p99 at half peak",
        lambda r: get(r, "gateway", "batch100", "paced", "delivery", "latency_ms", "p99"),
        "<",
        100.0,
        "ms",
    ),
    (
        "Peak RSS (VmHWM), largest of both gateways",
        lambda r: (
            max(
                (get(r, "gateway", run, "peak_rss_mib") or 0 for run in ("store_only", "batch100")),
                default=0,
            )
            or None
        ),
        "<=",
        120.0,
        "MiB",
    ),
]
"""The ratios and limits issue 16 names, reported first."""


def _ratio(results: dict[str, Any], run: str = "batch100") -> float | None:
    gateway = get(results, "gateway", run, "peak", "wrk", "rate")
    bare = get(results, "bare", "peak_rate")
    return gateway / bare if gateway and bare else None


def _scaling_ratio(results: dict[str, Any], count: str) -> float | None:
    filled = get(results, "scaling", count, "peak_rate")
    empty = get(results, "scaling", "0", "peak_rate")
    return filled / empty if filled and empty else None


def evaluate(results: dict[str, Any], targets: list[Target] = TARGETS) -> list[dict[str, Any]]:
    """Return each target with the measured value, whether it is met and by how much."""
    rows = []
    for what, read, op, threshold, unit in targets:
        value = read(results)
        met = None
        margin = None
        if value is not None:
            met = (
                value >= threshold
                if op == ">="
                else value <= threshold
                if op == "<="
                else (value < threshold)
            )
            margin = (value - threshold) / threshold * 100
        rows.append(
            {
                "target": what,
                "threshold": f"{op} {threshold:g}{'' if unit in ('x', '/s') else ' '}{unit}",
                "value": value,
                "unit": unit,
                "met": met,
                "margin_pct": round(margin, 1) if margin is not None else None,
            }
        )
    return rows


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "/s":
        return f"{value:,.0f}/s"
    return f"{value:,.2f} {unit}" if value < 10 else f"{value:,.1f} {unit}"


def summarize_stacks(collapsed: str, samples_per_thread: float, top: int = 12) -> dict[str, Any]:
    """Return, per thread, how busy it was and the functions holding its samples.

    `collapsed` is `py-spy record --threads --format raw` output; `samples_per_thread` is how
    many samples a thread busy all the time gets (rate x duration). Busy means not idle by
    py-spy's heuristic: a thread blocked in a system call such as fsync still counts.
    """
    own: dict[str, Counter[str]] = {}
    total: dict[str, Counter[str]] = {}
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        thread = re.sub(r"^thread \(\d+\): ", "", frames[0])
        thread = re.sub(r"_\d+$", "", thread)  # ThreadPoolExecutor numbers its threads
        own.setdefault(thread, Counter())
        total.setdefault(thread, Counter())
        if len(frames) > 1:
            own[thread][frames[-1]] += count
            for frame in set(frames[1:]):
                total[thread][frame] += count
        else:
            own[thread]["(no Python frame)"] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [
            (name, round(100 * n / samples_per_thread, 1)) for name, n in counter.most_common(top)
        ]

    for counter in total.values():
        # A thread's entry points (the frames under most of its samples) say nothing.
        most = max(counter.values(), default=0)
        for frame in [f for f, n in counter.items() if n >= 0.9 * most]:
            del counter[frame]
    busiest = sorted(own, key=lambda t: -sum(own[t].values()))
    return {
        "samples_per_thread": samples_per_thread,
        "threads": [
            {
                "name": thread,
                "busy_pct": round(100 * sum(own[thread].values()) / samples_per_thread, 1),
                "self": share(own[thread]),
                "total": share(total[thread]),
            }
            for thread in busiest
        ],
    }


def _foreign(data: Any, where: str = "") -> list[tuple[str, float]]:
    """Return (phase, %) of every wrk run during which other processes used CPU."""
    found = []
    if isinstance(data, dict):
        if isinstance(pct := data.get("foreign_cpu_pct"), int | float):
            found.append((where, float(pct)))
        for key, value in data.items():
            found += _foreign(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for n, value in enumerate(data):
            found += _foreign(value, f"{where}[{n}]")
    return found


FOREIGN_WARN_PCT = 10.0


def _store_only_rows(run: dict[str, Any] | None, bare_rate: float) -> list[str]:
    """Return the ingest table's rows of the gateway with no backend (store only)."""
    if not run:
        return []
    peak, paced = run["peak"]["wrk"], run["paced"]["wrk"]["latency_ms"]
    return [
        "| *no backend at all (store only):* | | | |",
        f"| peak throughput (req/s) | | {number(peak['rate'])} | {peak['rate'] / bare_rate:.2f} |",
        f"| latency p50 / p99 at half peak (ms) | | {millis(paced['p50'])} /"
        f" {millis(paced['p99'])} | |",
    ]


def _cpu(results: dict[str, Any], *path: str) -> str:
    value = get(results, *path)
    return f"{value:,.0f} µs" if value is not None else "not measured"


def _summary(results: dict[str, Any]) -> list[str]:
    """Return the block of issue 16's ratios and limits, PASS/FAIL each, and CPU per request."""
    lines = [
        "## Summary (issue 16)",
        "",
        "| | measured | target | |",
        "|---|---:|---:|:---:|",
    ]
    for row in evaluate(results, ISSUE_16_TARGETS):
        verdict = {True: "PASS", False: "**FAIL**", None: "-"}[row["met"]]
        lines.append(
            f"| {row['target']} | {_value(row['value'], row['unit'])} | {row['threshold']} |"
            f" {verdict} |"
        )
    store, deliver = (
        get(results, "gateway", run, "peak", "cpu_us_per_req") for run in ("store_only", "batch100")
    )
    bare = get(results, "bare", "cpu_us_per_req")
    ratios = ", ".join(
        f"{name} {bare / value:.2f}"
        for name, value in (("store only", store), ("with delivery", deliver))
        if bare and value
    )
    lines += [
        "",
        "CPU time per ingested request at peak (the server process's user + system time from"
        " `/proc/PID/stat`, all threads; the gateway's until its last delivery):"
        f" store only {_cpu(results, 'gateway', 'store_only', 'peak', 'cpu_us_per_req')},"
        f" with delivery {_cpu(results, 'gateway', 'batch100', 'peak', 'cpu_us_per_req')},"
        f" bare {_cpu(results, 'bare', 'cpu_us_per_req')}"
        + (f"; bare / gateway: {ratios}." if ratios else ".")
        + " Instructions per request, which do not move with the machine's load:"
        " `make bench-instructions`.",
        "",
    ]
    return lines


def render(results: dict[str, Any]) -> str:
    """Return the Markdown report."""
    machine, plan = results["machine"], results["plan"]
    bare, runs = results["bare"], results["gateway"]
    main = runs["batch100"]
    lines = [
        f"# Channel Gateway benchmark ({'quick' if plan['quick'] else 'full'} run,"
        f" {results.get('finished_at', '?')})",
        "",
        *_summary(results),
        f"Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, {machine['memory_gib']} GiB,"
        f" {machine['os']}, Linux {machine['kernel']}; Python {machine['python']}, aiohttp"
        f" {machine['aiohttp']}, orjson {machine['orjson']}, pydantic {machine['pydantic']},"
        f" SQLite {machine['sqlite']}, uvloop {machine['uvloop'] or 'not installed'};"
        f" {machine['wrk']}. Gateway commit {machine['gateway_commit']}"
        + (
            f" (**the gateway's source changed during the run**, now {results['source_changed']}:"
            " later phases may have measured newer code)."
            if results.get("source_changed")
            else "."
        ),
        "",
        f"Load: `{plan['wrk']}` with bench/signed.lua (pre-signed unique requests, ~410-byte"
        f" bodies, 1,000 senders). Server under test alone on CPU {plan['server_cpu']}; wrk, the"
        f" receiver and the orchestrator on CPU {plan['load_cpu']}. Event loop of the gateway and"
        f" of the bare app: {results['event_loop']}. Measured phases of {plan['peak_s']} s after"
        f" a {plan['warmup_s']} s warm-up; backlog phases of {plan['backlog_s']} s. CPUs"
        f" {results.get('busy_before_pct', '?')}% busy in the 2 s before the start. Total run"
        f" time {results.get('total_s', 0) / 60:.1f} min.",
        "",
    ]
    foreign = _foreign({"bare": results.get("bare"), "gateway": results.get("gateway"),
                        "scaling": results.get("scaling")})  # fmt: skip
    worst = max((pct for _, pct in foreign), default=0.0)
    suspect = [f"{where} ({pct:.0f}%)" for where, pct in foreign if pct > FOREIGN_WARN_PCT]
    if suspect:
        lines += [
            f"> **Warning: other processes used CPU during {len(suspect)} of {len(foreign)}"
            " load phases** (share of one CPU): " + ", ".join(suspect) + ". Those numbers are"
            " not trustworthy: run the bench again on an idle machine.",
            "",
        ]
    else:
        lines += [
            f"Other processes used at most {worst:.1f}% of a CPU during any load phase.",
            "",
        ]
    lines += [
        "## Ingest: gateway vs bare aiohttp",
        "",
        "| | bare aiohttp | gateway | gateway / bare |",
        "|---|---:|---:|---:|",
    ]
    gpeak, gpaced = main["peak"]["wrk"], main["paced"]["wrk"]
    gpaused = main["backlog"]["wrk"]
    gpaused_paced = main["backlog"].get("paced_wrk")
    bpeaks, bhalf = bare["peaks"], bare["half"]

    def pair(wrk: dict[str, Any]) -> str:
        return f"{millis(wrk['latency_ms']['p50'])} / {millis(wrk['latency_ms']['p99'])}"

    def mean_pair(samples: list[dict[str, Any]]) -> str:
        p50 = sum(w["latency_ms"]["p50"] for w in samples) / len(samples)
        p99 = sum(w["latency_ms"]["p99"] for w in samples) / len(samples)
        return f"{millis(p50)} / {millis(p99)}"

    bare_samples = " / ".join(number(p["rate"]) for p in bpeaks)
    lines += [
        f"| peak throughput (req/s), receiver healthy | {number(bare['peak_rate'])}"
        f" ({bare_samples}) | {number(gpeak['rate'])} | **{gpeak['rate'] / bare['peak_rate']:.2f}**"
        " |",
        f"| latency p50 / p99 at peak (ms) | {mean_pair(bpeaks)} | {pair(gpeak)} | |",
        f"| paced at half peak: achieved (req/s) | {number(bhalf['rate'])} |"
        f" {number(gpaced['rate'])} | |",
        f"| latency p50 / p99 at half peak (ms) | {pair(bhalf)} | {pair(gpaced)} | |",
        *_store_only_rows(runs.get("store_only"), bare["peak_rate"]),
        "| *receiver paused (no delivery work in the gateway):* | | | |",
        f"| peak throughput (req/s) | | {number(gpaused['rate'])} |"
        f" {gpaused['rate'] / bare['peak_rate']:.2f} |",
        f"| latency p50 / p99 at half peak (ms) | | {pair(gpaused_paced)} | |"
        if gpaused_paced
        else "| latency at half peak | | not measured | |",
        f"| peak RSS, VmHWM (MiB) | {number(bare['peak_rss_mib'], 1)} |"
        f" {number(main['peak_rss_mib'], 1)} | |",
        "",
        "Bare aiohttp is measured before and after the gateway's peak (both samples shown; the"
        " ratio uses their mean). Receiver healthy: the gateway also delivers everything it"
        " ingests, at the same time and on the same CPU (the sustainable rate). Receiver paused:"
        " deliveries wait in the store, so only the ingest path runs.",
        "",
        f"Gateway start-up, spawn to `/readyz` 200: median **{results['startup']['median_s']:.2f}"
        f" s** of {len(results['startup']['runs_s'])} starts"
        f" ({', '.join(f'{t:.2f}' for t in results['startup']['runs_s'])} s). Group commit at"
        f" peak: {number(main['peak']['group_commit_mean'], 1)} requests per SQLite transaction"
        " (one fsync each).",
        "",
        "## Delivery to the local receiver (webhook backend; the receiver accepts everything)",
        "",
        "Backlog drain: the receiver holds its requests while the gateway ingests, then the"
        " backlog is delivered with nothing else running. Moderate ingest: half the batch_size"
        " 100 peak, for both sizes; a batch_size whose drain rate is below it falls behind, and"
        " its latency grows with the length of the phase.",
        "",
        "| batch_size | backlog drain (deliveries/s) | during peak ingest: delivered (/s),"
        " receipt→delivered p50 / p99 (ms) | moderate ingest (req/s) | receipt→delivered"
        " p50 / p99 at moderate ingest (ms) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for key in ("batch100", "batch1"):
        run = runs.get(key)
        if not run:
            continue
        backlog = run["backlog"]
        peak = get(run, "peak", "delivery")
        during = "-"
        if peak:
            latency = peak["latency_ms"] or {}
            during = (
                f"{number(peak['during_ingest_per_s'])}, {millis(latency.get('p50'))} /"
                f" {millis(latency.get('p99'))}"
            )
        paced = get(run, "paced", "delivery", "latency_ms") or {}
        lines.append(
            f"| {run['batch_size']} | {number(backlog['drain_per_s'])}"
            f" ({number(backlog['backlog'])} queued) | {during} |"
            f" {number(get(run, 'paced', 'wrk', 'rate'))} |"
            f" {millis(paced.get('p50'))} / {millis(paced.get('p99'))} |"
        )
    lines += [
        "",
        "## Scaling with the size of the store (batch_size 100)",
        "",
        "A fresh gateway per measurement, on a fresh copy of a store pre-filled by"
        " bench/preload.py with delivered interactions: warm-up, then"
        f" {plan.get('scaling_peak_s', '?')} s at peak with the receiver healthy. Every size is"
        f" measured in {plan.get('scaling_rounds', '?')} rounds of alternating order (all peaks"
        " in brackets); the table gives the medians, the largest RSS and the backlog drain of"
        " the last round.",
        "",
        "| stored interactions | ingest (req/s) | vs empty | p99 at peak (ms) | peak RSS (MiB) |"
        " start-up (s) | backlog drain (/s) | store on disk (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    scaling = results.get("scaling", {})
    empty_rate = get(scaling, "0", "peak_rate")
    for row in scaling.values():
        rounds = " / ".join(number(r["peak"]["wrk"]["rate"]) for r in row["rounds"])
        versus = f"{row['peak_rate'] / empty_rate:.2f}x" if empty_rate else "-"
        lines.append(
            f"| {number(row['prefill'])} | {number(row['peak_rate'])} ({rounds}) | {versus} |"
            f" {millis(row['p99_ms'])} | {number(row['peak_rss_mib'], 1)} |"
            f" {row['startup_s']:.2f} |"
            f" {number(row['drain_per_s'])} | {number(row['store_mib'])} |"
        )
    if profile := results.get("profile"):
        threads = profile["threads"]
        lines += [
            "",
            "## Where the gateway spends its time (py-spy during the peak phase)",
            "",
            "Busy share of wall-clock time per thread: "
            + ", ".join(f"{t['name']} {t['busy_pct']}%" for t in threads)
            + ". Percentages below are of wall-clock time; the run was slowed by the sampling."
            " Stacks: bench/results/profile-peak.txt (collapsed format, opens in speedscope.app).",
        ]
        for thread in threads[:2]:
            lines += [
                "",
                f"| {thread['name']}: self | % | including callees | % |",
                "|---|---:|---|---:|",
            ]
            for (own, own_pct), (total, total_pct) in zip(
                thread["self"], thread["total"], strict=False
            ):
                lines.append(f"| `{own}` | {own_pct} | `{total}` | {total_pct} |")
    lines += [
        "",
        "## Targets (issue 4)",
        "",
        "| target | threshold | measured | met | margin |",
        "|---|---|---:|:---:|---:|",
    ]
    for row in evaluate(results):
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        margin = f"{row['margin_pct']:+.0f}%" if row["margin_pct"] is not None else "-"
        lines.append(
            f"| {row['target']} | {row['threshold']} | {_value(row['value'], row['unit'])} |"
            f" {met} | {margin} |"
        )
    lines.append("")
    return "\n".join(lines)
