"""`gateway check --online` starts the backend (describe checks) and runs its health check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from conftest import CLIENT_SECRET, settings_block
from fake_salesforce import FakeSalesforce

from gateway import cli


async def check(tmp_path: Path, org: FakeSalesforce, secret: str) -> int:
    """Run `gateway check --online` in a thread (it runs its own event loop)."""
    backend = settings_block(org, client_secret=secret, timeout="2s")
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"backends": {"crm": backend}}))
    return await asyncio.to_thread(cli.main, ["check", "--online", "--config", str(path)])


async def test_good_credentials_check_ok(
    tmp_path: Path, org: FakeSalesforce, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await check(tmp_path, org, CLIENT_SECRET) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["backend crm (salesforce): ok"]
    assert org.requests_to("GET", r"/limits$")


async def test_a_refused_secret_fails_without_showing_it(
    tmp_path: Path, org: FakeSalesforce, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "0000WRONGCONSUMERSECRET0000"
    assert await check(tmp_path, org, wrong) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("backend crm (salesforce): credentials refused")
    assert "invalid_client: invalid client credentials" in captured.out
    assert wrong not in captured.out + captured.err
