"""Thin Pulumi adapters shared by the components: a pinned Helm release, a group of authored objects,
a credential as a Pulumi secret."""

from __future__ import annotations

import os
from functools import reduce
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from modules.components.registry import Component, Release
from modules.k8s.generated import generated
from modules.spec import Spec
from modules.spec.models import Secret
from modules.versions import chart


def helm_release(
    owner: str, component: Component, release: Release, spec: Spec, opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    """One of a component's Helm releases (modules/components/registry.py), in its namespace, with the
    values its declaration derives from the spec. The chart is pinned in modules/versions.yaml (OCI
    charts are addressed by URL) and the release is named for its BOM key: the charts derive Service
    names from the release name, and the addresses cnai writes (endpoints, exporters, MLflow's and
    Milvus's stores) are of those names. Left unset, Pulumi would give the release a random suffix and
    every such address would point nowhere."""
    settings = pulumi.Config("cnai")
    return k8s.helm.v3.Release(
        f"{owner}-{release.resource}",
        k8s.helm.v3.ReleaseArgs(
            name=release.chart,
            **chart_source(release.chart, settings.get("charts")),
            namespace=component.namespace,
            create_namespace=False,  # namespaces come from the security baseline, with their labels
            values=release.values(spec),
            atomic=True,
            cleanup_on_fail=True,
            postrender=settings.get("helm_postrender"),
        ),
        opts=opts,
    )


def chart_source(name: str, charts_folder: str | None) -> dict[str, Any]:
    """Where a pinned chart comes from: its repository in the BOM, or, where the stack's `cnai:charts`
    setting names a folder of unpacked charts (`cnai charts pull`, the sim), that folder's copy."""
    pinned = chart(name)
    if charts_folder:
        return {"chart": str(Path(charts_folder) / pinned["chart"])}
    if pinned["repo"].startswith("oci://"):  # OCI charts are addressed by URL
        return {"chart": f"{pinned['repo']}/{pinned['chart']}", "version": pinned["version"]}
    repository = k8s.helm.v3.RepositoryOptsArgs(repo=pinned["repo"])
    return {"chart": pinned["chart"], "version": pinned["version"], "repository_opts": repository}


def child_of(
    component: pulumi.ComponentResource, opts: pulumi.ResourceOptions | None, *after: pulumi.Resource
) -> pulumi.ResourceOptions:
    """Options of a component's child: parented to it, waiting for what the component was told to wait
    for, and for `after`. Pulumi passes a component's provider down to its children but not its
    `depends_on`: without this a chart inside a component installs before the CRDs it needs."""
    inherited = opts.depends_on if opts is not None and opts.depends_on is not None else []
    waits = list(inherited) if isinstance(inherited, list | tuple) else [inherited]
    return pulumi.ResourceOptions(parent=component, depends_on=[*waits, *after])


def object_group(name: str, objects: list[dict[str, Any]], opts: pulumi.ResourceOptions) -> k8s.yaml.v2.ConfigGroup:
    """The Kubernetes objects a builder returned, applied as one group."""
    return k8s.yaml.v2.ConfigGroup(name, objs=objects, opts=opts)


def secret_value(ref: Secret, spec_path: str, name: str, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """A credential as a Pulumi secret: generated once (kept in state), decrypted from the stack's
    `secure:` config, or read from an environment variable at deploy time."""
    if ref.generate:
        return generated(name, 32, opts)
    if ref.env is not None:
        return pulumi.Output.secret(os.environ[ref.env])
    # Pulumi decrypts `{secure: ...}` in place: at the path there is the plaintext, as a secret output.
    keys = spec_path.split(".")
    document = pulumi.Config("cnai").require_secret_object("spec")
    return document.apply(lambda doc: str(reduce(lambda node, key: node[key], keys, doc)))
