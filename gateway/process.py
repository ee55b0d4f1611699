"""`GatewayProcess`: `gateway serve` as a real subprocess on loopback ports (via gateway.testing).

For tests that need the whole program: a crash (SIGKILL) and a restart on the same database, a
graceful SIGTERM, a plugin's end-to-end path through a running gateway. The configuration is
the caller's; `configure` only adds loopback ports and an SQLite file under the test's folder.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from gateway.test_builders import standard_webhook_headers

__all__ = ["GatewayProcess", "free_port"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GatewayProcess:
    """A gateway subprocess with its config, ports and captured output."""

    config_path: Path
    port: int
    admin_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def configure(cls, folder: Path, config: Mapping[str, Any]) -> GatewayProcess:
        """Write `config` to `folder` with loopback `server` and `admin` ports and, unless it
        names one, an SQLite store in `folder` (kept across restarts)."""
        port, admin_port = free_port(), free_port()
        document = dict(config)
        document["server"] = {
            "host": "127.0.0.1",
            "shutdown_timeout": "5s",
            **document.get("server", {}),
            "port": port,
        }
        document["admin"] = {**document.get("admin", {}), "host": "127.0.0.1", "port": admin_port}
        document.setdefault("storage", {"url": f"sqlite:///{folder}/gateway.db"})
        config_path = folder / "gateway.yaml"
        config_path.write_text(yaml.safe_dump(document))
        return cls(config_path, port, admin_port, folder / "gateway.log")

    @property
    def url(self) -> str:
        """The public port's root URL, `http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        """Start the gateway (appending to its log) and wait until /readyz answers 200."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if self.get(self.port, "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"gateway not ready in {timeout}s:\n{self.log()}")

    def stop(self, signum: signal.Signals, timeout: float = 20.0) -> int:
        """Send `signum` and return the exit status."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def close(self) -> None:
        """Kill the gateway if it still runs (test teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        """Return everything the gateway wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post(self, channel_id: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        """POST `body` to `/webhooks/{channel_id}`; return the status and the JSON answer."""
        request = urllib.request.Request(
            f"{self.url}/webhooks/{channel_id}", data=body, headers=dict(headers)
        )
        return self._send(request)

    def post_signed(self, channel_id: str, payload: Any, secret: str) -> tuple[int, Any]:
        """POST `payload` as JSON signed the Standard Webhooks way (the `generic` channel)."""
        body = orjson.dumps(payload)
        headers = {**standard_webhook_headers(secret, body), "Content-Type": "application/json"}
        return self.post(channel_id, body, headers)

    def get(self, port: int, path: str) -> tuple[int, Any]:
        """GET `path` on `port` (the public or the admin one); return status and JSON."""
        return self._send(urllib.request.Request(f"http://127.0.0.1:{port}{path}"))

    @staticmethod
    def _send(request: urllib.request.Request) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")
