"""The gateway under test: its bench configuration, command line and metrics."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from harness import BenchError, Child, free_port, http_json

__all__ = ["BACKEND", "CHANNEL", "Gateway", "GatewayMetrics", "gateway_argv", "write_config"]

CHANNEL = "generic"
BACKEND = "receiver"


def gateway_argv(config: Path) -> list[str]:
    """Return the argv of `gateway serve` from this virtualenv."""
    script = Path(sys.executable).with_name("gateway")
    if script.exists():
        return [str(script), "serve", "--config", str(config)]
    return [sys.executable, "-m", "gateway", "serve", "--config", str(config)]


def write_config(
    path: Path,
    store: Path | str,
    *,
    secret: str,
    hook_secret: str,
    receiver_port: int | None,
    batch_size: int,
) -> int:
    """Write a bench config to `path`; return the webhook port it names.

    FULL-sync SQLite in the file `store`, or the PostgreSQL database `store` names (a
    `postgresql://` URL); the signed `generic` channel, one `webhook` backend posting to
    the receiver with `batch_size` events per request; no backend at all (store only) when
    `receiver_port` is None.
    """
    port = free_port()
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "shutdown_timeout": "5s"},
        "admin": {"host": "127.0.0.1", "port": 0},
        "storage": {"url": f"sqlite:///{store}", "synchronous": "full"}
        if isinstance(store, Path)
        else {"url": store},
        "channels": {CHANNEL: {"type": "generic", "secret": secret, "kind": "sms"}},
        "backends": {}
        if receiver_port is None
        else {
            BACKEND: {
                "type": "webhook",
                "url": f"http://127.0.0.1:{receiver_port}/events",
                "secret": hook_secret,
                "batch_size": batch_size,
                "timeout": "60s",  # longer than the receiver's pause in the backlog phase
            }
        },
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return port


@dataclass
class GatewayMetrics:
    """The gateway counters the bench checks and reports, from GET /metrics."""

    stored: float
    duplicates: float
    outcomes: dict[str, float]
    commit_sum: float
    commit_count: float

    @classmethod
    def parse(cls, text: str) -> GatewayMetrics:
        """Read the counters out of Prometheus text."""

        def value(pattern: str) -> float:
            match = re.search(rf"^{pattern} (\S+)$", text, flags=re.MULTILINE)
            return float(match[1]) if match else 0.0

        label = f'channel="{CHANNEL}"'
        outcomes = {
            m[1]: float(m[2])
            for m in re.finditer(
                r'^gateway_webhook_requests_total\{[^}]*outcome="([^"]+)"[^}]*\} (\S+)$',
                text,
                flags=re.MULTILINE,
            )
        }
        return cls(
            stored=value(rf"gateway_interactions_stored_total\{{{label}\}}"),
            duplicates=value(rf"gateway_duplicate_interactions_total\{{{label}\}}"),
            outcomes=outcomes,
            commit_sum=value("gateway_commit_batch_size_sum"),
            commit_count=value("gateway_commit_batch_size_count"),
        )


@dataclass
class Gateway:
    """A running gateway under test."""

    child: Child
    port: int
    ready_s: float
    server_cpu: Callable[[], float] | None = None
    """CPU seconds so far of the database server's processes serving this gateway (PostgreSQL's);
    None for a store inside the gateway's process (SQLite)."""

    @property
    def url(self) -> str:
        """Return the webhook URL of the bench channel."""
        return f"http://127.0.0.1:{self.port}/webhooks/{CHANNEL}"

    def metrics(self) -> GatewayMetrics:
        """Return the current counters."""
        status, text = http_json(f"http://127.0.0.1:{self.port}/metrics", timeout=10.0)
        if status != 200:
            raise BenchError(f"GET /metrics answered {status}")
        return GatewayMetrics.parse(str(text))
