"""The Pulumi components, once each, under pulumi.runtime.set_mocks: no Pulumi engine and no cluster
can run here, so the mocks record what would be declared and these tests read it like a policy:
pinned charts, the stack's provider reaching every child, objects straight from the builders."""

from __future__ import annotations

import json

import pytest

from modules.components.kueue import kueue_objects
from modules.components.security import security_objects
from modules.k8s.declared import PASSWORD, SECRET_SIGNATURE, declare, plain
from modules.versions import chart
from tests.specs import stand_in_spec


@pytest.fixture(scope="module")
def prod():
    return declare(stand_in_spec("prod"))


def test_releases_use_the_pinned_charts(prod):
    recorder, _ = prod
    releases = recorder.of_type("kubernetes:helm.sh/v3:Release")
    assert set(releases) == {
        "gpu-operator-chart",
        "kueue-chart",
        "jobset-chart",
        "observability-prometheus",
        "observability-otel-collector",
        "milvus-chart",
        "mlflow-cnpg",
        "cert-manager-chart",
        "kserve-envoy-gateway",
        "kserve-crds",
        "kserve-controller",
        "keda-chart",
    }
    for name, key in (("gpu-operator-chart", "gpu-operator"), ("kueue-chart", "kueue")):
        assert releases[name].inputs["version"] == chart(key)["version"]
        assert releases[name].inputs["createNamespace"] is False
    assert releases["kueue-chart"].inputs["namespace"] == "kueue-system"


def test_objects_are_exactly_what_the_builders_return(prod):
    recorder, _ = prod
    groups = recorder.of_type("kubernetes:yaml/v2:ConfigGroup")
    assert groups["kueue-queues"].inputs["objs"] == kueue_objects(stand_in_spec("prod"))
    assert groups["security-objects"].inputs["objs"] == security_objects(stand_in_spec("prod"))


def test_components_and_child_names(prod):
    recorder, _ = prod
    components = {r.name: r.typ for r in recorder.resources if r.typ.startswith("cnai:")}
    assert components == {
        "security": "cnai:k8s:SecurityBaseline",
        "observability": "cnai:k8s:Observability",
        "gpu-operator": "cnai:k8s:GpuOperator",
        "kueue": "cnai:k8s:Kueue",
        "jobset": "cnai:k8s:JobSet",
        "cert-manager": "cnai:k8s:CertManager",
        "kserve": "cnai:k8s:KServe",
        "keda": "cnai:k8s:Keda",
        "milvus": "cnai:k8s:Milvus",
        "mlflow": "cnai:k8s:Mlflow",
    }
    children = [r.name for r in recorder.resources if r.typ.startswith(("kubernetes:", "pulumi-python:"))]
    assert all(any(n.startswith(f"{c}-") for c in components) for n in children), children


def test_the_stack_provider_reaches_every_child(prod):
    # Children get only parent=self; the provider arrives through the parent chain, so this also
    # proves every child is parented to a component that was given the stack's provider.
    recorder, _ = prod
    children = [r for r in recorder.resources if r.typ.startswith("kubernetes:")]
    assert children and all(r.provider and "pulumi:providers:kubernetes::k8s" in r.provider for r in children)


def test_kind_has_no_gpu_operator_and_exports_local_queues():
    recorder, outputs = declare(stand_in_spec("kind"))
    assert "gpu-operator-chart" not in recorder.of_type("kubernetes:helm.sh/v3:Release")
    assert outputs["local_queues"] == {"research": "team-research/research"}


def test_kind_runs_seaweedfs_with_generated_secret_credentials():
    recorder, outputs = declare(stand_in_spec("kind"))
    assert "object-storage-chart" in recorder.of_type("kubernetes:helm.sh/v3:Release")
    passwords = recorder.of_type(PASSWORD)
    assert {"object-storage-access-key", "object-storage-secret-key", "observability-grafana-password"} <= set(
        passwords
    )
    wrapped = recorder.of_type("kubernetes:yaml/v2:ConfigGroup")["object-storage-credentials"].inputs["objs"]
    # Pulumi marks the whole input secret (its signature key + "value"): keys never reach state in plaintext.
    assert SECRET_SIGNATURE in wrapped
    secrets = wrapped["value"]
    assert {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in secrets} == {
        ("cnai-storage", "cnai-s3-identities"),
        ("cnai-storage", "cnai-s3-credentials"),
        ("team-research", "s3-credentials"),  # the team's own, scoped keys
        ("cnai-milvus", "milvus-s3"),  # Milvus's own, scoped keys
    }
    assert "object-storage-research-access-key" in passwords
    assert outputs["s3_credentials_secret"] == "cnai-storage/cnai-s3-credentials"


def test_cloud_object_storage_runs_nothing_in_cluster(prod):
    recorder, outputs = prod
    assert "object-storage-chart" not in recorder.of_type("kubernetes:helm.sh/v3:Release")
    assert "s3_url" not in outputs


def test_milvus_gets_keys_to_its_own_bucket_from_a_secret():
    """Least privilege and no plaintext: generated keys whose identity may only read, write and list the
    milvus bucket, in a Secret of Milvus's namespace; the chart values (which it writes into ConfigMap
    `milvus`) carry none, only references to that Secret."""
    recorder, _ = declare(stand_in_spec("kind"))
    passwords = recorder.of_type(PASSWORD)
    assert {"object-storage-milvus-access-key", "object-storage-milvus-secret-key"} <= set(passwords)
    values = plain(recorder.of_type("kubernetes:helm.sh/v3:Release")["milvus-chart"].inputs["values"])
    assert "accessKey" not in values["externalS3"] and "secretKey" not in values["externalS3"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in values["standalone"]["extraEnv"]}
    assert env["MINIO_ACCESS_KEY_ID"] == {"name": "milvus-s3", "key": "AWS_ACCESS_KEY_ID"}
    secrets = plain(recorder.of_type("kubernetes:yaml/v2:ConfigGroup")["object-storage-credentials"].inputs["objs"])
    own = next(s for s in secrets if s["metadata"]["name"] == "milvus-s3")
    assert own["metadata"]["namespace"] == "cnai-milvus"
    assert own["stringData"]["AWS_ACCESS_KEY_ID"] == "object-storage-milvus-access-key-value"
    document = json.loads(
        next(s for s in secrets if s["metadata"]["name"] == "cnai-s3-identities")["stringData"]["seaweedfs_s3_config"]
    )
    milvus = next(i for i in document["identities"] if i["name"] == "milvus")
    assert milvus["actions"] == ["Read:milvus", "Write:milvus", "List:milvus"]
