"""The log for log shippers: `logging: {format: json}` writes one JSON object per line, with the
ids the log call passed, and never a configured secret; `text` stays as it was."""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.config import GatewayConfig, StorageSettings
from gateway.log_format import JsonFormatter, config_secrets
from gateway.process import GatewayProcess, free_port
from gateway.redaction import REDACTED, Redactor
from tests.payloads import HOOK_SECRET, SECRET, message, webhook_backend
from tests.process import post_message

TOKEN = "admin-token-4f9c2d7e1b"


def formatted(formatter: logging.Formatter, emit: Any) -> list[dict[str, Any]]:
    """Run `emit(logger)` on a logger writing through `formatter`; return the parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("gateway.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = stream.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def test_a_record_is_one_json_object_with_its_ids() -> None:
    extra = {"channel": "web", "interaction_id": "01J", "delivery_id": 7, "backend": "crm"}
    (line,) = formatted(
        JsonFormatter(Redactor([])),
        lambda log: log.warning("delivery %d dead-lettered", 7, extra=extra),
    )
    assert line.pop("time").endswith("+00:00")
    assert line == {
        "level": "WARNING",
        "logger": "gateway.test-json",
        "message": "delivery 7 dead-lettered",
        **extra,
    }


def test_an_exception_is_one_string_field_on_the_same_line() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError("first line\nsecond line")
        except ValueError:
            log.exception("it failed")

    (line,) = formatted(JsonFormatter(Redactor([])), emit)
    assert line["message"] == "it failed"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: first line\nsecond line")


def test_no_secret_reaches_a_json_line() -> None:
    secret = "pat-na1-0c5e-secret"

    def emit(log: logging.Logger) -> None:
        log.error("token %s refused", secret, extra={"backend": f"crm {secret}"})
        log.error("settings: %s", {"token": SecretStr(secret)}, extra={"channel": SecretStr("x")})
        try:
            raise RuntimeError(f"the remote said: bad token {secret}")
        except RuntimeError:
            log.exception("deliver raised", stack_info=True)

    lines = formatted(JsonFormatter(Redactor([secret])), emit)
    assert secret not in json.dumps(lines)
    assert lines[0]["message"] == f"token {REDACTED} refused"
    assert lines[0]["backend"] == f"crm {REDACTED}"
    assert lines[1]["channel"] == "**********"
    assert REDACTED in lines[2]["exception"]
    assert "stack" in lines[2]


def test_the_configuration_secrets_include_the_storage_password() -> None:
    config = GatewayConfig.model_validate(
        {"admin": {"token": TOKEN}, "storage": {"url": "sqlite:///gw.db"}}
    )
    assert config_secrets(config) == {TOKEN}
    # Built without validation: the postgresql store is still being added (issue 17).
    storage = StorageSettings.model_construct(url="postgresql://gw:p%40ss@db:5432/gw")
    assert config_secrets(config.model_copy(update={"storage": storage})) == {
        TOKEN,
        "p@ss",
        "p%40ss",
    }


CONFIGURED = """
import logging, warnings
from gateway.config import LoggingSettings
from gateway.log_format import configure_logging
configure_logging(LoggingSettings(format="json"), "INFO", ["s3cr3t-value"])
logging.getLogger("aiohttp.server").error("a library's line with s3cr3t-value")
warnings.warn("a warning\\nacross lines", stacklevel=1)
logging.getLogger("gateway").debug("below the level")
"""


def test_every_logger_and_every_warning_becomes_one_json_line() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CONFIGURED], capture_output=True, text=True, check=True, timeout=60
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("aiohttp.server", "ERROR"),
        ("py.warnings", "WARNING"),
    ]
    assert lines[0]["message"] == f"a library's line with {REDACTED}"
    assert "a warning\nacross lines" in lines[1]["message"]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    # The folder is named after the admin token, so the first log line (the configuration's
    # path) carries a secret: the way to see the scrubbing in the real program.
    folder = tmp_path / TOKEN
    folder.mkdir()
    closed_port = free_port()  # nothing listens: every delivery fails and is dead-lettered
    process = GatewayProcess.configure(
        folder,
        {
            "admin": {"token": TOKEN},
            "logging": {"format": "json"},
            "channels": {"web": {"type": "generic", "secret": SECRET}},
            "backends": {
                "hook": webhook_backend(
                    f"http://127.0.0.1:{closed_port}/events", retry={"max_attempts": 1}
                )
            },
        },
    )
    yield process
    process.close()


def test_gateway_serve_writes_json_lines_with_ids(gateway: GatewayProcess) -> None:
    gateway.start()
    status, body = post_message(gateway, message("m-json"))
    assert status == 200, body
    (interaction_id,) = body["ids"]
    refused = gateway.post("web", b"{}", {"Content-Type": "application/json"})
    assert refused[0] == 401
    deadline = time.monotonic() + 10
    while "dead-lettered" not in gateway.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.stop(signal.SIGTERM) == 0

    text = gateway.log()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    (dead,) = [line for line in lines if "dead-lettered" in line["message"]]
    assert dead["level"] == "WARNING"
    assert dead["backend"] == "hook"
    assert dead["channel"] == "web"
    assert dead["interaction_id"] == interaction_id
    assert isinstance(dead["delivery_id"], int)
    (rejected,) = [line for line in lines if "refused a webhook" in line["message"]]
    assert rejected["channel"] == "web"
    assert lines[0]["message"].startswith("configuration: ")
    assert REDACTED in lines[0]["message"]
    for secret in (TOKEN, SECRET, HOOK_SECRET):
        assert secret not in text


def test_text_lines_stay_as_they_were_and_are_scrubbed_too(gateway: GatewayProcess) -> None:
    document = gateway.config_path.read_text().replace("format: json", "format: text")
    gateway.config_path.write_text(document)
    gateway.start()
    assert gateway.stop(signal.SIGTERM) == 0

    first = gateway.log().splitlines()[0]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(rf"{stamp} INFO gateway: configuration: .*{re.escape(REDACTED)}.*", first)
    assert TOKEN not in gateway.log()
