"""The platform program deployed by the real Pulumi engine on the sim: `pulumi up` through the cluster
lifecycle's own steps (modules/cluster/lifecycle.py), with the CLI, the Python language host and the
Kubernetes provider built from their Go modules, the file backend and a passphrase. Helm installs the
pinned charts from their folders, kwok runs their pods, the sim's provisioner binds their claims.

Resumable (a failed `pulumi up` is recorded and the next `up` starts there), idempotent (a second
`up` changes nothing), precise (one spec field changes exactly the objects derived from it), secret
(the state holds no plaintext credential), checked (no drift from the BOM) and reversible (`cnai
down`'s `pulumi destroy` leaves nothing cnai made; a protected environment is refused). The module
runs a sim of its own: destroying the platform deletes the namespaces the sim's controllers live in
too (see test_destroy_leaves_nothing_cnai_made).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from rich.console import Console

from modules.cluster import apply as kube
from modules.cluster.lifecycle import Lifecycle, LifecycleError
from modules.components.contents import all_objects
from modules.components.jobset import NAMESPACE as JOBSET_NAMESPACE
from modules.components.kserve import NAMESPACE as KSERVE_NAMESPACE
from modules.components.kueue import NAMESPACE as KUEUE_NAMESPACE
from modules.k8s.render import rendered_files
from modules.sim.pulumi import (
    SIM_STEPS,
    SimPulumi,
    changes_of_last_update,
    cluster_object_keys,
    deploy,
    destroy,
    leftovers,
    pulumi_command,
)
from modules.sim.servers import SimPaths, SimPorts
from tests import specs
from tests.sim.conftest import BuiltSim, require_binaries

pytestmark = [pytest.mark.sim, pytest.mark.slow]

STACK = "sim"
PORT_BASE = 27900  # apart from the session's sim (27400), Karpenter's (27450) and the fault tests'
RELEASE = "kubernetes:helm.sh/v3:Release"


def platform_document() -> dict[str, Any]:
    """An existing cluster reached through the sim's kubeconfig context, with every component on."""
    return specs.onprem_document(STACK, kube_context="cnai-sim")


@dataclass
class Deployment:
    """The sim, the lifecycle deploying onto it, and how its first `up` went: it failed at `pulumi-up`
    (a chart folder that does not exist), then the next `up` resumed there."""

    sim: BuiltSim
    pulumi: SimPulumi
    lifecycle: Lifecycle
    document: dict[str, Any]
    before: set[str]  # every object key in the cluster before the first `up`
    failure: LifecycleError | None = None
    state_after_failure: dict[str, Any] = field(default_factory=dict)
    ran_on_resume: list[list[str]] = field(default_factory=list)

    def configure(self, document: dict[str, Any]) -> None:
        self.pulumi.stack_config(STACK, specs.stack_file(document)["config"]["cnai:spec"])
        self.lifecycle.spec = specs.spec(document)

    def deploy(self, document: dict[str, Any], fresh: bool = False) -> None:
        self.configure(document)
        deploy(self.lifecycle, fresh)

    def fail_then_resume(self) -> None:
        self.configure(self.document)
        stack_file = self.pulumi.project / f"Pulumi.{STACK}.yaml"
        settings = yaml.safe_load(stack_file.read_text())
        settings["config"]["cnai:charts"] = str(self.pulumi.root / "no-charts-here")
        stack_file.write_text(yaml.safe_dump(settings, sort_keys=False))
        try:
            deploy(self.lifecycle)
        except LifecycleError as failed:
            self.failure = failed
        self.state_after_failure = self.lifecycle.load_state()
        self.configure(self.document)  # the setting put right, as a user would fix what the error named
        self.lifecycle.shell.ran.clear()
        deploy(self.lifecycle)
        self.ran_on_resume = list(self.lifecycle.shell.ran)

    def pulumi_json(self, *args: str) -> Any:
        done = pulumi_command(self.lifecycle, *args)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_binaries()
    home = tmp_path_factory.mktemp("pulumi-sim")
    sim = BuiltSim(("dev",), SimPaths(home / "sim"), SimPorts.from_base(PORT_BASE))
    sim.up()
    try:
        with pytest.MonkeyPatch.context() as patch:
            # The program merges the document over its blueprint: an empty one, so only the builder counts.
            _, blueprints = specs.write_stacks(home / "spec", [platform_document()])
            patch.setenv("CNAI_BLUEPRINTS", str(blueprints))
            pulumi = SimPulumi(sim.paths)
            pulumi.prepare()
            document = platform_document()
            lifecycle = pulumi.lifecycle(specs.spec(document), home / "cnai", Console(stderr=True))
            deployment = Deployment(sim, pulumi, lifecycle, document, cluster_object_keys(sim.client()))
            deployment.fail_then_resume()
            yield deployment
    finally:
        sim.down()


def test_a_failed_pulumi_up_is_named_recorded_and_resumed_there(deployment: Deployment):
    assert deployment.failure is not None and deployment.failure.step == "pulumi-up"
    assert "no-charts-here" in str(deployment.failure)  # the engine's own error line, passed on
    assert deployment.state_after_failure["failed"] == "pulumi-up"
    assert deployment.state_after_failure["done"] == ["pulumi-stack"]
    commands = [" ".join(c[:3]) for c in deployment.ran_on_resume]
    assert "pulumi stack select" not in commands  # done before: skipped
    assert commands[0] == "pulumi up --stack"
    assert any(c[0] == "kubectl" and "wait" in c for c in deployment.ran_on_resume)  # wait-ready, for real
    assert deployment.lifecycle.load_state()["done"] == list(SIM_STEPS)


def test_up_installs_every_component_and_kwok_runs_their_pods(deployment: Deployment):
    dyn = deployment.sim.client()
    spec = deployment.lifecycle.spec
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment").get().to_dict()["items"]
    namespaces = {d["metadata"]["namespace"] for d in deployments if kube.is_true(d, "Available")}
    assert {"cnai-mlflow", "cnai-observability", "cnai-milvus", "cert-manager"} <= namespaces
    claims = dyn.resources.get(api_version="v1", kind="PersistentVolumeClaim").get().to_dict()["items"]
    assert claims and all(c["status"]["phase"] == "Bound" for c in claims)  # the provisioner bound them
    queues = dyn.resources.get(api_version="kueue.x-k8s.io/v1beta2", kind="ClusterQueue").get().to_dict()["items"]
    assert {q["metadata"]["name"] for q in queues} == {team.name for team in spec.teams}
    assert deployment.lifecycle.paths.endpoints.is_file()  # the stack's outputs, read back by the lifecycle


def test_a_second_up_changes_nothing(deployment: Deployment):
    deployment.deploy(deployment.document, fresh=True)  # a new `cnai up`, not a resume skipping what was done
    changes = changes_of_last_update(deployment.lifecycle)
    assert set(changes) == {"same"}, changes


def test_one_quota_changes_exactly_the_objects_derived_from_it(deployment: Deployment):
    changed = copy.deepcopy(deployment.document)
    changed["teams"][0]["cpu"] = deployment.lifecycle.spec.teams[0].cpu + 2
    derived = {
        f"{o['kind']}/{o['metadata']['name']}"
        for o in all_objects(specs.spec(changed))
        if o not in all_objects(specs.spec(deployment.document))
    }
    preview = deployment.pulumi_json("preview", "--json", "--diff")
    pending = [(s["urn"], s.get("diffReasons"), s.get("detailedDiff")) for s in preview["steps"] if s["op"] != "same"]
    assert pending == []  # nothing pending yet
    deployment.pulumi.stack_config(STACK, specs.stack_file(changed)["config"]["cnai:spec"])
    preview = deployment.pulumi_json("preview", "--json")
    updated = {
        f"{s['newState']['inputs'].get('kind')}/{s['newState']['inputs'].get('metadata', {}).get('name')}"
        for s in preview["steps"]
        if s["op"] == "update"
    }
    assert derived and updated == derived
    deployment.deploy(changed)
    deployment.document = changed
    assert changes_of_last_update(deployment.lifecycle).get("update") == len(derived)


def generated_values(dyn: Any) -> list[str]:
    """Every credential cnai generated, as the cluster holds them (Secrets of the platform)."""
    secrets = dyn.resources.get(api_version="v1", kind="Secret")
    values = []
    for namespace, name in (("cnai-storage", "cnai-s3-credentials"), ("cnai-observability", "cnai-grafana-admin")):
        data = secrets.get(name=name, namespace=namespace).to_dict()["data"]
        values += [base64.b64decode(v).decode() for v in data.values()]
    return [v for v in values if len(v) >= 16]


def test_the_state_holds_no_plaintext_credential(deployment: Deployment):
    exported = json.dumps(deployment.pulumi_json("stack", "export"))
    values = generated_values(deployment.sim.client())
    assert values and not [v for v in values if v in exported]
    assert "ciphertext" in exported


def test_render_is_what_pulumi_created(deployment: Deployment):
    """`cnai render` is the program run under mocks: the objects it renders (the smoke Jobs are the
    lifecycle's, applied at its smoke step) are exactly the ones the engine created, by kind, namespace
    and name, credential Secrets included, and its Helm releases are the ones installed."""
    files = {name: list(yaml.safe_load_all(text)) for name, text in rendered_files(deployment.lifecycle.spec).items()}
    rendered = {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        for name, objects in files.items()
        if name not in ("helm-releases.yaml", "smoke-jobs.yaml")
        for o in objects
    }
    state = deployment.pulumi_json("stack", "export")["deployment"]["resources"]
    created = {
        (r["type"].rsplit(":", 1)[1], *(r["id"].split("/", 1) if "/" in r["id"] else ("", r["id"])))
        for r in state
        if r["type"].startswith("kubernetes:")
        and r.get("custom")
        and "id" in r
        and not r["type"].startswith(("kubernetes:helm.sh/", "pulumi:providers:"))
    }
    assert rendered == created, (sorted(rendered - created), sorted(created - rendered))
    releases = {(r["outputs"]["name"], r["outputs"]["namespace"]) for r in state if r["type"] == RELEASE}
    assert releases == {(r["name"], r["namespace"]) for r in files["helm-releases.yaml"][0]}


def test_status_finds_no_drift_from_the_bom(deployment: Deployment):
    """`cnai status`'s drift check reads the versions the deployed stack exports (`pulumi stack output bom`)."""
    status = deployment.lifecycle.status()
    assert status["deployed"] is True and status["drift"] == {}
    assert status["steps_done"] == list(SIM_STEPS) and status["failed_step"] is None


def test_a_protected_environment_is_not_destroyed(deployment: Deployment):
    document = copy.deepcopy(deployment.document)
    document["cluster"]["protect"] = True
    protected = dataclasses.replace(deployment.lifecycle, spec=specs.spec(document), confirm=lambda _: True)
    protected.shell.ran.clear()
    with pytest.raises(LifecycleError, match=r"sim is protected .*nothing destroyed"):
        protected.down(allow_protected=False)
    assert protected.shell.ran == []
    assert changes_of_last_update(deployment.lifecycle)  # the stack is still there


def test_destroy_leaves_nothing_cnai_made(deployment: Deployment):
    """`pulumi destroy` removes every object the platform made. What it also removes of the sim's own is
    known and bounded: the namespaces of the controllers the sim runs (the security baseline declares
    them, so server-side apply adopted them) and what lived in them."""
    dyn = deployment.sim.client()
    destroy(deployment.lifecycle)
    assert leftovers(dyn, deployment.before) == []
    after = cluster_object_keys(dyn)
    adopted = {KUEUE_NAMESPACE, KSERVE_NAMESPACE, JOBSET_NAMESPACE}
    taken = [key.split("/") for key in deployment.before - after]
    assert {namespace or name for _, kind, namespace, name in taken if kind == "Namespace" or namespace} <= adopted
    assert not [key for key in taken if key[1] != "Namespace" and not key[2]], "a cluster-scoped object of the sim's"
