"""`gateway check --online` starts the backend and runs its health check (`GET /users/me`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from conftest import EMAIL, TOKEN
from fake_zendesk import FakeZendesk

from gateway import cli


async def check(tmp_path: Path, crm: FakeZendesk, token: str) -> int:
    """Run `gateway check --online` in a thread (it runs its own event loop)."""
    backend = {"type": "zendesk", "subdomain": "shop", "email": EMAIL, "api_token": token,
               "base_url": crm.url, "timeout": "2s"}  # fmt: skip
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"backends": {"crm": backend}}))
    return await asyncio.to_thread(cli.main, ["check", "--online", "--config", str(path)])


async def test_a_good_token_checks_ok(
    tmp_path: Path, zendesk: FakeZendesk, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await check(tmp_path, zendesk, TOKEN) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["backend crm (zendesk): ok"]
    assert zendesk.requests_to("GET", "^/api/v2/users/me$")


async def test_a_refused_token_fails_without_showing_it(
    tmp_path: Path, zendesk: FakeZendesk, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-zendesk-token-00000000000000000000"
    assert await check(tmp_path, zendesk, wrong) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("backend crm (zendesk): credentials refused")
    assert "Zendesk 401 Couldn't authenticate you" in captured.out
    assert wrong not in captured.out + captured.err
    assert zendesk.problems  # the fake saw the wrong token
    zendesk.problems.clear()
