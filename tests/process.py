"""The core tests' gateway subprocess: a signed `web` channel and the given backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.testing import GatewayProcess
from tests.payloads import SECRET


def configure(tmp_path: Path, backends: dict[str, Any] | None = None) -> GatewayProcess:
    """Configure a gateway with a signed `web` channel and `backends` (default: a log backend)."""
    return GatewayProcess.configure(
        tmp_path,
        {
            "channels": {"web": {"type": "generic", "secret": SECRET}},
            "backends": backends or {"audit": {"type": "log"}},
        },
    )


def post_message(gateway: GatewayProcess, payload: dict[str, Any]) -> tuple[int, Any]:
    """POST `payload` to the `web` channel, signed with the tests' secret."""
    return gateway.post_signed("web", payload, SECRET)
