"""Configuration errors: all at once, in plain words, with a suggestion for a misspelt key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config_loader import parse_config
from gateway.config_reference import core_plugins
from gateway.errors import ConfigError
from gateway.plugins import Plugins
from tests.payloads import HOOK_SECRET, SECRET

CHANNEL = f"channels:\n  web: {{type: generic, secret: '{SECRET}'}}\n"
BACKEND = (
    f"  crm: {{type: webhook, url: 'https://crm.example.com/hook', secret: '{HOOK_SECRET}'}}\n"
)


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return core_plugins()


def problems(plugins: Plugins, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text).lstrip(), "gw.yaml", plugins, {})
    return list(caught.value.problems)


SCHEMA_ERRORS = {
    "server section": "server: {port: eighty}\n",
    "a channel block": "channels:\n  web: {type: generic, secret: '', insecure: maybe}\n",
    "a backend block": "backends:\n  crm: {type: log, format: xml}\n",
    "the route itself": "",
    "unknown top-level key": "colour: blue\n",
}


@pytest.mark.parametrize("where", list(SCHEMA_ERRORS))
def test_route_errors_come_with_schema_errors(plugins: Plugins, where: str) -> None:
    route = "routes:\n  - match: {channel_id: webb, type: fax}\n    to: [audti]\n"
    if where != "the route itself":
        route = route.replace(", type: fax", "")
    found = problems(plugins, SCHEMA_ERRORS[where] + route)
    assert any("unknown backend 'audti'" in p for p in found), found
    assert any("unknown channel 'webb'" in p for p in found), found
    assert len(found) >= 3, found  # the schema error is there too


def test_the_order_is_the_file_order(plugins: Plugins) -> None:
    found = problems(plugins, "routes: [{to: crm}]\nserver: {port: x}\n")
    assert found == [
        "gw.yaml:1:15: routes[0].to[0]: unknown backend 'crm'; configured: none.",
        "gw.yaml:2:16: server.port: must be a whole number",
    ]


WORDING = [
    (
        "backends:\n  crm: {type: webhook, url: crm.example.com/hook, secret: HOOK}\n",
        "gw.yaml:2:29: backends.crm.url: must be an absolute URL such as "
        "https://crm.example.com/hook",
    ),
    (
        "backends:\n  crm: {type: webhook, url: 'ftp://crm.example.com', secret: HOOK}\n",
        "gw.yaml:2:29: backends.crm.url: must be a 'http' or 'https' URL such as "
        "https://crm.example.com/hook",
    ),
    ("server: {port: eighty}\n", "gw.yaml:1:16: server.port: must be a whole number"),
    (
        "server: {port: 80.5}\n",
        "gw.yaml:1:16: server.port: must be a whole number, without a fraction",
    ),
    ("server: {port: 70000}\n", "gw.yaml:1:16: server.port: must be at most 65535"),
    ("server: {port: -1}\n", "gw.yaml:1:16: server.port: must be at least 0"),
    ("server: {trust_proxy: perhaps}\n", "gw.yaml:1:23: server.trust_proxy: must be true or false"),
    ("server: {host: [a, b]}\n", "gw.yaml:1:16: server.host: must be a string (put it in quotes)"),
    (
        "storage: {synchronous: extra}\n",
        "gw.yaml:1:24: storage.synchronous: must be 'full', 'normal' or 'off'",
    ),
    ("server: 8080\n", "gw.yaml:1:9: server: must be a mapping of keys to values"),
    ("routes: {to: crm}\n", "gw.yaml:1:9: routes: must be a list"),
    ("routes:\n  - match: {}\n", "gw.yaml:2:5: routes[0].to: required key is missing"),
    (
        "identity: {default_region: usa}\n",
        "gw.yaml:1:28: identity.default_region: must be a "
        "two-letter region code (ISO 3166 alpha-2) such as US or GB",
    ),
    (
        "backends:\n  crm: {type: webhook, url: 'https://x.io', batch_size: 0, secret: HOOK}\n",
        "gw.yaml:2:57: backends.crm.batch_size: must be at least 1",
    ),
]


@pytest.mark.parametrize(("text", "expected"), WORDING)
def test_messages_are_plain_words(plugins: Plugins, text: str, expected: str) -> None:
    found = problems(plugins, text.replace("HOOK", HOOK_SECRET))
    assert found == [expected]


@pytest.mark.parametrize(("text", "_"), WORDING)
def test_no_raw_pydantic_wording(plugins: Plugins, text: str, _: str) -> None:
    for problem in problems(plugins, text.replace("HOOK", HOOK_SECRET)):
        assert "Input should" not in problem
        assert "should be" not in problem
        assert "Value error" not in problem


MISSPELT = [
    ("chanels:\n  web: {type: generic, insecure: true}\n", "gw.yaml:1:1: chanels", "channels"),
    ("server:\n  prot: 8080\n", "gw.yaml:2:3: server.prot", "port"),
    ("admin:\n  tokn: x\n", "gw.yaml:2:3: admin.tokn", "token"),
    ("storage:\n  retension: 7d\n", "gw.yaml:2:3: storage.retension", "retention"),
    (
        "identity:\n  rules:\n    priorty: [email]\n",
        "gw.yaml:3:5: identity.rules.priorty",
        "priority",
    ),
    (
        "channels:\n  web: {type: generic, secrte: x}\n",
        "gw.yaml:2:24: channels.web.secrte",
        "secret",
    ),
    ("backends:\n  crm: {type: log, formt: json}\n", "gw.yaml:2:20: backends.crm.formt", "format"),
    (
        "backends:\n  crm: {type: log, retry: {max_attemps: 3}}\n",
        "gw.yaml:2:28: backends.crm.retry.max_attemps",
        "max_attempts",
    ),
    (
        "routes:\n  - to: []\n    match: {chanel_id: web}\n",
        "gw.yaml:3:13: routes[0].match.chanel_id",
        "channel_id",
    ),
]


@pytest.mark.parametrize(("text", "where", "meant"), MISSPELT)
def test_misspelt_keys_get_a_suggestion(
    plugins: Plugins, text: str, where: str, meant: str
) -> None:
    found = problems(plugins, text)
    assert f"{where}: unknown key. Did you mean '{meant}'?" in found, found


def test_a_key_like_no_other_gets_no_suggestion(plugins: Plugins) -> None:
    assert problems(plugins, "server:\n  colour: blue\n") == [
        "gw.yaml:2:3: server.colour: unknown key"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing but a comment\n", "---\n", "--- ~\n"])
def test_an_empty_file_is_an_error(plugins: Plugins, text: str) -> None:
    assert problems(plugins, text) == [
        "gw.yaml: the configuration file is empty; write at least one section "
        "(see docs/configuration.md), or leave the file out to use the embedded default"
    ]


def test_check_fails_on_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("")
    assert main(["check", "--config", str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"{path}: the configuration file is empty;")


def test_an_explicit_empty_mapping_is_the_defaults(plugins: Plugins) -> None:
    assert parse_config("{}\n", "gw.yaml", plugins, {}).channels == {}


def test_valid_blocks_are_still_valid(plugins: Plugins) -> None:
    config = parse_config(CHANNEL + "backends:\n" + BACKEND, "gw.yaml", plugins, {})
    assert list(config.backends) == ["crm"]
