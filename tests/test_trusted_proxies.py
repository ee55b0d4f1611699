"""`server.trusted_proxies`: X-Forwarded-* count only when `trust_proxy` is on and the direct
peer is one of the configured networks; a bad network is a configuration error with its path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.builtins.generic import GenericChannel
from gateway.config import ServerSettings
from gateway.config_loader import parse_config
from gateway.config_reference import core_plugins
from gateway.errors import ConfigError
from gateway.request import WebhookRequest
from gateway.testing import GatewayFactory, standard_webhook_headers
from tests.payloads import SECRET, message

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "hooks.example.com",
    "X-Forwarded-For": "203.0.113.9, 198.51.100.20",
}


class RecordingChannel(GenericChannel):
    """The generic channel, keeping every request it verified."""

    seen: list[WebhookRequest]

    def verify(self, req: WebhookRequest) -> None:
        self.seen.append(req)
        super().verify(req)


async def seen_by_channel(
    gateway_factory: GatewayFactory, server: dict[str, Any], forwarded: dict[str, str] = FORWARDED
) -> WebhookRequest:
    """Post one forwarded webhook from 127.0.0.1 and return the request the channel got."""
    gut = await gateway_factory(
        {"server": server, "channels": {"web": {"type": "generic", "secret": SECRET}}}
    )
    original = gut.gateway.channels["web"]
    channel = RecordingChannel(original.ctx, original.settings)
    channel.seen = []
    gut.gateway.channels["web"] = channel
    body = orjson.dumps(message())
    headers = {
        **standard_webhook_headers(SECRET, body),
        "Content-Type": "application/json",
        **forwarded,
    }
    response = await gut.client.post("/webhooks/web?x=1", data=body, headers=headers)
    assert response.status == 200, await response.text()
    [req] = channel.seen
    return req


@pytest.mark.parametrize(
    ("server", "client"),
    [
        ({"trust_proxy": True}, "198.51.100.20"),  # default trusted_proxies: loopback
        ({"trust_proxy": True, "trusted_proxies": ["127.0.0.1/32"]}, "198.51.100.20"),
        ({"trust_proxy": True, "trusted_proxies": ["0.0.0.0/0"]}, "203.0.113.9"),
        ({"trust_proxy": True, "trusted_proxies": ["10.0.0.0/8", "::1"]}, None),
        ({"trust_proxy": True, "trusted_proxies": []}, None),
        ({"trust_proxy": False}, None),
        ({"trust_proxy": False, "trusted_proxies": ["127.0.0.0/8"]}, None),
    ],
)
async def test_forwarded_headers_count_only_from_a_trusted_peer(
    gateway_factory: GatewayFactory, server: dict[str, Any], client: str | None
) -> None:
    """`client`: the address X-Forwarded-For gives, or None when the headers must be ignored."""
    req = await seen_by_channel(gateway_factory, server)

    if client:
        assert req.url == "https://hooks.example.com/webhooks/web?x=1"
        assert req.remote == client
    else:
        assert req.url.startswith("http://127.0.0.1:")
        assert req.url.endswith("/webhooks/web?x=1")
        assert req.remote == "127.0.0.1"


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.1.2.3", True),
        ("10.1.2.3%eth0", False),
        ("192.168.1.1", False),
        ("::2", False),
        ("not-an-address", False),
        ("", False),
        (None, False),
    ],
)
def test_which_peers_are_trusted(peer: str | None, trusted: bool) -> None:
    server = ServerSettings(trust_proxy=True, trusted_proxies=["127.0.0.0/8", "::1", "10.0.0.0/8"])
    assert server.is_trusted_proxy(peer) is trusted
    assert ServerSettings(trusted_proxies=["0.0.0.0/0"]).is_trusted_proxy(peer) is False


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("203.0.113.9, 10.0.0.5", "203.0.113.9"),
        ("1.1.1.1, 203.0.113.9, 10.0.0.5", "203.0.113.9"),  # 1.1.1.1: what the client claims
        ("10.0.0.7", "10.0.0.7"),  # every hop trusted: the farthest one
        ("garbage, 10.0.0.5", "garbage"),
        ("", "127.0.0.1"),
    ],
)
async def test_the_client_is_the_nearest_untrusted_hop(
    gateway_factory: GatewayFactory, chain: str, client: str
) -> None:
    server = {"trust_proxy": True, "trusted_proxies": ["127.0.0.0/8", "10.0.0.0/8"]}
    req = await seen_by_channel(gateway_factory, server, {"X-Forwarded-For": chain})
    assert req.remote == client


@pytest.mark.parametrize(
    "value", ["10.0.0.0/33", "10.0.0.1/8", "localhost", "", "::1/200", "10.0.0.0/8/8"]
)
def test_a_bad_network_names_its_yaml_path(value: str) -> None:
    text = f"server:\n  trusted_proxies: [127.0.0.1, '{value}']\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gw.yaml", core_plugins(), {})
    assert list(caught.value.problems) == [
        f"gw.yaml:2:32: server.trusted_proxies[1]: invalid network {value!r}: use an "
        "address or a network in CIDR form, like 10.0.0.0/8, 192.0.2.7 or ::1 "
        "(no host bits set after the prefix)"
    ]


def test_networks_are_kept_in_cidr_form() -> None:
    server = ServerSettings(trusted_proxies=["10.0.0.0/8", "192.0.2.7", " ::1 ", "fd00::/8"])
    assert server.trusted_proxies == ["10.0.0.0/8", "192.0.2.7/32", "::1/128", "fd00::/8"]
