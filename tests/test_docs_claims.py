"""The README and docs claim only what is built: every `type` their YAML examples configure is a
type an installed plugin registers, and types not built yet are named only as planned."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config_reference import core_plugins, render_config_reference
from gateway.plugins import Plugins, load_plugins

ROOT = Path(__file__).parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "plugins").glob("README.md"),
        *(ROOT / "plugins").glob("*/README.md"),
    ]
)
"""Our pages: not the README.md files tools leave in plugins' caches (`.pytest_cache/`)."""
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_SECTIONS = {"channels": "channels", "backends": "backends", "enrichers": "enrichers"}
NOT_BUILT: list[str] = []


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return load_plugins()


def fenced(page: Path, language: str) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def configured_types(data: Any) -> Iterator[tuple[str, str]]:
    """Yield (section, type) for every plugin block of a config (or a part of one)."""
    if not isinstance(data, dict):
        return
    for section in _SECTIONS:
        blocks = data.get(section)
        for block in blocks.values() if isinstance(blocks, dict) else ():
            if isinstance(block, dict) and isinstance(block.get("type"), str):
                yield section, block["type"]


def defined_in_page(page: Path) -> set[str]:
    """Types a page builds itself in its own Python examples (the plugin tutorial)."""
    code = "\n".join(fenced(page, "python"))
    return set(re.findall(r'^\s*type_name = "([^"]+)"', code, flags=re.MULTILINE))


def registered(plugins: Plugins, section: str) -> set[str]:
    return set(getattr(plugins, section).type_names())


def test_pages_have_yaml_examples() -> None:
    assert sum(len(fenced(page, "yaml")) for page in PAGES) >= 8


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_configured_type_is_built(plugins: Plugins, page: Path) -> None:
    tutorial = defined_in_page(page)
    for block in fenced(page, "yaml"):
        data = yaml.safe_load(block)
        for section, type_name in configured_types(data):
            known = registered(plugins, section) | tutorial
            assert type_name in known, f"{page.name}: {section} type '{type_name}' is not built"


def test_the_check_sees_a_type_that_is_not_built(plugins: Plugins) -> None:
    data = yaml.safe_load("backends:\n  crm: {type: freshdesk}\nchannels:\n  d: {type: discord}\n")
    found = list(configured_types(data))
    assert found == [("channels", "discord"), ("backends", "freshdesk")]
    assert not any(t in registered(plugins, s) for s, t in found)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_unbuilt_integrations_are_named_only_as_planned(page: Path) -> None:
    """Prose naming Slack, HubSpot, ... as a channel or backend must say it is planned.

    Code is left out: a backend may well be *named* `hubspot` in an example of a crosswalk.
    """
    for paragraph in _FENCE.sub("", page.read_text(encoding="utf-8")).split("\n\n"):
        lowered = _CODE_SPAN.sub("", paragraph).lower()
        if "channel" not in lowered and "backend" not in lowered and "crm" not in lowered:
            continue
        named = [word for word in NOT_BUILT if word in lowered]
        if named and not _only_as_data(paragraph):
            assert "planned" in lowered, f"{page.name}: {named} in: {paragraph[:200]}"


def _only_as_data(paragraph: str) -> bool:
    """Identity kinds and channel kinds (`slack_user`, `slack`) are schema values, not claims."""
    return any(
        mark in paragraph for mark in ("slack_user", "telegram_user", "`slack`", "thread_ts")
    )


def test_the_reference_gives_built_types_as_examples(plugins: Plugins) -> None:
    reference = render_config_reference(core_plugins())
    built = {r.cls.type_name for registry in (plugins.channels, plugins.backends) for r in registry}
    for row in re.findall(r"^\| `type` \|.*$", reference, flags=re.MULTILINE):
        examples = re.findall(r"e\.g\. (.*?) \|", row)
        for example in examples:
            assert set(re.findall(r"`([^`]+)`", example)) <= built, row
