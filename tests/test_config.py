"""Configuration: every kind of mistake gets an exact `FILE:LINE:COL: path: message`."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.config import GatewayConfig
from gateway.config_loader import DEFAULT_CONFIG, load_config, parse_config
from gateway.config_reference import core_plugins
from gateway.errors import ConfigError
from gateway.plugins import Plugins
from tests.payloads import SECRET


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    """The core's own plugins only: messages listing types must not depend on what is installed."""
    return core_plugins()


def problems(plugins: Plugins, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(plugins, text, env)
    return list(caught.value.problems)


def parse(plugins: Plugins, text: str, env: dict[str, str] | None = None) -> GatewayConfig:
    return parse_config(textwrap.dedent(text).lstrip(), "gw.yaml", plugins, env or {})


VALID = f"""
channels:
  web: {{type: generic, secret: "{SECRET}"}}
backends:
  audit: {{type: log}}
"""


def test_valid_config_and_defaults(plugins: Plugins) -> None:
    config = parse(plugins, VALID)
    assert config.server.port == 8080
    assert config.storage.synchronous == "full"
    assert config.identity.conversation_window == timedelta(hours=24)
    assert config.channels["web"].type == "generic"
    assert config.backends["audit"].retry.max_attempts == 12


def test_embedded_default_config_is_valid(plugins: Plugins) -> None:
    config = load_config(DEFAULT_CONFIG, plugins, env={})
    assert list(config.channels) == ["generic"]
    assert list(config.backends) == ["log"]
    assert config.server.host == "127.0.0.1"


def test_environment_variables_and_defaults(plugins: Plugins) -> None:
    config = parse(
        plugins,
        """
        server: {port: "${PORT}", host: "${HOST:-127.0.0.2}"}
        storage: {url: "sqlite:///${DIR:-data}/gw.db"}
        channels:
          web: {type: generic, secret: "${SECRET}", insecure: false}
        """,
        env={"PORT": "9000", "SECRET": SECRET, "DIR": ""},
    )
    assert config.server.port == 9000
    assert config.server.host == "127.0.0.2"
    assert config.storage.url == "sqlite:///data/gw.db"


def test_unset_variable(plugins: Plugins) -> None:
    assert problems(plugins, "server:\n  host: ${HOST}\n") == [
        "gw.yaml:2:9: server.host: environment variable HOST is not set "
        "(set it, or write ${HOST:-default} for a default)"
    ]


def test_yaml_syntax_error(plugins: Plugins) -> None:
    assert problems(plugins, "server:\n  port: [8080\n") == [
        "gw.yaml:3:1: invalid YAML: expected ',' or ']', but got '<stream end>'"
    ]


def test_duplicate_key(plugins: Plugins) -> None:
    assert problems(plugins, "server: {port: 1}\nserver: {port: 2}\n") == [
        "gw.yaml:2:1: server: duplicate key"
    ]


def test_unknown_key(plugins: Plugins) -> None:
    assert problems(plugins, "server:\n  port: 8080\n  colour: blue\n") == [
        "gw.yaml:3:3: server.colour: unknown key"
    ]


def test_wrong_type(plugins: Plugins) -> None:
    assert problems(plugins, "server:\n  port: eighty\n") == [
        "gw.yaml:2:9: server.port: must be a whole number"
    ]


def test_bad_duration(plugins: Plugins) -> None:
    assert problems(plugins, "identity:\n  conversation_window: 1 week\n") == [
        "gw.yaml:2:24: identity.conversation_window: invalid duration '1 week': use a number "
        "of seconds or a number with a unit (ms, s, m, h, d), like 30s or 24h"
    ]


def test_unknown_channel_type_suggests(plugins: Plugins) -> None:
    assert problems(plugins, "channels:\n  web:\n    type: generc\n") == [
        "gw.yaml:3:11: channels.web.type: unknown channel type 'generc'; installed: generic. "
        "Did you mean 'generic'?"
    ]


def test_unknown_backend_type_suggests(plugins: Plugins) -> None:
    assert problems(plugins, "backends:\n  crm: {type: logs}\n") == [
        "gw.yaml:2:15: backends.crm.type: unknown backend type 'logs'; installed: log, webhook. "
        "Did you mean 'log'?"
    ]


def test_missing_type(plugins: Plugins) -> None:
    assert problems(plugins, "backends:\n  crm: {format: json}\n") == [
        "gw.yaml:2:8: backends.crm: missing 'type'; installed: log, webhook"
    ]


def test_plugin_setting_errors_point_into_the_block(plugins: Plugins) -> None:
    assert problems(
        plugins, "backends:\n  crm:\n    type: log\n    format: xml\n    tries: 3\n"
    ) == [
        "gw.yaml:4:13: backends.crm.format: must be 'json' or 'text'",
        "gw.yaml:5:5: backends.crm.tries: unknown key",
    ]


def test_bad_secret_format_is_not_printed(plugins: Plugins) -> None:
    found = problems(plugins, "channels:\n  web: {type: generic, secret: hunter2-not-base64}\n")
    assert found == ["gw.yaml:2:32: channels.web.secret[0]: must be 'whsec_' followed by base64"]
    assert "hunter2" not in "".join(found)


def test_channel_without_secret_refuses(plugins: Plugins) -> None:
    assert problems(plugins, "channels:\n  web:\n    type: generic\n    secret: ''\n") == [
        "gw.yaml:3:5: channels.web: no secret configured (secret); set one, or write "
        "`insecure: true` to accept unverified webhooks"
    ]
    assert parse(plugins, "channels:\n  web: {type: generic, insecure: true}\n").channels


def test_route_to_unknown_backend_suggests(plugins: Plugins) -> None:
    text = VALID + "routes:\n  - to: [audti]\n"
    assert problems(plugins, text) == [
        "gw.yaml:6:10: routes[0].to[0]: unknown backend 'audti'; configured: audit. "
        "Did you mean 'audit'?"
    ]


def test_route_match_unknown_channel(plugins: Plugins) -> None:
    text = VALID + "routes:\n  - match: {channel_id: webb}\n    to: audit\n"
    assert problems(plugins, text) == [
        "gw.yaml:6:25: routes[0].match.channel_id[0]: unknown channel 'webb'; configured: web. "
        "Did you mean 'web'?"
    ]


def test_route_bad_kind(plugins: Plugins) -> None:
    found = problems(plugins, VALID + "routes:\n  - match: {channel_kind: fax}\n    to: [audit]\n")
    assert found[0].startswith(
        "gw.yaml:6:27: routes[0].match.channel_kind[0]: must be 'sms', 'mms',"
    )


def test_route_missing_to(plugins: Plugins) -> None:
    assert problems(plugins, VALID + "routes:\n  - match: {type: call}\n") == [
        "gw.yaml:6:5: routes[0].to: required key is missing"
    ]


def test_admin_off_loopback_needs_token(plugins: Plugins) -> None:
    assert problems(plugins, "admin:\n  host: 0.0.0.0\n") == [
        "gw.yaml:2:3: admin: a token is required: host 0.0.0.0 is reachable from other "
        "machines; set token (e.g. token: ${GATEWAY_ADMIN_TOKEN}) or listen on 127.0.0.1"
    ]
    assert parse(plugins, "admin: {host: 0.0.0.0, token: s3cret}\n").admin.token


def test_unsupported_storage(plugins: Plugins) -> None:
    assert problems(plugins, "storage:\n  url: mysql://db\n") == [
        "gw.yaml:2:8: storage.url: expected sqlite:///relative.db, sqlite:////absolute/path.db"
        " or postgresql://user:password@host:5432/database"
    ]


def test_postgresql_storage_urls(plugins: Plugins) -> None:
    url = "postgresql://gw:s3cret@db.internal:5432/gateway?sslmode=require"
    assert parse(plugins, f"storage: {{url: '{url}'}}\n").storage.url == url
    assert problems(plugins, "storage: {url: 'postgresql://gw:s3cret@db:port/gateway'}\n") == [
        "gw.yaml:1:16: storage.url: the postgresql URL does not parse (check the host and port)"
    ]
    assert problems(plugins, "storage: {url: 'postgres://gw:s3cret@db:5432'}\n") == [
        "gw.yaml:1:16: storage.url: the postgresql URL names no database:"
        " postgresql://host:5432/DATABASE"
    ]


def test_bad_channel_id(plugins: Plugins) -> None:
    found = problems(plugins, "channels:\n  'no spaces':\n    type: generic\n    insecure: true\n")
    assert found == [
        "gw.yaml:3:5: channels.no spaces: must be 1 to 64 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit"
    ]


def test_not_a_mapping(plugins: Plugins) -> None:
    assert problems(plugins, "- just\n- a list\n") == [
        "gw.yaml:1:1: the configuration must be a mapping of sections"
    ]


def test_problems_are_reported_together_in_file_order(plugins: Plugins) -> None:
    found = problems(plugins, "server:\n  port: x\nchannels:\n  web: {type: nope}\n")
    assert [p.split(":")[1] for p in found] == ["2", "4"]


def test_unreadable_file(plugins: Plugins, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.yaml", plugins)
    assert str(caught.value).startswith(f"{tmp_path}/missing.yaml: cannot read configuration:")


def test_secrets_never_printed(plugins: Plugins) -> None:
    config = parse(plugins, VALID + "admin: {token: t0ps3cret}\n")
    rendered = repr(config) + str(config) + config.model_dump_json()
    assert SECRET not in rendered
    assert "t0ps3cret" not in rendered
