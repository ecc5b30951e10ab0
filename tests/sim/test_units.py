"""Pure parts of the sim: build pins, PKI, node shapes, chart rewiring (no binaries, no processes)."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from modules import gobuild as build
from modules.cloud.node_pools import eks_node_groups, gke_node_pools
from modules.sim import charts, nodes, pki
from modules.sim.servers import IDENTITIES, SimPaths, SimPorts, control_plane, kubeconfig
from modules.spec.instances import reserved_cpu_millis
from modules.versions import bom, chart
from tests import specs


def test_generated_go_mods_require_the_bom_versions():
    for module in ("kube", "controllers"):
        text = build.go_mod(module, [], [])
        pinned = {e["module"]: e["version"] for e in build.module_entries(module).values()}
        assert build.required_versions(text) == pinned
        build.check_agrees(module, text)
    tools = build.go_mod("controllers", [], ["sigs.k8s.io/kueue/cmd/kueue"])
    assert "tool (\n\tsigs.k8s.io/kueue/cmd/kueue\n)" in tools


def test_a_moved_pin_is_a_clear_error():
    text = build.go_mod("controllers", [], []).replace(build.version("kueue"), "v9.9.9")
    with pytest.raises(build.GoBuildError, match=r"moved a pinned version: sigs\.k8s\.io/kueue"):
        build.check_agrees("controllers", text)


def test_kueue_chart_and_controller_are_one_release():
    assert build.version("kueue").lstrip("v") == str(chart("kueue")["version"]).lstrip("v")


def test_kubernetes_is_the_boms_minor():
    assert build.version("kubernetes").lstrip("v").startswith(str(bom()["binaries"]["kubernetes"]["version"]) + ".")


def test_staging_modules_replaced_by_the_matching_release():
    staged = ("k8s.io/api", "k8s.io/kms")
    upstream = {"Replace": [{"Old": {"Path": p}, "New": {"Path": f"./staging/src/{p}"}} for p in staged]}
    assert build.upstream_directives(upstream, "v1.35.4") == [
        "replace k8s.io/api => k8s.io/api v0.35.4",
        "replace k8s.io/kms => k8s.io/kms v0.35.4",
    ]


def test_upstream_replaces_and_excludes_are_copied():
    upstream = {
        "Replace": [
            {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "k8s.io/api", "Version": "v0.34.5"}},
            {"Old": {"Path": "a.io/x", "Version": "v1.0.0"}, "New": {"Path": "b.io/x", "Version": "v1.0.4"}},
        ],
        "Exclude": [{"Path": "google.golang.org/grpc/stats/opentelemetry", "Version": "v0.0.0-1"}],
    }
    assert build.upstream_directives(upstream, "v1.35.4") == [
        "replace k8s.io/api => k8s.io/api v0.34.5",
        "replace a.io/x v1.0.0 => b.io/x v1.0.4",
        "exclude google.golang.org/grpc/stats/opentelemetry v0.0.0-1",
    ]


def test_a_local_replace_outside_staging_is_refused():
    upstream = {"Replace": [{"Old": {"Path": "a.io/x"}, "New": {"Path": "./hack/x"}}]}
    with pytest.raises(build.GoBuildError, match=r"cannot resolve the local replace a\.io/x => \./hack/x"):
        build.upstream_directives(upstream, "v1.35.4")


def test_binaries_are_named_by_version(tmp_path, monkeypatch):
    monkeypatch.setenv("CNAI_BIN_DIR", str(tmp_path))
    assert build.path_of("kueue") == tmp_path / f"kueue-{build.version('kueue')}"
    assert build.path_of("kube").name == f"kube-{build.version('kubernetes')}-etcd-{build.version('etcd')}"
    assert {a.name for a in build.missing()} == {a.name for a in build.ARTIFACTS}


def test_missing_go_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(build.GoBuildError, match=r"`go`\) is not on PATH. Fix: install Go >= "):
        build.go_binary()


def test_pki_chain_and_identities():
    ca = pki.certificate_authority()
    server = pki.serving_certificate(ca, "kube-apiserver", *pki.apiserver_names())
    cert = x509.load_pem_x509_certificate(server.cert)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "10.96.0.1"]
    client = x509.load_pem_x509_certificate(pki.client_certificate(ca, IDENTITIES["kube-scheduler"]).cert)
    assert client.subject.rfc4514_string() == "CN=system:kube-scheduler"
    kueue = x509.load_pem_x509_certificate(pki.client_certificate(ca, IDENTITIES["kueue"]).cert)
    assert "CN=system:serviceaccount:kueue-system:kueue-controller-manager" in kueue.subject.rfc4514_string()


def test_servers_listen_on_loopback_only(tmp_path):
    paths, ports = SimPaths(tmp_path), SimPorts.from_base(31000)
    for server in control_plane(paths, ports, "/bin/kube"):
        for part in server.command:
            assert "0.0.0.0" not in part
        assert "127.0.0.1" in server.health_url
    assert "https://127.0.0.1:31003" in kubeconfig(paths, ports, "admin")
    assert len(set(vars(ports).values())) == len(vars(ports))


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_nodes_derive_from_the_cloud_node_groups_and_karpenter_node_pools(env):
    spec = specs.spec(specs.stand_in(env))
    groups = nodes.node_groups(spec)
    if spec.cluster.target == "eks":  # the system group; GPU pools are NodePools
        built = [g["node_group_name"] for g in eks_node_groups(spec)] + [p.name for p in spec.gpu_pools]
    else:
        built = [p["name"] for p in gke_node_pools(spec)]
    assert [g.name for g in groups] == built
    made = nodes.sim_nodes(spec)
    assert len(made) == sum(g.max_nodes for g in groups)
    for pool in spec.gpu_pools:
        pool_nodes = [n for n in made if n["metadata"]["labels"].get("cnai.io/gpu-pool") == pool.name]
        assert len(pool_nodes) == pool.max_nodes
        for node in pool_nodes:
            assert pool.node_labels.items() <= node["metadata"]["labels"].items()
            assert node["spec"]["taints"] == pool.taints
            assert node["status"]["allocatable"]["nvidia.com/gpu"] == str(pool.gpus_per_node * pool.slots_per_gpu)


def test_allocatable_is_the_shape_minus_the_documented_reservation():
    dev = {g.name: g for g in nodes.node_groups(specs.spec(specs.dev_like()))}
    a10g = dev["a10g-spot"]  # g5.xlarge: 4 vCPU, 16 GiB, time-sliced 4 ways
    assert a10g.instance_type == "g5.xlarge"
    assert a10g.allocatable() == {
        "cpu": "3920m",
        "memory": f"{16 * 1024 - 255 - 11 * 110 - 100}Mi",
        "pods": "110",
        "nvidia.com/gpu": "4",
    }
    prod = {g.name: g for g in nodes.node_groups(specs.spec(specs.prod_like()))}
    assert prod["a100-mig"].allocatable()["nvidia.com/gpu"] == "56"  # 8 GPUs x 7 slices of 1g.10gb
    assert reserved_cpu_millis(1) == 60 and reserved_cpu_millis(8) == 90


def test_chart_webhooks_and_conversion_point_at_loopback():
    ca = b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
    docs = [
        {"kind": "Deployment", "metadata": {"name": "kueue-controller-manager"}},
        {
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "v", "namespace": "kueue-system"},
            "webhooks": [
                {"name": "a", "clientConfig": {"service": {"name": "s", "namespace": "n", "path": "/validate-x"}}}
            ],
        },
        {
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "c", "annotations": {"cert-manager.io/inject-ca-from": "x/y"}},
            "spec": {
                "conversion": {
                    "strategy": "Webhook",
                    "webhook": {"clientConfig": {"service": {"name": "s", "namespace": "n", "path": "/convert"}}},
                }
            },
        },
    ]
    out = charts.installable(docs, 9443, ca)
    assert [d["kind"] for d in out] == ["ValidatingWebhookConfiguration", "CustomResourceDefinition"]
    hook = out[0]["webhooks"][0]["clientConfig"]
    assert hook["url"] == "https://127.0.0.1:9443/validate-x" and base64.b64decode(hook["caBundle"]) == ca
    assert "namespace" not in out[0]["metadata"]
    assert out[1]["spec"]["conversion"]["webhook"]["clientConfig"]["url"] == "https://127.0.0.1:9443/convert"
    assert out[1]["metadata"]["annotations"] == {}
    assert docs[1]["webhooks"][0]["clientConfig"]["service"]["path"] == "/validate-x"  # input untouched


def test_ssl_module_available():
    assert ssl.OPENSSL_VERSION


def test_charts_are_pulled_at_their_pinned_versions():
    kueue = charts.pull_command("helm", "kueue", Path("/c"))
    pinned = chart("kueue")
    assert kueue == [
        "helm",
        "pull",
        f"{pinned['repo']}/kueue",
        "--version",
        str(pinned["version"]),
        "--untar",
        "--untardir",
        "/c",
    ]
    milvus = charts.pull_command("helm", "milvus", Path("/c"))
    assert milvus[2:5] == ["milvus", "--repo", chart("milvus")["repo"]]


def test_a_chart_already_unpacked_at_its_pin_is_not_fetched_again():
    folder = charts.charts_dir()
    assert charts.pull("/nonexistent/helm", "kueue", folder) == folder / "kueue"  # helm is never run
