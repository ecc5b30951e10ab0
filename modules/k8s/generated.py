"""Credentials cnai generates: made once by the Pulumi engine, kept encrypted in the stack's state.

A dynamic provider (it runs in the program's own Python, `pulumi-resource-pulumi-python`) instead of
the `random` provider plugin: the Go module proxy does not serve pulumi-random, so the sim could not
run the real engine with it (modules/versions.yaml `sim:`), and the generation is a few lines of the
standard library's `secrets`.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

# Letters and digits only: the values go into S3 identity documents, INI files and URLs unquoted.
ALPHABET = string.ascii_letters + string.digits


class _GeneratedSecretProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        value = "".join(secrets.choice(ALPHABET) for _ in range(int(props["length"])))
        return CreateResult(id_=secrets.token_hex(8), outs={"length": props["length"], "result": value})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Kept for the life of the stack; only asking for another length makes a new one.
        changed = int(olds.get("length", 0)) != int(news["length"])
        return DiffResult(changes=changed, replaces=["length"] if changed else [], delete_before_replace=False)


class GeneratedSecret(Resource):
    """A random letters-and-digits credential of `length` characters, a secret output."""

    result: pulumi.Output[str]

    def __init__(self, name: str, length: int, opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["result"])
        props = {"length": length, "result": None}
        super().__init__(_GeneratedSecretProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))


def generated(name: str, length: int, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    return GeneratedSecret(name, length, opts).result
