"""`gateway check --online`: each backend started and health-checked against a real fake CRM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import unused_port
from pydantic import SecretStr

from gateway import cli
from gateway.plugin import (
    Backend,
    BackendRegistry,
    BackendSettings,
    Delivered,
    Delivery,
    Outcome,
    hookimpl,
    raise_for_delivery_status,
)
from gateway.plugins import Plugins, load_plugins
from gateway.registry import PluginSource
from gateway.testing import FakeCRM
from tests.payloads import HOOK_SECRET

TOKEN = "pat-check-online-0000"


class ProbeSettings(BackendSettings):
    """Settings of the `probe-crm` test backend."""

    token: SecretStr


class ProbeBackend(Backend[ProbeSettings]):
    """A CRM backend whose health check asks `GET /v1/me` with its bearer token."""

    type_name = "probe-crm"
    settings_model = ProbeSettings

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        return [Delivered() for _ in batch]

    async def health_check(self) -> None:
        headers = {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout.total_seconds())
        async with self.ctx.http.get(
            f"{self.settings.base_url}v1/me", headers=headers, timeout=timeout
        ) as response:
            await raise_for_delivery_status(response)


class FakeProbeCRM(FakeCRM):
    def routes(self) -> Iterable[web.RouteDef]:
        return [web.get("/v1/me", self._me)]

    async def _me(self, request: web.Request) -> web.Response:
        return self.json_response({"user": "integration"})


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Plugins:
    module = ModuleType("gateway_probe")

    @hookimpl
    def gateway_register_backends(registry: BackendRegistry) -> None:
        registry.add(ProbeBackend)

    module.gateway_register_backends = gateway_register_backends  # type: ignore[attr-defined]
    loaded = load_plugins(extra=[(PluginSource("probe", "gateway-probe", "0.1"), module)])
    monkeypatch.setattr(cli, "load_plugins", lambda: loaded)
    return loaded


@pytest.fixture
async def crm() -> AsyncIterator[FakeProbeCRM]:
    async with FakeProbeCRM(token=TOKEN) as fake:
        yield fake


def write_config(tmp_path: Path, backends: dict[str, Any]) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump({"backends": backends}, sort_keys=False))
    return path


async def check(path: Path) -> int:
    """Run `gateway check --online` in a thread: it runs its own event loop."""
    return await asyncio.to_thread(cli.main, ["check", "--online", "--config", str(path)])


def probe(url: str, token: str = TOKEN) -> dict[str, Any]:
    return {"type": "probe-crm", "token": token, "base_url": url, "timeout": "1s"}


@pytest.mark.usefixtures("plugins")
async def test_every_backend_ok(
    tmp_path: Path, crm: FakeProbeCRM, capsys: pytest.CaptureFixture[str]
) -> None:
    webhook = {"type": "webhook", "url": "http://127.0.0.1:9/events", "secret": HOOK_SECRET}
    path = write_config(tmp_path, {"crm": probe(crm.url), "audit": webhook})
    assert await check(path) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: ok (0 channels, 2 backends, 0 routes)",
        "backend crm (probe-crm): ok",
        "backend audit (webhook): ok",  # its health check calls nothing
    ]
    assert [r.path for r in crm.requests] == ["/v1/me"]
    crm.assert_ok()


@pytest.mark.usefixtures("plugins")
@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_fail_without_showing_them(
    tmp_path: Path, crm: FakeProbeCRM, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    crm.fail_next(status=status, body=crm.error_body(status, f"token {TOKEN} is not valid"))
    assert await check(write_config(tmp_path, {"crm": probe(crm.url)})) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1] == (
        f'backend crm (probe-crm): credentials refused: HTTP {status}: {{"message":"token '
        "[redacted] is not valid\"} (the remote refused the backend's credentials)"
    )
    assert TOKEN not in captured.out + captured.err


@pytest.mark.usefixtures("plugins")
async def test_unreachable_and_hanging_remotes_fail(
    tmp_path: Path, crm: FakeProbeCRM, capsys: pytest.CaptureFixture[str]
) -> None:
    crm.hang()
    closed = f"http://127.0.0.1:{unused_port()}/"
    path = write_config(tmp_path, {"slow": probe(crm.url), "gone": probe(closed)})
    assert await check(path) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "backend slow (probe-crm): timed out (the backend's timeout is 1s)"
    assert lines[2].startswith("backend gone (probe-crm): ClientConnectorError: ")


@pytest.mark.usefixtures("plugins")
async def test_an_invalid_config_calls_no_backend(
    tmp_path: Path, crm: FakeProbeCRM, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, {"crm": {**probe(crm.url), "token": 7, "extra": 1}})
    assert await check(path) == 1
    assert "backends.crm" in capsys.readouterr().err
    assert crm.requests == []
