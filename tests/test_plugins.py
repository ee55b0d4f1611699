"""Plugin discovery and registration through real entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config_reference import core_plugins
from gateway.errors import PluginLoadError
from gateway.plugins import load_plugins


def install_distribution(site: Path, name: str, version: str, modules: dict[str, str]) -> None:
    """Write an installed distribution (dist-info with a `gateway.plugins` entry point)."""
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    entry_points = "".join(f"{module} = {module}\n" for module in modules)
    (dist_info / "entry_points.txt").write_text(f"[gateway.plugins]\n{entry_points}")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


EXAMPLE_PLUGIN = """
    from gateway.plugin import Backend, BackendRegistry, BackendSettings, Delivered, hookimpl

    class ExampleBackend(Backend[BackendSettings]):
        type_name = "example"
        settings_model = BackendSettings

        async def deliver(self, batch):
            return [Delivered() for _ in batch]

    @hookimpl
    def gateway_register_backends(registry: BackendRegistry) -> None:
        registry.add(ExampleBackend)
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtins_register_through_the_hooks() -> None:
    plugins = core_plugins()
    assert plugins.channels.type_names() == ["generic"]
    assert plugins.backends.type_names() == ["log", "webhook"]
    assert plugins.channels["generic"].source.distribution == "channel-gateway"


def test_entry_point_plugin_is_loaded_and_credited(site: Path) -> None:
    install_distribution(site, "gateway-example", "1.2.3", {"gateway_example": EXAMPLE_PLUGIN})
    plugins = load_plugins(disabled=())
    registration = plugins.backends["example"]
    assert (registration.source.distribution, registration.source.version) == (
        "gateway-example",
        "1.2.3",
    )


def test_plugin_that_fails_to_import_names_entry_point_distribution_and_version(
    site: Path,
) -> None:
    install_distribution(site, "gateway-broken", "0.9.1", {"gateway_broken": "import nope\n"})
    with pytest.raises(PluginLoadError) as caught:
        load_plugins(disabled=())
    message = str(caught.value)
    assert "plugin entry point 'gateway_broken' (gateway_broken)" in message
    assert "gateway-broken 0.9.1" in message
    assert "No module named 'nope'" in message
    assert "GATEWAY_DISABLE_PLUGINS=gateway_broken" in message


def test_disable_plugins_from_environment(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_distribution(site, "gateway-broken", "0.9.1", {"gateway_broken": "import nope\n"})
    monkeypatch.setenv("GATEWAY_DISABLE_PLUGINS", "gateway_broken, log,webhook")
    plugins = load_plugins()
    assert {"log", "webhook"}.isdisjoint(plugins.backends.type_names())
    assert "generic" in plugins.channels.type_names()


def test_two_plugins_claiming_one_type_are_refused(site: Path) -> None:
    install_distribution(site, "gateway-example", "1.0", {"gateway_example": EXAMPLE_PLUGIN})
    install_distribution(site, "gateway-copycat", "2.0", {"gateway_copycat": EXAMPLE_PLUGIN})
    with pytest.raises(PluginLoadError, match="backend type 'example' is registered twice"):
        load_plugins(disabled=())


def test_misspelled_hook_is_refused(site: Path) -> None:
    source = """
        from gateway.plugin import hookimpl

        @hookimpl
        def gateway_register_chanels(registry): ...
    """
    install_distribution(site, "gateway-typo", "1.0", {"gateway_typo": source})
    with pytest.raises(PluginLoadError, match=r"gateway-typo 1\.0.*unknown hook"):
        load_plugins(disabled=())


def test_registering_a_non_channel_is_refused(site: Path) -> None:
    source = """
        from gateway.plugin import hookimpl

        @hookimpl
        def gateway_register_channels(registry):
            registry.add(dict)
    """
    install_distribution(site, "gateway-odd", "1.0", {"gateway_odd": source})
    with pytest.raises(PluginLoadError, match="is not a subclass of Channel"):
        load_plugins(disabled=())


def test_gateway_plugins_lists_types_with_distribution(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATEWAY_DISABLE_PLUGINS", raising=False)
    install_distribution(site, "gateway-example", "1.2.3", {"gateway_example": EXAMPLE_PLUGIN})
    assert main(["plugins"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == ["TYPE", "ROLE", "KIND", "DISTRIBUTION"]
    assert ["generic", "channel", "webchat", "channel-gateway", "0.1.0"] in lines
    assert ["log", "backend", "-", "channel-gateway", "0.1.0"] in lines
    assert ["example", "backend", "-", "gateway-example", "1.2.3"] in lines
