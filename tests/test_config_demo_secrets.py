"""Published demo secrets serve loopback only: anywhere else the gateway refuses to start."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.config_loader import DEFAULT_CONFIG, load_config, parse_config
from gateway.config_reference import core_plugins
from gateway.demo_secrets import DEMO_SECRETS
from gateway.errors import ConfigError
from gateway.plugins import Plugins, load_plugins
from tests.payloads import HOOK_SECRET, SECRET
from tests.process import configure

DEMO = "whsec_Y2hhbm5lbC1nYXRld2F5LXF1aWNrc3RhcnQ="
OFF_LOOPBACK = ["0.0.0.0", "::", "192.0.2.10", "2001:db8::1", "gateway.example.com"]
LOOPBACK = ["127.0.0.1", "127.0.0.2", "::1", "localhost"]


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return core_plugins()


def test_the_readme_secret_is_a_demo_secret() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert DEMO in DEMO_SECRETS
    assert DEMO in readme
    assert DEMO in DEFAULT_CONFIG.read_text(encoding="utf-8")


@pytest.mark.parametrize("host", OFF_LOOPBACK)
def test_embedded_default_refuses_off_loopback(plugins: Plugins, host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(DEFAULT_CONFIG, plugins, env={"GATEWAY_HOST": host})
    assert list(caught.value.problems) == [
        f"{DEFAULT_CONFIG}:17:13: channels.generic.secret: this is the published demo secret, "
        f"accepted on loopback only, and server.host {host} is reachable from other machines; "
        "set GATEWAY_GENERIC_SECRET to a secret of your own, or listen on 127.0.0.1"
    ]


@pytest.mark.parametrize("host", OFF_LOOPBACK)
def test_embedded_default_with_a_real_secret_starts_anywhere(plugins: Plugins, host: str) -> None:
    env = {"GATEWAY_HOST": host, "GATEWAY_GENERIC_SECRET": SECRET}
    assert load_config(DEFAULT_CONFIG, plugins, env=env).server.host == host


@pytest.mark.parametrize("host", LOOPBACK)
def test_embedded_default_on_loopback_is_accepted(plugins: Plugins, host: str) -> None:
    assert load_config(DEFAULT_CONFIG, plugins, env={"GATEWAY_HOST": host}).channels


WRITTEN = {
    "channel secret": (
        "channels:\n  web: {type: generic, secret: 'DEMO'}\n",
        "channels.web.secret",
    ),
    "one of a list": (
        f"channels:\n  web: {{type: generic, secret: ['{SECRET}', 'DEMO']}}\n",
        "channels.web.secret[1]",
    ),
    "backend secret": (
        "backends:\n  crm: {type: webhook, url: 'https://crm.example.com/hook', secret: 'DEMO'}\n",
        "backends.crm.secret",
    ),
}


@pytest.mark.parametrize("demo", sorted(s for s in DEMO_SECRETS if s.startswith("whsec_")))
@pytest.mark.parametrize("case", list(WRITTEN))
@pytest.mark.parametrize("host", OFF_LOOPBACK)
def test_any_demo_secret_anywhere_is_refused_off_loopback(
    plugins: Plugins, host: str, case: str, demo: str
) -> None:
    text, path = WRITTEN[case]
    text = f"server: {{host: '{host}'}}\n" + text.replace("DEMO", demo)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gw.yaml", plugins, {})
    [problem] = caught.value.problems
    assert problem.startswith("gw.yaml:3:")
    assert f": {path}: this is the published demo" in problem
    assert problem.endswith("; use a secret of your own, or listen on 127.0.0.1")
    assert demo not in problem


@pytest.mark.parametrize("demo", sorted(DEMO_SECRETS))
def test_every_demo_secret_is_refused_by_a_plugin_taking_any_string(demo: str) -> None:
    """Twilio's auth token is any string: the key the README prints is refused there too."""
    text = (
        f"server: {{host: 0.0.0.0}}\nchannels:\n  sms: {{type: twilio-sms, auth_token: '{demo}'}}\n"
    )
    with pytest.raises(ConfigError, match=r"channels\.sms\.auth_token: this is the published demo"):
        parse_config(text, "gw.yaml", load_plugins(), {})


def test_the_server_default_host_is_off_loopback(plugins: Plugins) -> None:
    text = f"channels:\n  web: {{type: generic, secret: '{DEMO}'}}\n"
    with pytest.raises(ConfigError, match=r"server\.host 0\.0\.0\.0 is reachable"):
        parse_config(text, "gw.yaml", plugins, {})


def test_real_secrets_are_accepted_off_loopback(plugins: Plugins) -> None:
    text = textwrap.dedent(f"""
        server: {{host: 0.0.0.0}}
        channels:
          web: {{type: generic, secret: '{SECRET}'}}
        backends:
          crm: {{type: webhook, url: 'https://crm.example.com/hook', secret: '{HOOK_SECRET}'}}
        """)
    assert parse_config(text, "gw.yaml", plugins, {}).server.host == "0.0.0.0"


PROBLEM = (
    "5:13: channels.web.secret: this is the published demo secret, accepted on loopback only, "
    "and server.host 0.0.0.0 is reachable from other machines; use a secret of your own, "
    "or listen on 127.0.0.1"
)


def _write(tmp_path: Path, host: str, secret: str) -> Path:
    path = tmp_path / "gw.yaml"
    config = {
        "server": {"host": host, "port": 0},
        "admin": {"port": 0},
        "storage": {"url": f"sqlite:///{tmp_path}/gw.db"},
        "channels": {"web": {"type": "generic", "secret": secret}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_check_refuses_off_loopback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "0.0.0.0", DEMO)
    assert main(["check", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"{path}:{PROBLEM}\n"


def test_serve_refuses_off_loopback(tmp_path: Path) -> None:
    path = _write(tmp_path, "0.0.0.0", DEMO)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == f"{path}:{PROBLEM}\n"


def test_check_on_loopback_warns_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "127.0.0.1", DEMO)
    assert main(["check", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{path}: ok (1 channels, 0 backends, 0 routes)\n"
    assert captured.err == (
        f"{path}: warning: channel 'web' uses the published demo secret: accepted only because "
        "server.host 127.0.0.1 is loopback; set a secret of your own before listening elsewhere\n"
    )


def test_check_off_loopback_with_a_real_secret_passes_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(_write(tmp_path, "0.0.0.0", SECRET))]) == 0
    assert capsys.readouterr().err == ""


def test_serve_on_loopback_logs_one_warning_naming_the_channel(tmp_path: Path) -> None:
    gateway = configure(tmp_path)
    config = yaml.safe_load(gateway.config_path.read_text())
    config["channels"]["demo"] = {"type": "generic", "secret": DEMO}
    gateway.config_path.write_text(yaml.safe_dump(config))
    gateway.start()
    try:
        log = gateway.log().splitlines()
        warnings = [line for line in log if " WARNING " in line and "demo secret" in line]
    finally:
        assert gateway.stop(signal.SIGTERM) == 0
    assert len(warnings) == 1, warnings
    assert "channel 'demo' uses the published demo secret" in warnings[0]
    assert "'web'" not in warnings[0]
