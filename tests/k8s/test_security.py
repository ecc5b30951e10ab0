"""Security baseline: Pod Security labels, default-deny NetworkPolicies, team quotas and RBAC."""

from __future__ import annotations

from modules.k8s.security import security_objects, team_gpu_ceiling
from modules.spec import load_spec


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def test_every_namespace_has_pod_security_and_default_deny():
    objects = security_objects(load_spec("prod"))
    namespaces = {o["metadata"]["name"]: o["metadata"]["labels"] for o in by_kind(objects, "Namespace")}
    denied = {
        o["metadata"]["namespace"]
        for o in by_kind(objects, "NetworkPolicy")
        if o["metadata"]["name"] == "default-deny-ingress"
    }
    assert set(namespaces) == denied
    for name, labels in namespaces.items():
        assert labels["pod-security.kubernetes.io/enforce"] in ("restricted", "privileged"), name
    privileged = {n for n, labels in namespaces.items() if labels["pod-security.kubernetes.io/enforce"] == "privileged"}
    assert privileged == {"gpu-operator", "cnai-observability"}


def test_team_namespaces_are_restricted_with_least_privilege_rbac():
    spec = load_spec("prod")
    objects = security_objects(spec)
    for team in spec.teams:
        ns = team.namespace_name
        role = next(o for o in by_kind(objects, "Role") if o["metadata"]["namespace"] == ns)
        verbs = {v for rule in role["rules"] for v in rule["verbs"]}
        assert verbs <= {"create", "get", "list", "watch", "delete"}
        assert not any("*" in rule["resources"] or "secrets" in rule["resources"] for rule in role["rules"])
        sa = next(o for o in by_kind(objects, "ServiceAccount") if o["metadata"]["namespace"] == ns)
        assert sa["automountServiceAccountToken"] is False


def test_team_gpu_ceiling_is_nominal_plus_borrowing_capped_by_the_pool():
    spec = load_spec("prod")
    research, serving = spec.teams
    assert team_gpu_ceiling(spec, research) == (24 + 8) + 112  # a100-mig: no limit -> the whole pool
    assert team_gpu_ceiling(spec, serving) == 98 + 8


def test_disabled_component_gets_no_namespace():
    names = {o["metadata"]["name"] for o in by_kind(security_objects(load_spec("kind")), "Namespace")}
    assert "gpu-operator" not in names and "team-research" in names


def test_served_components_accept_only_labelled_platform_clients():
    objects = security_objects(load_spec("prod"))
    allowed = {
        o["metadata"]["namespace"]
        for o in by_kind(objects, "NetworkPolicy")
        if o["metadata"]["name"] == "allow-platform-clients"
    }
    assert allowed == {"cnai-mlflow", "cnai-storage", "cnai-milvus", "kserve"}
    clients = {
        o["metadata"]["name"]
        for o in by_kind(objects, "Namespace")
        if o["metadata"]["labels"].get("cnai.io/platform-client") == "true"
    }
    assert {"team-research", "team-serving", "kserve", "cnai-mlflow"} <= clients
    assert "gpu-operator" not in clients
