"""Plumbing for bench/run.py: child processes, loopback HTTP, wrk, /proc and machine facts."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "BenchError",
    "Child",
    "CpuMeter",
    "Supervisor",
    "WrkResult",
    "cpu_busy_pct",
    "cpu_busy_s",
    "ensure_wrk",
    "finish_wrk",
    "free_port",
    "git_commit",
    "http_json",
    "machine_facts",
    "maps_mention",
    "proc_status_kib",
    "process_cpu_s",
    "source_digest",
    "start_wrk",
]

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str, *, method: str = "GET", timeout: float = 5.0) -> tuple[int, Any]:
    """Return the status and decoded JSON (or text) of one loopback request."""
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body, kind = (
                response.status,
                response.read(),
                response.headers.get_content_type(),
            )
    except urllib.error.HTTPError as exc:
        status, body, kind = exc.code, exc.read(), exc.headers.get_content_type()
    return status, json.loads(body) if kind == "application/json" else body.decode()


@dataclass
class Child:
    """A process the benchmark started, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float
    """Monotonic time just before the spawn."""

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Return whether it still runs."""
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        """Return the end of its output."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, url: str, timeout: float = 60.0, interval: float = 0.005) -> float:
        """Poll `url` until it answers 200; return seconds since the spawn."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                if http_json(url, timeout=1.0)[0] == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(interval)
        raise BenchError(f"{self.name} not ready at {url} within {timeout:.0f}s:\n{self.tail()}")


@dataclass
class Supervisor:
    """Starts child processes pinned to a CPU and guarantees they are all stopped."""

    logs: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], cpu: int | None) -> Child:
        """Start `argv` (pinned to `cpu` with taskset, if given), output to a log file."""
        command = [*(["taskset", "-c", str(cpu)] if cpu is not None else []), *argv]
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            started = time.monotonic()
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
                cwd=ROOT,
            )
        child = Child(name, process, log, started)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 15.0) -> int | None:
        """SIGTERM `child` (SIGKILL after `timeout`); return its exit status."""
        if child.alive():
            try:
                child.process.send_signal(signal.SIGTERM)
                child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        if child in self.children:
            self.children.remove(child)
        return child.process.returncode

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        for child in reversed(list(self.children)):
            self.stop(child, timeout=10.0)


def proc_status_kib(pid: int, field_name: str) -> int | None:
    """Return a `/proc/PID/status` field in KiB (VmHWM: peak RSS, VmRSS: current)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field_name}:\s+(\d+) kB", text, flags=re.MULTILINE)
    return int(match[1]) if match else None


def cpu_busy_pct(seconds: float = 1.0) -> float:
    """Return how busy all CPUs were over the next `seconds` (from /proc/stat), in percent."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    total_a, idle_a = sample()
    time.sleep(seconds)
    total_b, idle_b = sample()
    total = total_b - total_a
    return round(100 * (1 - (idle_b - idle_a) / total), 1) if total else 0.0


_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """Return the user + system CPU seconds of a live process (all its threads)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime


def _system_cpu_s() -> float:
    """Return the busy CPU seconds of the whole machine: user, nice, system, irq, softirq."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    user, nice, system, _, _, irq, softirq = fields
    return (user + nice + system + irq + softirq) / _TICKS_PER_S


def cpu_busy_s() -> dict[int, float]:
    """Return the busy CPU seconds so far of each CPU (user, nice, system, irq, softirq)."""
    busy = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            user, nice, system, _, _, irq, softirq = (int(v) for v in values[:7])
            busy[int(name[3:])] = (user + nice + system + irq + softirq) / _TICKS_PER_S
    return busy


@dataclass
class CpuMeter:
    """Measures the CPU other processes use while the bench runs a phase.

    Everything the machine ran (user, system, interrupts) minus what the bench's own processes
    ran: this script, its live children, and the children it reaped meanwhile (wrk). Calibrated
    on the benchmark machine: a few percent either way when idle, and a busy loop sharing the
    server's CPU shows as ~45%.
    """

    supervisor: Supervisor
    extra: Callable[[], float] | None = None
    """CPU seconds so far of processes the bench drives but did not start (a database server's
    processes serving the gateway), counted as the bench's own."""
    _start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _ours(self) -> float:
        times = os.times()
        own = times.user + times.system + times.children_user + times.children_system
        if self.extra is not None:
            own += self.extra()
        return own + sum(process_cpu_s(c.pid) for c in self.supervisor.children if c.alive())

    def start(self) -> None:
        """Take the starting snapshot."""
        self._start = (time.monotonic(), _system_cpu_s(), self._ours())

    def foreign_pct(self) -> float:
        """Return other processes' CPU since `start`, in percent of one CPU."""
        started, system, ours = self._start
        elapsed = time.monotonic() - started
        foreign = (_system_cpu_s() - system) - (self._ours() - ours)
        return round(max(0.0, 100 * foreign / elapsed), 1) if elapsed > 0 else 0.0


def maps_mention(pid: int, needle: str) -> bool:
    """Return whether a shared object whose path contains `needle` is mapped into `pid`."""
    try:
        return needle in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, from the `BENCH_RESULT` line bench/signed.lua prints."""

    duration_s: float
    requests: int
    errors: dict[str, int]
    latency_ms: dict[str, float]
    wraps: int
    connections: int
    target_rate: float | None
    foreign_cpu_pct: float | None = None
    """CPU time other processes (not the bench's) used during the run, in % of one CPU."""

    @property
    def rate(self) -> float:
        """Return completed requests per second."""
        return self.requests / self.duration_s

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "rate": round(self.rate, 1),
            "target_rate": self.target_rate,
            "connections": self.connections,
            "errors": self.errors,
            "latency_ms": self.latency_ms,
            "foreign_cpu_pct": self.foreign_cpu_pct,
        }


def ensure_wrk() -> str:
    """Return the path of wrk; install the Debian package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: wrk is missing; installing the Debian package (apt-get install wrk)")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        if found := shutil.which("wrk"):
            return found
    raise BenchError(
        "wrk is not installed: run `sudo apt-get install wrk`, then `make bench` again"
    )


def start_wrk(
    url: str,
    data: Path,
    *,
    duration_s: int,
    connections: int,
    cpu: int | None,
    rate: float | None = None,
) -> subprocess.Popen[str]:
    """Start wrk with bench/signed.lua against `url`; `finish_wrk` collects it."""
    argv = [
        *(["taskset", "-c", str(cpu)] if cpu is not None else []),
        "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency", "--timeout", "10s",
        "-s", str(BENCH / "signed.lua"), url, "--", str(data), f"{rate or 0:.1f}", "1",
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_wrk(
    process: subprocess.Popen[str],
    *,
    duration_s: int,
    connections: int,
    rate: float | None = None,
) -> WrkResult:
    """Wait for a wrk `start_wrk` started; raise `BenchError` on any failed request, socket
    error or replayed request."""
    try:
        stdout, stderr = process.communicate(timeout=duration_s + 120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise BenchError(f"wrk did not finish within {duration_s + 120}s") from None
    line = next((ln for ln in stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if process.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({process.returncode}):\n{stdout}\n{stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    result = WrkResult(
        duration_s=raw["duration_us"] / 1e6,
        requests=raw["requests"],
        errors=raw["errors"],
        latency_ms={k: round(v / 1000, 2) for k, v in raw["latency_us"].items()},
        wraps=raw["wraps"],
        connections=connections,
        target_rate=rate,
    )
    if result.errors["status"]:
        raise BenchError(
            f"{result.errors['status']} of {result.requests} responses were not 2xx"
            " (401 means the signing is wrong, 503 that the store failed):\n" + stdout
        )
    if failed := {k: v for k, v in result.errors.items() if v}:
        raise BenchError(f"wrk socket errors {failed}:\n{stdout}")
    if result.wraps:
        raise BenchError("wrk ran out of pre-signed requests and replayed some: enlarge the file")
    return result


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _run(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False).stdout
    except OSError:
        return ""


def source_digest() -> str:
    """Return a digest of the gateway's and plugins' source, to notice edits during a run."""
    digest = hashlib.sha256()
    for pattern in ("gateway/**/*.py", "gateway/**/*.sql", "plugins/*/*/**/*.py"):
        for path in sorted(ROOT.glob(pattern)):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def git_commit() -> str:
    """Return the short commit of the checkout, noting uncommitted changes to the gateway."""
    commit = _run(["git", "rev-parse", "--short", "HEAD"]).strip() or "unknown"
    dirty = bool(_run(["git", "status", "--porcelain", "--", "gateway", "plugins"]).strip())
    return commit + (" + uncommitted changes" if dirty else "")


def machine_facts(wrk: str) -> dict[str, Any]:
    """Return what the numbers depend on: CPU, kernel, Python, library versions, git commit."""
    import sqlite3

    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, flags=re.MULTILINE)
    mhz = re.search(r"^cpu MHz\s*:\s*(.+)$", cpuinfo, flags=re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    mem = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, flags=re.MULTILINE)
    os_release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    distro = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', os_release, flags=re.MULTILINE)
    wrk_version = _run([wrk, "-v"]).splitlines()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model[1].strip() if model else "unknown",
        "cpu_mhz": mhz[1].strip() if mhz else None,
        "memory_gib": round(int(mem[1]) / 1024 / 1024, 1) if mem else None,
        "os": distro[1] if distro else platform.system(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "aiohttp": _version("aiohttp"),
        "orjson": _version("orjson"),
        "pydantic": _version("pydantic"),
        "uvloop": _version("uvloop"),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version[0].strip() if wrk_version else "unknown",
        "gateway_commit": git_commit(),
    }
