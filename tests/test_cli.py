"""The `gateway` command: check, schema, and `python -m gateway`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.payloads import SECRET


def test_check_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(f"channels:\n  web: {{type: generic, secret: '{SECRET}'}}\n")
    assert main(["check", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok (1 channels, 0 backends, 0 routes)\n"


def test_check_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"channels:\n  web: {{type: generic, secret: '{SECRET}'}}\nroutes: [{{to: crm}}]\n"
    )
    assert main(["check", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert (
        captured.err == f"{path}:3:15: routes[0].to[0]: unknown backend 'crm'; configured: none.\n"
    )
    assert SECRET not in captured.err + captured.out


def test_schema_interaction(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "interaction"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "interaction/v1"
    assert list(schema["properties"])[:4] == ["schema", "id", "type", "direction"]
    assert schema["properties"]["type"]["enum"] == ["message", "call", "status"]


def test_schema_config_is_discriminated_on_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "config"]) == 0
    schema = json.loads(capsys.readouterr().out)
    generic = schema["$defs"]["GenericChannelSettings"]
    assert generic["properties"]["type"]["const"] == "generic"
    assert generic["additionalProperties"] is False
    assert schema["$defs"]["LogBackendSettings"]["properties"]["format"]["enum"] == ["json", "text"]


def test_python_dash_m_is_the_same_program() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "schema", "interaction"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert json.loads(result.stdout)["title"] == "interaction/v1"
