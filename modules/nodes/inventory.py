"""The Ansible inventory of an environment's bare-metal GPU nodes, derived from the spec.

One group per GPU pool (`gpu_pool_<pool>`) whose vars are the pool's facts: the node labels and taints
are the very values the pool's Kueue ResourceFlavor and the GPU Operator select on. Versions come from
the bill of materials. The playbook (modules/nodes/site.yml) refuses hosts outside these groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules.spec import GpuPool, Spec
from modules.versions import binary

NODES_DIR = Path(__file__).parent
PLAYBOOK = NODES_DIR / "site.yml"
# Distributions the roles install packages for: name -> major versions (Ansible's facts).
SUPPORTED_DISTRIBUTIONS = {"Debian": ["12"], "Ubuntu": ["22", "24"]}


def pool_group(pool: GpuPool) -> str:
    return "gpu_pool_" + pool.name.replace("-", "_")


def _pool_vars(pool: GpuPool) -> dict[str, Any]:
    return {
        "cnai_pool": pool.name,
        "cnai_accelerator": pool.accelerator,
        "cnai_gpus_per_node": pool.gpus_per_node,
        "cnai_sharing": pool.sharing.mode,
        "cnai_node_labels": dict(pool.node_labels),
        "cnai_node_taints": [dict(t) for t in pool.taints],
    }


def _host_vars(pool: GpuPool) -> dict[str, dict[str, str]]:
    hosts = {}
    for host in pool.hosts:
        connection = {"ansible_host": host.address}
        if host.user:
            connection["ansible_user"] = host.user
        hosts[host.name] = connection
    return hosts


def node_inventory(spec: Spec) -> dict[str, Any]:
    """The YAML inventory `cnai nodes inventory ENV` writes (hosts from gpu_pools[].hosts)."""
    operator = spec.components.gpu_operator
    shared = {
        "cnai_environment": spec.name,
        "cnai_gpu_pools": [p.name for p in spec.gpu_pools],
        "cnai_driver": operator.driver,
        "cnai_toolkit": operator.toolkit,
        "cnai_versions": {
            "nvidia_driver_branch": {
                "Debian": binary("nvidia-driver-branch-debian12"),
                "Ubuntu": binary("nvidia-driver-branch"),
            },
            "nvidia_container_toolkit": binary("nvidia-container-toolkit"),
        },
        "cnai_supported_distributions": SUPPORTED_DISTRIBUTIONS,
        # Interpreter discovery guesses wrong on hosts with pyenv shims or several Pythons.
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    children = {
        pool_group(pool): {"hosts": _host_vars(pool), "vars": _pool_vars(pool)} for pool in spec.gpu_pools if pool.hosts
    }
    return {"all": {"vars": shared, "children": children}}
