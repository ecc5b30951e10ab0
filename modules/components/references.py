"""Cross-references inside a cluster's content (cnai's objects and the charts' rendered output): what a
pod mounts or reads, what a monitor scrapes, what a URL or a webhook names, must exist. Kubernetes
accepts each object alone and fails only at run time (a pod stuck in ContainerCreating, an empty
dashboard, a webhook timing out), so these checks read the whole set at once. Pure: documents in,
findings out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet")
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
# name.namespace.svc[.cluster.local][:port] inside any string cnai writes (URLs, hosts, exporters).
SERVICE_ADDRESS = re.compile(
    r"\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc\b(?:\.cluster\.local)?(?::(\d+))?"
)


@dataclass(frozen=True)
class Ref:
    """Something one object names that must exist: (kind, namespace, name), and a key inside it."""

    kind: str
    namespace: str
    name: str
    key: str | None = None


def placed(docs: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """A chart's documents with the release namespace set where `helm template` leaves it off."""
    for doc in docs:
        doc.setdefault("metadata", {}).setdefault("namespace", namespace)
    return docs


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, str]]]:
    """(owner, pod spec, pod labels) of every pod an object runs."""
    for doc in docs:
        kind = doc.get("kind")
        if kind in WORKLOADS:
            template = doc["spec"]["template"]
        elif kind == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
        elif kind == "Pod":
            template = doc
        else:
            continue
        yield doc, template.get("spec") or {}, (template.get("metadata") or {}).get("labels") or {}


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def _volume_refs(ns: str, volume: dict[str, Any]) -> Iterator[Ref]:
    sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
    for source in sources:
        for field, kind, name_key in (("secret", "Secret", "secretName"), ("configMap", "ConfigMap", "name")):
            ref = source.get(field)
            if ref and not ref.get("optional"):
                items = ref.get("items") or [{}]
                for item in items:
                    yield Ref(kind, ns, ref[name_key], item.get("key"))


def _env_refs(ns: str, container: dict[str, Any]) -> Iterator[Ref]:
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            ref = source.get(field)
            if ref and not ref.get("optional"):
                yield Ref(kind, ns, ref["name"], ref["key"])
    for env_from in container.get("envFrom") or []:
        for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            ref = env_from.get(field)
            if ref and not ref.get("optional"):
                yield Ref(kind, ns, ref["name"])


def pod_references(docs: list[dict[str, Any]]) -> Iterator[tuple[str, Ref]]:
    """(who, what) for every Secret, ConfigMap and service account a pod needs to start."""
    for owner, pod, _ in pod_specs(docs):
        ns = owner["metadata"]["namespace"]
        who = f"{owner['kind']} {ns}/{owner['metadata']['name']}"
        for volume in pod.get("volumes") or []:
            for ref in _volume_refs(ns, volume):
                yield who, ref
        for container in _containers(pod):
            for ref in _env_refs(ns, container):
                yield who, ref
        account = pod.get("serviceAccountName") or pod.get("serviceAccount")
        if account and account != "default":
            yield who, Ref("ServiceAccount", ns, account)


def _existing(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], set[str] | None]:
    """(kind, namespace, name) -> its keys (None: not known until run time), for what the content creates:
    the objects themselves, Secrets cert-manager issues for Certificates, and CloudNativePG's app Secret."""
    found: dict[tuple[str, str, str], set[str] | None] = {}
    for doc in docs:
        kind, meta = doc.get("kind"), doc.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        found[(kind, ns, name)] = set(doc.get("data") or {}) | set(doc.get("stringData") or {})
        if kind == "Certificate":
            found[("Secret", ns, doc["spec"]["secretName"])] = {"tls.crt", "tls.key", "ca.crt"}
        if kind == "Cluster" and doc.get("apiVersion", "").startswith("postgresql.cnpg.io/"):
            found[("Secret", ns, f"{name}-app")] = {"username", "password", "uri", "host", "port", "dbname"}
    return found


def missing_references(docs: list[dict[str, Any]], created_at_run_time: set[tuple[str, str, str]]) -> list[str]:
    """Secrets, ConfigMaps and service accounts pods need that nothing in `docs` creates (or that lack the
    key read). `created_at_run_time`: (kind, namespace, name) a controller or hook Job creates."""
    existing = _existing(docs)
    missing = []
    for who, ref in pod_references(docs):
        where = (ref.kind, ref.namespace, ref.name)
        if where in created_at_run_time:
            continue
        if where not in existing:
            missing.append(f"{who}: {ref.kind} {ref.namespace}/{ref.name} does not exist")
        elif ref.key and existing[where] is not None and ref.key not in existing[where]:
            keys = ", ".join(sorted(existing[where] or ())) or "none"
            missing.append(f"{who}: {ref.kind} {ref.namespace}/{ref.name} has no key {ref.key!r} (keys: {keys})")
    return sorted(set(missing))


# --- Services ----------------------------------------------------------------------------------
def services(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) -> Service: those in the content, and each InferenceService's predictor Service,
    which KServe (raw deployment mode) creates on port 80."""
    found = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d.get("kind") == "Service"}
    for isvc in (d for d in docs if d.get("kind") == "InferenceService"):
        ns, name = isvc["metadata"]["namespace"], f"{isvc['metadata']['name']}-predictor"
        found[(ns, name)] = {"metadata": {"namespace": ns, "name": name}, "spec": {"ports": [{"port": 80}]}}
    return found


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def missing_addresses(texts: Any, docs: list[dict[str, Any]]) -> list[str]:
    """`name.ns.svc[:port]` written anywhere in `texts` (cnai's objects, Helm values, the endpoints
    document) that is not a Service of the content with that port."""
    known = services(docs)
    missing = set()
    for text in strings(texts):
        for match in SERVICE_ADDRESS.finditer(text):
            name, ns, port = match.group(1), match.group(3), match.group(5)
            service = known.get((ns, name))
            if service is None:
                missing.add(f"{match.group(0)}: no Service {ns}/{name}")
            elif port and int(port) not in {p["port"] for p in service["spec"].get("ports") or []}:
                ports = sorted(p["port"] for p in service["spec"].get("ports") or [])
                missing.add(f"{match.group(0)}: Service {ns}/{name} has no port {port} (ports: {ports})")
    return sorted(missing)


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    if selector is None:
        return False
    if not all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _monitor_namespaces(monitor: dict[str, Any]) -> set[str] | None:
    selector = monitor["spec"].get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    return set(selector.get("matchNames") or [monitor["metadata"]["namespace"]])


def runtime_pod_labels(docs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Labels of pods KServe will run from the serving runtimes (created per InferenceService, at any
    time): each runtime's own pod labels plus KServe's InferenceService label."""
    return [
        {"serving.kserve.io/inferenceservice": "*", **(d["spec"].get("labels") or {})}
        for d in docs
        if d.get("kind") in ("ClusterServingRuntime", "ServingRuntime")
    ]


def unscraped_monitors(docs: list[dict[str, Any]], created_at_run_time: set[tuple[str, str, str]]) -> list[str]:
    """ServiceMonitors whose selector matches no Service with the endpoint's port, and PodMonitors whose
    selector matches no pod with the port: Prometheus would scrape nothing and say nothing."""
    found = []
    for monitor in docs:
        kind = monitor.get("kind")
        if kind not in ("ServiceMonitor", "PodMonitor"):
            continue
        ident = (kind, monitor["metadata"]["namespace"], monitor["metadata"]["name"])
        if ident in created_at_run_time:
            continue
        namespaces = _monitor_namespaces(monitor)
        selector = monitor["spec"].get("selector") or {}
        if kind == "ServiceMonitor":
            targets = [
                {p.get("name") for p in s["spec"].get("ports") or []}
                for (ns, _), s in services(docs).items()
                if (namespaces is None or ns in namespaces) and _selects(selector, s["metadata"].get("labels") or {})
            ]
            ports = [e.get("port") for e in monitor["spec"].get("endpoints") or []]
        else:
            targets = [
                {p.get("name") for c in _containers(pod) for p in c.get("ports") or []}
                for owner, pod, labels in pod_specs(docs)
                if (namespaces is None or owner["metadata"]["namespace"] in namespaces) and _selects(selector, labels)
            ]
            # A runtime's pods may run in any namespace an InferenceService is made in; their ports
            # are the runtime's (its monitors name them by number).
            targets += [set() for labels in runtime_pod_labels(docs) if _selects(selector, labels)]
            ports = [e.get("port") for e in monitor["spec"].get("podMetricsEndpoints") or []]
        what = f"{kind} {ident[1]}/{ident[2]}"
        if not targets:
            found.append(f"{what}: its selector matches no {'Service' if kind == 'ServiceMonitor' else 'pod'}")
        for port in ports:
            if port and targets and not any(port in t for t in targets):
                found.append(f"{what}: no target has a port named {port!r}")
    return sorted(found)


# --- webhooks and NetworkPolicies --------------------------------------------------------------
def _webhook_services(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc.get("kind") in WEBHOOK_KINDS:
            for hook in doc.get("webhooks") or []:
                service = (hook.get("clientConfig") or {}).get("service")
                if service:
                    yield f"{doc['kind']} {doc['metadata']['name']} ({hook['name']})", service
        conversion = (
            (doc.get("spec") or {}).get("conversion") or {} if doc.get("kind") == "CustomResourceDefinition" else {}
        )
        service = ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service")
        if service:
            yield f"CRD {doc['metadata']['name']} (conversion)", service


def _target_ports(service: dict[str, Any], port: int, pods: list[tuple[dict, dict, dict]]) -> set[int]:
    """The container ports a Service port lands on (a named targetPort resolved in the selected pods)."""
    entry = next((p for p in service["spec"].get("ports") or [] if p["port"] == port), None)
    if entry is None:
        return set()
    target = entry.get("targetPort", port)
    if isinstance(target, int):
        return {target}
    return {
        p["containerPort"]
        for _, pod, _ in pods
        for c in _containers(pod)
        for p in c.get("ports") or []
        if p.get("name") == target
    }


def _admits_api_server(policy: dict[str, Any], ports: set[int]) -> bool:
    """An ingress rule that lets a caller outside the pod network (the API server) reach one of `ports`:
    no `from` (anyone) or an ipBlock peer; no `ports` (all) or one of them."""
    for rule in policy["spec"].get("ingress") or []:
        peers = rule.get("from")
        if peers and not any("ipBlock" in p for p in peers):
            continue
        allowed = {p.get("port") for p in rule.get("ports") or []}
        if not rule.get("ports") or allowed & ports:
            return True
    return False


def unreachable_webhooks(docs: list[dict[str, Any]]) -> list[str]:
    """Webhooks (admission and CRD conversion) whose Service does not exist, has not the port, selects no
    pod, or whose pods the namespace's NetworkPolicies close to the API server."""
    found = []
    known = services(docs)
    for who, ref in _webhook_services(docs):
        ns, name, port = ref["namespace"], ref["name"], ref.get("port", 443)
        service = known.get((ns, name))
        if service is None:
            found.append(f"{who}: no Service {ns}/{name}")
            continue
        pods = [
            p
            for p in pod_specs(docs)
            if p[0]["metadata"]["namespace"] == ns and _selects({"matchLabels": service["spec"].get("selector")}, p[2])
        ]
        if not pods:
            found.append(f"{who}: Service {ns}/{name} selects no pod")
            continue
        targets = _target_ports(service, port, pods)
        if not targets:
            found.append(f"{who}: Service {ns}/{name} has no port {port}")
            continue
        policies = [
            d
            for d in docs
            if d.get("kind") == "NetworkPolicy"
            and d["metadata"]["namespace"] == ns
            and "Ingress" in (d["spec"].get("policyTypes") or ["Ingress"])
            and any(_selects(d["spec"].get("podSelector") or {}, labels) for _, _, labels in pods)
        ]
        if policies and not any(_admits_api_server(p, targets) for p in policies):
            found.append(f"{who}: NetworkPolicies in {ns} close port {sorted(targets)} of its pods to the API server")
    return sorted(found)
