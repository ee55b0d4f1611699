"""`gateway check --online` starts the backend (portal set-up) and runs its health check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from conftest import TOKEN
from fake_hubspot import FakeHubSpot

from gateway import cli


async def check(tmp_path: Path, crm: FakeHubSpot, token: str) -> int:
    """Run `gateway check --online` in a thread (it runs its own event loop)."""
    backend = {"type": "hubspot", "token": token, "base_url": crm.url, "timeout": "2s"}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"backends": {"crm": backend}}))
    return await asyncio.to_thread(cli.main, ["check", "--online", "--config", str(path)])


async def test_a_good_token_checks_ok(
    tmp_path: Path, hubspot: FakeHubSpot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await check(tmp_path, hubspot, TOKEN) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["backend crm (hubspot): ok"]
    assert hubspot.requests_to("GET", "^/crm/v3/objects/contacts$")


async def test_a_refused_token_fails_without_showing_it(
    tmp_path: Path, hubspot: FakeHubSpot, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "pat-na1-00000000-wrong-token-000000000000"
    assert await check(tmp_path, hubspot, wrong) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("backend crm (hubspot): credentials refused")
    assert "HubSpot 401 INVALID_AUTHENTICATION" in captured.out
    assert wrong not in captured.out + captured.err
    assert hubspot.problems  # the fake saw the wrong token
    hubspot.problems.clear()
