"""The sim's volume provisioner: `python -m modules.sim.provisioner KUBECONFIG PORT`.

A cluster binds a StatefulSet's claims through a provisioner (kind ships local-path-provisioner; a cloud
its CSI driver). The sim's kube-controller-manager runs the real PersistentVolume controller; this is
the external provisioner it waits for: for each claim of the sim's StorageClass it creates a volume of
the requested size bound to that claim, and deletes the volume once the claim is gone. Nothing mounts
them (kwok only pretends to run pods), so a volume is its API object and a path that is never created.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from modules.cluster import apply as kube
from modules.sim.servers import IDENTITIES

STORAGE_CLASS = "cnai-sim"
PROVISIONER = "sim.cnai.dev/volumes"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
POLL_SECONDS = 1.0


USER = IDENTITIES["provisioner"].user  # the name its client certificate carries


def objects() -> list[dict[str, Any]]:
    """The sim's default StorageClass (claims that name none get it), and the provisioner's rights: the
    built-in role of volume provisioners (volumes: create, delete; claims and classes: read)."""
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "cnai-sim-provisioner"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:persistent-volume-provisioner",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    }
    return [storage_class, binding]


def volume_for(claim: dict[str, Any]) -> dict[str, Any]:
    """A volume bound to `claim`, of the size and access modes it asks for."""
    meta = claim["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
            "accessModes": claim["spec"]["accessModes"],
            "storageClassName": STORAGE_CLASS,
            "persistentVolumeReclaimPolicy": "Delete",
            "hostPath": {"path": f"/var/lib/cnai-sim/volumes/{meta['namespace']}/{meta['name']}"},
            "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
        },
    }


def reconcile(dyn: Any) -> None:
    """One pass: a volume for every unbound claim of the sim's class, none left for a claim that went."""
    claims = dyn.resources.get(api_version="v1", kind="PersistentVolumeClaim")
    volumes = dyn.resources.get(api_version="v1", kind="PersistentVolume")
    existing = {v["metadata"]["name"]: v for v in volumes.get().to_dict()["items"]}
    for claim in claims.get().to_dict()["items"]:
        wanted = volume_for(claim)
        ours = claim["spec"].get("storageClassName") == STORAGE_CLASS
        if ours and not claim["spec"].get("volumeName") and wanted["metadata"]["name"] not in existing:
            volumes.create(body=wanted)
    for name, volume in existing.items():
        ours = (volume["metadata"].get("annotations") or {}).get(PROVISIONED_BY) == PROVISIONER
        if ours and volume.get("status", {}).get("phase") == "Released":
            volumes.delete(name=name)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet: supervisord keeps the log for errors."""


def main(argv: list[str]) -> int:
    kubeconfig, port = argv[0], int(argv[1])
    server = HTTPServer(("127.0.0.1", port), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dyn = kube.client(Path(kubeconfig))
    while True:
        try:
            reconcile(dyn)
        except Exception as exc:
            print(f"provisioner: {exc}", file=sys.stderr, flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
