"""Identity rules: defaults, configuration errors, and parsing `KIND:VALUE`."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from gateway.identity import IdentityPolicy, IdentityRules, parse_identity
from gateway.plugins import Plugins
from gateway.schema import Identity
from tests.test_config import parse, plugins, problems

__all__ = ["plugins"]  # the module-scoped fixture, shared with the config tests


def policy(**rules: object) -> IdentityPolicy:
    return IdentityPolicy(IdentityRules.model_validate(rules), timedelta(hours=24))


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("phone", "+10000000000"),
        ("phone", "+11111111111"),
        ("email", "noreply@shop.example"),
        ("email", "no-reply@shop.example"),
        ("email", "Support@Acme.example"),
        ("email", "support+billing@acme.example"),
        ("email", "info@acme.example"),
        ("email", "mailer-daemon@mx.example"),
        ("web_visitor", "anonymous"),
        ("messenger_psid", "Unknown"),
        ("slack_user", "n/a"),
    ],
)
def test_default_blocked_values(kind: str, value: str) -> None:
    assert policy().is_blocked(kind, value)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("phone", "+15551234567"),
        ("email", "jane@example.com"),
        ("email", "supporter.jane@example.com"),  # only the whole local part is a shared mailbox
        ("email", "information-desk-jane@example.com"),
        ("web_visitor", "v-anonymous-42"),
    ],
)
def test_personal_values_are_not_blocked(kind: str, value: str) -> None:
    assert not policy().is_blocked(kind, value)


def test_configured_patterns_add_to_the_defaults_or_replace_them() -> None:
    added = policy(blocked={"phone": [r"^\+15550100000$"], "*": ["^test$"]})
    assert added.is_blocked("phone", "+15550100000")
    assert added.is_blocked("email", "noreply@shop.example")
    assert added.is_blocked("telegram_user", "TEST")
    replaced = policy(blocked={"email": ["@acme-corp"]}, default_blocked=False)
    assert replaced.is_blocked("email", "jane@acme-corp.example")
    assert not replaced.is_blocked("email", "noreply@shop.example")


def test_matchable_drops_blocked_values_and_repeats() -> None:
    identities = [
        Identity(kind="email", value="support@acme.example"),
        Identity(kind="phone", value="+15551234567"),
        Identity(kind="phone", value="+15551234567"),
    ]
    assert policy().matchable(identities) == [("phone", "+15551234567")]


def test_limits_priority_and_merging_kinds() -> None:
    rules = policy(limits={"phone": 2, "*": 10}, priority=["phone", "email"])
    assert (rules.limit("phone"), rules.limit("email"), rules.limit("web_visitor")) == (2, 10, 10)
    assert rules.rank("phone") < rules.rank("email") < rules.rank("web_visitor")
    assert policy().limit("web_visitor") is None
    assert IdentityPolicy.can_merge("phone")
    assert IdentityPolicy.can_merge("email")
    assert not IdentityPolicy.can_merge("messenger_psid")


def test_bad_pattern_is_a_config_error_at_its_line(plugins: Plugins) -> None:
    text = "identity:\n  rules:\n    blocked:\n      phone: ['(unclosed']\n"
    [problem] = problems(plugins, text)
    assert problem.startswith(
        "gw.yaml:4:7: identity.rules.blocked: phone: '(unclosed' is not a regular expression:"
        " missing ), unterminated subpattern"
    )


def test_unknown_rule_key_is_a_config_error(plugins: Plugins) -> None:
    assert problems(plugins, "identity:\n  rules:\n    limit: {phone: 2}\n") == [
        "gw.yaml:3:5: identity.rules.limit: unknown key. Did you mean 'limits'?"
    ]


def test_rules_in_yaml(plugins: Plugins) -> None:
    text = "identity:\n  rules:\n    limits: {phone: 2}\n    priority: [phone, email]\n"
    config = parse(plugins, text)
    assert config.identity.rules.limits == {"phone": 2}
    assert config.identity.rules.priority == ["phone", "email"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("phone:(415) 555-0100", Identity(kind="phone", value="+14155550100")),
        ("phone:whatsapp:+14155550100", Identity(kind="phone", value="+14155550100")),
        ("email: Jane@Example.COM ", Identity(kind="email", value="jane@example.com")),
        (
            "slack_user:T024BE7LD:U0G9QF9C6",
            Identity(kind="slack_user", value="T024BE7LD:U0G9QF9C6"),
        ),
        ("Email:jane@example.com", Identity(kind="email", value="jane@example.com")),
    ],
)
def test_parse_identity(text: str, expected: Identity) -> None:
    assert parse_identity(text, "US") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+14155550100", "expected KIND:VALUE such as phone:+14155550100, got '+14155550100'"),
        ("phone:", "expected KIND:VALUE such as phone:+14155550100, got 'phone:'"),
        ("phone:hello", "'hello' is not a valid phone"),
        ("email:nobody", "'nobody' is not a valid email"),
        ("web visitor:x", "'web visitor:x' is not a valid identity: String should match pattern"),
        ("phone:" + "9" * 5000, "'" + "9" * 59 + " is not a valid phone"),  # quoted in part
    ],
)
def test_parse_identity_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_identity(text, "US")
