"""The Dockerfile: a failed plugin build fails the image, the health check follows the port, and
the image does not serve the README's demo secret on 0.0.0.0."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from gateway.config_loader import DEFAULT_CONFIG, load_config
from gateway.config_reference import core_plugins
from gateway.errors import ConfigError
from gateway.testing import free_port
from tests.payloads import SECRET

ROOT = Path(__file__).parents[1]


def instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's (INSTRUCTION, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for part in shlex.split(rest):
                name, _, value = part.partition("=")
                env[name] = value
    return env


def healthcheck_command() -> str:
    [check] = [rest for word, rest in instructions() if word == "HEALTHCHECK"]
    return check.split(" CMD ", 1)[1]


@pytest.mark.parametrize("run", [rest for word, rest in instructions() if word == "RUN"])
def test_no_run_step_hides_a_failure(run: str) -> None:
    assert not re.search(r"(;|\|\|)\s*(true|:)\b", run), run


def test_a_failing_plugin_build_fails_the_build_step(tmp_path: Path) -> None:
    """Run the wheel-building step with a `pip` that fails for plugins: the step must fail."""
    [build] = [rest for word, rest in instructions() if word == "RUN" and "pip wheel" in rest]
    fake = tmp_path / "pip"
    fake.write_text('#!/bin/sh\ncase "$*" in *plugins/*) exit 1;; esac\nexit 0\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    failing = subprocess.run(["sh", "-c", build], cwd=ROOT, env=env, timeout=60, check=False)
    assert failing.returncode != 0
    fake.write_text("#!/bin/sh\nexit 0\n")
    assert subprocess.run(["sh", "-c", build], cwd=ROOT, env=env, timeout=60).returncode == 0


def test_healthcheck_probes_the_port_the_config_listens_on() -> None:
    assert "8080" not in healthcheck_command()
    assert "GATEWAY_PORT" in healthcheck_command()
    assert "GATEWAY_PORT" in image_env()
    assert "${GATEWAY_PORT:-8080}" in DEFAULT_CONFIG.read_text(encoding="utf-8")


async def _healthcheck(port: int) -> int:
    argv = shlex.split(healthcheck_command())
    assert argv[0] == "python"
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv[1:], env={**os.environ, "GATEWAY_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(process.wait(), timeout=60)


async def test_healthcheck_command_follows_gateway_port(aiohttp_server: AiohttpServer) -> None:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    server = await aiohttp_server(app, host="127.0.0.1")
    assert server.port is not None
    assert await _healthcheck(server.port) == 0
    assert await _healthcheck(free_port()) != 0


def test_the_image_refuses_the_demo_secret() -> None:
    env = image_env()
    assert env["GATEWAY_HOST"] == "0.0.0.0"
    with pytest.raises(ConfigError, match="set GATEWAY_GENERIC_SECRET to a secret of your own"):
        load_config(DEFAULT_CONFIG, core_plugins(), env=env)
    config = load_config(
        DEFAULT_CONFIG, core_plugins(), env={**env, "GATEWAY_GENERIC_SECRET": SECRET}
    )
    assert config.server.host == "0.0.0.0"
