"""The `gateway` command: check, schema, and `python -m gateway`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import EXIT_BROKEN_PIPE, log_level, main
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


@pytest.mark.parametrize("level", ["verbose", "info2", "", "10"])
@pytest.mark.parametrize("verb", ["serve", "check"])
def test_an_unknown_log_level_is_a_usage_error(tmp_path: Path, level: str, verb: str) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"server: {{port: 0}}\nadmin: {{port: 0}}\nstorage: {{url: 'sqlite:///{tmp_path}/gw.db'}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", verb, "--config", str(path)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "GATEWAY_LOG_LEVEL": level},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        f"gateway: GATEWAY_LOG_LEVEL={level!r} is not a log level; "
        "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL\n"
    )


@pytest.mark.parametrize("level", ["debug", "INFO", " warning "])
def test_known_log_levels_in_any_case(monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", level)
    assert log_level() == level.strip().upper()


def test_the_variable_overrides_the_configured_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_LOG_LEVEL", raising=False)
    assert log_level("warning") == "WARNING"
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "debug")
    assert log_level("warning") == "DEBUG"


@pytest.mark.parametrize("argv", [["schema", "config"], ["schema", "interaction"], ["plugins"]])
def test_a_closed_pipe_exits_quietly(argv: list[str]) -> None:
    """`gateway ... | head`: the reader has gone before the output is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err
    assert b"BrokenPipeError" not in err
    assert process.returncode == EXIT_BROKEN_PIPE
