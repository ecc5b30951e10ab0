"""Pure parts of Pulumi on the sim: the engine's build pins, the Helm post-renderer, the volume
provisioner's volumes, the installable chart copies (no binaries, no processes)."""

from __future__ import annotations

import json
import tomllib

import yaml

from modules import gobuild as build
from modules.sim import charts, postrender, provisioner
from modules.sim.pulumi import PROGRAM, SimPulumi
from modules.sim.servers import SimPaths
from modules.spec.loader import REPO_ROOT


def test_a_sibling_replaced_from_the_repository_gets_the_boms_pin():
    """Pulumi's pkg/v3 replaces sdk/v3 with ../sdk (the same commit): the build module requires the sdk
    the BOM pins instead; its other replaces are copied."""
    upstream = {
        "Replace": [
            {"Old": {"Path": "github.com/pulumi/pulumi/sdk/v3"}, "New": {"Path": "../sdk"}},
            {"Old": {"Path": "a.io/clipboard"}, "New": {"Path": "b.io/clipboard", "Version": "v0.0.1"}},
        ]
    }
    pinned = frozenset({"github.com/pulumi/pulumi/sdk/v3"})
    assert build.upstream_directives(upstream, "v1.35.4", pinned) == ["replace a.io/clipboard => b.io/clipboard v0.0.1"]


def test_the_engine_is_pinned_built_and_named_for_its_release():
    names = {a.name: a for a in build.ARTIFACTS}
    assert set(build.PULUMI_TOOLS) <= set(names)
    assert names["pulumi-resource-kubernetes"].filename.endswith(build.release("pulumi-kubernetes"))
    assert build.release("pulumi-kubernetes") != build.version("pulumi-kubernetes")  # a tag served as pseudo-version
    scripts = [a for a in build.ARTIFACTS if a.output == "copy"]
    assert {a.name for a in scripts} == {"pulumi-language-python-exec", "pulumi-resource-pulumi-python"}
    assert "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=" + build.version("pulumi") in build.ldflags(
        "pulumi"
    )


def test_the_python_sdk_of_the_provider_is_the_provider_release():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(p.split("==", 1) for extra in project["optional-dependencies"].values() for p in extra if "==" in p)
    assert pins["pulumi-kubernetes"] == build.release("pulumi-kubernetes").lstrip("v")
    assert "pulumi-random" not in pins  # not served by the Go proxy: modules/k8s/generated.py instead


def test_schema_embeds_carry_the_release(tmp_path):
    upstream, work = tmp_path / "upstream", tmp_path / "work"
    upstream.mkdir()
    work.mkdir()
    (upstream / "schema.json").write_text(json.dumps({"name": "kubernetes", "version": "0.0.0-dev", "types": {}}))
    (upstream / "terraform-mapping.json").write_text('{\n  "a": 1\n}')
    build.write_schema_embeds(upstream, work, "v4.25.0")
    assert json.loads((work / "schema-embed.json").read_text()) == {
        "name": "kubernetes",
        "version": "4.25.0",
        "types": {},
    }
    assert (work / "terraform-mapping-embed.json").read_text() == '{"a":1}'


def _doc(kind: str, name: str, namespace: str | None = None, api: str = "v1") -> dict:
    meta = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def test_the_post_renderer_leaves_the_sims_objects_and_unreachable_webhooks_to_the_sim():
    crd = _doc("CustomResourceDefinition", "clusterqueues.kueue.x-k8s.io", api="apiextensions.k8s.io/v1")
    account = _doc("ServiceAccount", "kueue-controller-manager", "kueue-system")
    installed = {postrender.object_key(crd), postrender.object_key(account)}
    release = [
        crd,
        _doc("ServiceAccount", "kueue-controller-manager"),  # no namespace: Helm puts it in the release's
        _doc("ValidatingWebhookConfiguration", "cnpg", api="admissionregistration.k8s.io/v1"),
        _doc("APIService", "v1beta1.metrics.k8s.io", api="apiregistration.k8s.io/v1"),
        _doc("Deployment", "kueue-controller-manager", "kueue-system", api="apps/v1"),
        _doc("ServiceAccount", "other", "kueue-system"),
    ]
    kept = postrender.kept(release, installed)
    assert [(d["kind"], d["metadata"]["name"]) for d in kept] == [
        ("Deployment", "kueue-controller-manager"),
        ("ServiceAccount", "other"),
    ]


def test_a_volume_is_bound_to_its_claim_with_the_size_asked():
    claim = {
        "metadata": {"name": "data-0", "namespace": "cnai-storage", "uid": "u-1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    volume = provisioner.volume_for(claim)
    assert volume["spec"]["claimRef"] == {"namespace": "cnai-storage", "name": "data-0", "uid": "u-1"}
    assert volume["spec"]["capacity"] == {"storage": "10Gi"}
    assert volume["spec"]["storageClassName"] == provisioner.STORAGE_CLASS
    storage_class, binding = provisioner.objects()
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert binding["roleRef"]["name"] == "system:persistent-volume-provisioner"  # no more than a provisioner's
    assert binding["subjects"][0]["name"] == provisioner.USER


def test_installable_charts_drop_the_subcharts_the_folder_lacks(tmp_path, monkeypatch):
    source = tmp_path / "charts"
    chart = source / "parent"
    (chart / "charts" / "present").mkdir(parents=True)
    meta = {
        "name": "parent",
        "version": "1.0.0",
        "dependencies": [
            {"name": "present", "version": "1"},
            {"name": "absent", "version": "1", "condition": "absent.enabled"},
        ],
    }
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (chart / "values.yaml").write_text(yaml.safe_dump({"absent": {"enabled": True, "port": 3000}}))
    monkeypatch.setenv("CNAI_CHARTS", str(source))
    copy = charts.installable_charts(tmp_path / "installable") / "parent"
    assert [d["name"] for d in yaml.safe_load((copy / "Chart.yaml").read_text())["dependencies"]] == ["present"]
    assert yaml.safe_load((copy / "values.yaml").read_text()) == {"absent": {"enabled": False, "port": 3000}}
    assert yaml.safe_load((chart / "Chart.yaml").read_text()) == meta  # the source is untouched


def test_the_sim_project_runs_the_platform_program(tmp_path, monkeypatch):
    pulumi = SimPulumi(SimPaths(tmp_path))
    monkeypatch.setattr(build, "ensure_built", lambda **_: [])
    monkeypatch.setattr(build, "path_of", lambda name: tmp_path / "built" / name)
    (tmp_path / "built").mkdir()
    for name in build.PULUMI_TOOLS:
        (tmp_path / "built" / name).write_text(name)
    pulumi.prepare()
    assert (pulumi.tools / "pulumi").resolve() == tmp_path / "built" / "pulumi"
    assert not (pulumi.tools / "pulumi-language-python").is_symlink()  # finds its exec script beside it
    project = yaml.safe_load((pulumi.project / "Pulumi.yaml").read_text())
    assert (pulumi.project / project["main"]).resolve() == PROGRAM.resolve()
    assert project["name"] == yaml.safe_load((PROGRAM / "Pulumi.yaml").read_text())["name"]  # the same URNs
    assert pulumi.passphrase_file.stat().st_mode & 0o777 == 0o600
    assert pulumi.env()["PULUMI_BACKEND_URL"].startswith("file://")
