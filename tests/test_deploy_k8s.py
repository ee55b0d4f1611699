"""The Kubernetes examples (`deploy/k8s/`) are valid manifests that run the gateway they embed:
Kubernetes' own schema (offline, `kubernetes-validate`), ports and probes that match the
embedded configuration, every `${VAR}` it names supplied by the Secret, and the admin API kept
off the internet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.cli import _parser
from gateway.config import GatewayConfig, is_loopback
from gateway.config_loader import parse_config
from gateway.plugins import load_plugins
from gateway.yaml_source import variable_names

K8S = Path(__file__).parents[1] / "deploy" / "k8s"
EXAMPLES = ("sidecar", "standalone")
RUN_BY_HAND = frozenset({"migrate-job.yaml"})
"""Manifests left out of kustomization.yaml: a Job runs once per rollout."""
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
"""The oldest Kubernetes the examples are written for, and the newest schema available."""
DUMMY = "whsec_ZGVwbG95LWtpdC1kdW1teS1zZWNyZXQh"
"""Every secret's stand-in: a valid Standard Webhooks secret, and harmless in a URL."""


@dataclass(frozen=True)
class Example:
    """One example folder: its manifests, and the gateway configuration its ConfigMap embeds."""

    folder: Path

    @property
    def documents(self) -> list[tuple[str, dict[str, Any]]]:
        """Every manifest of the folder, with its file name (kustomization.yaml left out)."""
        found = []
        for path in sorted(self.folder.glob("*.yaml")):
            if path.name != "kustomization.yaml":
                docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
                found += [(path.name, doc) for doc in docs if doc is not None]
        return found

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for _, doc in self.documents if doc["kind"] == kind]

    @property
    def config_text(self) -> str:
        (config_map,) = [
            m for m in self.of_kind("ConfigMap") if m["metadata"]["name"] == "gateway-config"
        ]
        text: str = config_map["data"]["gateway.yaml"]
        return text

    @property
    def secret_keys(self) -> list[str]:
        """The keys of the Secret `gateway-secrets`, as secrets.env.example lists them."""
        lines = (self.folder / "secrets.env.example").read_text(encoding="utf-8").splitlines()
        return [line.partition("=")[0] for line in lines if line and not line.startswith("#")]

    def config(self) -> GatewayConfig:
        """Validate the embedded configuration, every secret set to a stand-in."""
        env = dict.fromkeys(self.secret_keys, DUMMY)
        return parse_config(
            self.config_text, f"{self.folder.name}/gateway.yaml", load_plugins(), env
        )

    @property
    def pod_templates(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(workload kind, pod template) of every Deployment, StatefulSet and Job."""
        for _, doc in self.documents:
            if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
                yield doc["kind"], doc["spec"]["template"]


def gateway_container(pod: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod["spec"]["containers"]
    (container,) = [c for c in containers if c["image"].startswith("channel-gateway:")]
    return container


def named_port(container: dict[str, Any], port: int | str) -> int:
    """Resolve a probe's or a Service's port (a number or a container port's name)."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container.get("ports", []) if p["name"] == port]
    return int(number)


def serving_template(example: Example) -> dict[str, Any]:
    (template,) = [t for kind, t in example.pod_templates if kind != "Job"]
    return template


@pytest.fixture(params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> Example:
    return Example(K8S / request.param)


def every_manifest() -> list[Any]:
    """Every manifest of every example, once per Kubernetes version."""
    return [
        pytest.param(doc, version, id=f"{name}/{file}:{doc['metadata']['name']}@{version}")
        for name in EXAMPLES
        for file, doc in Example(K8S / name).documents
        for version in KUBERNETES_VERSIONS
    ]


@pytest.mark.parametrize(("manifest", "version"), every_manifest())
def test_every_manifest_passes_the_kubernetes_schema(
    manifest: dict[str, Any], version: str
) -> None:
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{manifest['kind']} {manifest['metadata']['name']}: {where}: {exc.message}")


def test_the_schema_check_fails_on_a_misspelt_field() -> None:
    (service, *_) = Example(K8S / "sidecar").of_kind("Service")
    misspelt = {**service, "spec": {**service["spec"], "selctor": service["spec"]["selector"]}}
    with pytest.raises(kubernetes_validate.ValidationError, match="selctor"):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest(example: Example) -> None:
    kustomization = yaml.safe_load((example.folder / "kustomization.yaml").read_text())
    files = {path.name for path in example.folder.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files - RUN_BY_HAND
    assert len(kustomization["resources"]) == len(set(kustomization["resources"]))


def test_the_embedded_config_is_valid(example: Example) -> None:
    config = example.config()
    assert config.logging.format == "json"


def test_every_variable_is_a_key_of_the_secret(example: Example) -> None:
    assert sorted(variable_names(example.config_text)) == sorted(example.secret_keys)
    for _, pod in example.pod_templates:
        container = gateway_container(pod)
        assert container["envFrom"] == [{"secretRef": {"name": "gateway-secrets"}}]
        for other in pod["spec"]["containers"]:
            for variable in other.get("env", []):
                if ref := variable.get("valueFrom", {}).get("secretKeyRef"):
                    assert ref["name"] == "gateway-secrets"
                    assert ref["key"] in example.secret_keys


def test_the_config_comes_from_the_config_map(example: Example) -> None:
    for kind, pod in example.pod_templates:
        container = gateway_container(pod)
        _, option, path = container["args"]
        assert option == "--config", kind
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        (volume,) = [name for name in mounts if "configMap" in volumes.get(name, {})]
        assert volumes[volume]["configMap"]["name"] == "gateway-config"
        assert PurePosixPath(path) == PurePosixPath(mounts[volume]) / "gateway.yaml"


def test_every_command_is_one_the_gateway_has(example: Example) -> None:
    for _, pod in example.pod_templates:
        args = gateway_container(pod)["args"]
        _parser().parse_args(args)  # an unknown command or option exits with status 2


def test_probes_and_ports_match_the_config(example: Example) -> None:
    server = yaml.safe_load(example.config_text)["server"]
    pod = serving_template(example)
    container = gateway_container(pod)
    # The kubelet probes the pod's address: the webhook port cannot be loopback-only.
    assert not is_loopback(server["host"])
    probes = {
        kind: container[f"{kind}Probe"]["httpGet"] for kind in ("startup", "liveness", "readiness")
    }
    assert probes["startup"]["path"] == probes["liveness"]["path"] == "/healthz"
    assert probes["readiness"]["path"] == "/readyz"
    for probe in probes.values():
        assert named_port(container, probe["port"]) == server["port"]
    for service in example.of_kind("Service"):
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        assert service["spec"]["type"] == "ClusterIP"  # the internet comes in through the Ingress
    shutdown = GatewayConfig.model_validate({"server": server}).server.shutdown_timeout
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["spec"]["terminationGracePeriodSeconds"] > shutdown.total_seconds() + pre_stop


def test_workloads_select_their_own_pods(example: Example) -> None:
    for kind in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
        for workload in example.of_kind(kind):
            labels = serving_template(example)["metadata"]["labels"]
            assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_only_webhooks_are_public(example: Example) -> None:
    """The Ingress sends only /webhooks/ to the gateway's port (not /metrics, not the probes)."""
    container = gateway_container(serving_template(example))
    services = {s["metadata"]["name"]: s for s in example.of_kind("Service")}
    (ingress,) = example.of_kind("Ingress")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            (port,) = [
                p
                for p in services[backend["name"]]["spec"]["ports"]
                if p["name"] == backend["port"]["name"]
            ]
            gateway_ports = {p["name"] for p in container["ports"]}
            if port["targetPort"] in gateway_ports:
                assert (path["path"], path["pathType"], port["targetPort"]) == (
                    "/webhooks/",
                    "Prefix",
                    "webhooks",
                )


def test_the_admin_api_stays_private(example: Example) -> None:
    text = example.config_text
    admin = yaml.safe_load(text)["admin"]
    container = gateway_container(serving_template(example))
    admin_ports = [p["name"] for p in container["ports"] if p["containerPort"] == admin["port"]]
    exposed = [
        service
        for service in example.of_kind("Service")
        for port in service["spec"]["ports"]
        if port["targetPort"] in admin_ports or port["targetPort"] == admin["port"]
    ]
    assert variable_names(str(admin["token"])), "the admin token comes from the Secret"
    if is_loopback(admin["host"]):
        assert not exposed  # only the pod's own containers reach it
        return
    # Off loopback: a ClusterIP Service, no Ingress, and a NetworkPolicy naming who may call it.
    assert [s["metadata"]["name"] for s in exposed] == ["gateway-admin"]
    (policy,) = example.of_kind("NetworkPolicy")
    admitting = [rule for rule in policy["spec"]["ingress"] if {"port": "admin"} in rule["ports"]]
    assert admitting
    assert all(rule.get("from") for rule in admitting)


def test_the_sqlite_database_is_on_a_volume(example: Example) -> None:
    url = yaml.safe_load(example.config_text)["storage"]["url"]
    if not url.startswith("sqlite:"):
        assert url.startswith("postgresql://")
        return
    database = PurePosixPath(url.removeprefix("sqlite:///"))
    pod = serving_template(example)
    mounts = {m["name"]: m["mountPath"] for m in gateway_container(pod)["volumeMounts"]}
    (statefulset,) = example.of_kind("StatefulSet")
    claims = {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    assert str(database.parent) in {mounts[name] for name in claims}
