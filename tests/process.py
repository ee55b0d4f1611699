"""Run `gateway serve` as a real subprocess on loopback ports, for crash and shutdown tests."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from gateway.testing import standard_webhook_headers
from tests.payloads import SECRET


def free_port() -> int:
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
    def configure(cls, tmp_path: Path, backends: dict[str, Any] | None = None) -> GatewayProcess:
        """Write a config with a signed `web` channel and `backends` (default: a log backend)."""
        port, admin_port = free_port(), free_port()
        config = {
            "server": {"host": "127.0.0.1", "port": port, "shutdown_timeout": "5s"},
            "admin": {"host": "127.0.0.1", "port": admin_port},
            "storage": {"url": f"sqlite:///{tmp_path}/gateway.db"},
            "channels": {"web": {"type": "generic", "secret": SECRET}},
            "backends": backends or {"audit": {"type": "log"}},
        }
        config_path = tmp_path / "gateway.yaml"
        config_path.write_text(yaml.safe_dump(config))
        return cls(config_path, port, admin_port, tmp_path / "gateway.log")

    def start(self, timeout: float = 20.0) -> None:
        """Start the gateway and wait until /readyz answers 200."""
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

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post_message(self, payload: dict[str, Any]) -> tuple[int, Any]:
        body = orjson.dumps(payload)
        headers = {**standard_webhook_headers(SECRET, body), "Content-Type": "application/json"}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/webhooks/web", data=body, headers=headers
        )
        return self._send(request)

    def get(self, port: int, path: str) -> tuple[int, Any]:
        return self._send(urllib.request.Request(f"http://127.0.0.1:{port}{path}"))

    @staticmethod
    def _send(request: urllib.request.Request) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
