"""The gateway as a real process: what was committed survives SIGKILL; SIGTERM is graceful."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing import GatewayProcess
from tests.payloads import message
from tests.process import configure, post_message


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = configure(tmp_path)
    yield process
    if process.process and process.process.poll() is None:
        process.process.kill()
        process.process.wait()


def test_committed_interactions_survive_sigkill_and_restart(gateway: GatewayProcess) -> None:
    gateway.start()
    acknowledged = {}
    for n in range(25):
        status, body = post_message(gateway, message(f"m-{n}", text=f"message {n}"))
        assert status == 200, body
        acknowledged[f"m-{n}"] = body["ids"][0]

    assert gateway.stop(signal.SIGKILL) == -signal.SIGKILL
    gateway.start()

    for external_id, interaction_id in acknowledged.items():
        status, body = gateway.get(gateway.admin_port, f"/admin/interactions/{interaction_id}")
        assert status == 200, body
        assert body["interaction"]["external_id"] == external_id
        assert [d["backend"] for d in body["deliveries"]] == ["audit"]
    # The dedupe keys survived too: a provider retry after the restart is not stored again.
    status, body = post_message(gateway, message("m-3", text="message 3"))
    assert (status, body["ids"]) == (200, [acknowledged["m-3"]])


def test_sigterm_shuts_down_gracefully(gateway: GatewayProcess) -> None:
    gateway.start()
    assert post_message(gateway, message())[0] == 200

    assert gateway.stop(signal.SIGTERM) == 0
    log = gateway.log()
    assert "shutting down" in log
    assert "gateway stopped" in log
    assert "Traceback" not in log
