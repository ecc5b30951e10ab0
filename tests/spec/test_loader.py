"""Reading stack files and blueprints: every bad file is a SpecInvalid naming it, within bounds of time and memory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from modules.spec import SpecInvalid, load_spec, validate
from modules.spec.loader import MAX_FILE_BYTES, read_blueprint
from modules.spec.yaml_bounded import MAX_ALIASES, MAX_DEPTH, MAX_VALUES, load_bounded
from tests import specs


@pytest.fixture
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNAI_STACKS", str(tmp_path))
    return tmp_path


def problems(env: str) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        load_spec(env)
    assert info.value.errors
    return [str(e) for e in info.value.errors]


def write(stacks: Path, env: str, content: str | bytes) -> Path:
    path = stacks / f"Pulumi.{env}.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def spec_file(document: object) -> str:
    return yaml.safe_dump({"config": {"cnai:spec": document}})


# The "billion laughs": under 500 bytes that expand to 9**9 strings (145 s and 3 GB before the bounds).
LAUGHS = (
    "config:\n  cnai:spec:\n    blueprint: reference\n    a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + ("".join(f"    {b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)))
)


def test_billion_laughs_is_refused_at_once(stacks):
    write(stacks, "laughs", LAUGHS)
    start = time.monotonic()
    [message] = problems("laughs")
    assert time.monotonic() - start < 2
    assert f"more than {MAX_VALUES} values once aliases are expanded" in message


def test_aliases_beyond_the_bound_are_refused():
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(ValueError, match=f"more than {MAX_ALIASES} alias uses"):
        load_bounded(text)
    assert load_bounded("a: &a {x: 1}\nb: *a\nc: {<<: *a, y: 2}\n") == {
        "a": {"x": 1},
        "b": {"x": 1},
        "c": {"x": 1, "y": 2},
    }


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,  # deep flow nesting: the composer would overflow the stack
        "x:\n" + "".join(" " * i + "- \n" for i in range(1, 200)),
        # Shallow text, deep once expanded: each alias nests the previous anchor 40 levels deeper.
        "a: &a " + "[" * 40 + "1" + "]" * 40 + "\nb: &b " + "[" * 40 + "*a" + "]" * 40 + "\n",
    ],
)
def test_deep_nesting_is_refused(text):
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_bounded(text)


@pytest.mark.parametrize("text", ["&a [*a]", "&a {x: *a}", "a: &a {b: [1, *a]}"])
def test_recursive_aliases_are_refused(text):
    with pytest.raises(ValueError, match="alias refers to a node that contains it"):
        load_bounded(text)


def test_a_file_over_the_size_limit_is_refused_unread(stacks):
    write(stacks, "big", b"#" * (MAX_FILE_BYTES + 1))
    assert problems("big") == [f"<root>: file is larger than {MAX_FILE_BYTES} bytes"]


def test_non_utf8_bytes_name_the_file_and_offset(stacks):
    path = write(stacks, "latin", b"config:\n  cnai:spec: {blueprint: caf\xe9}\n")
    with pytest.raises(SpecInvalid) as info:
        load_spec("latin")
    assert info.value.source == str(path)
    assert "not UTF-8: byte 0xe9 at offset 36" in str(info.value.errors[0])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("- a\n- b\n", "<root>: a Pulumi stack file is a mapping with a config: key (got ['a', 'b'])"),
        ("hello\n", "<root>: a Pulumi stack file is a mapping with a config: key (got 'hello')"),
        ("config: 42\n", "config: must be a mapping of Pulumi config keys (got 42)"),
        ("config: [1, 2]\n", "config: must be a mapping of Pulumi config keys (got [1, 2])"),
        ("config:\n  cnai:spec: [1]\n", "config.cnai:spec: must be a mapping (the spec) (got [1])"),
        ("config:\n  cnai:spec: 7\n", "config.cnai:spec: must be a mapping (the spec) (got 7)"),
        ("config:\n  1: x\n", "config.cnai:spec: required mapping is missing (got None)"),
        ("", "config.cnai:spec: required mapping is missing (got None)"),
        ("config:\n  cnai:spec: {blueprint: 42}\n", "blueprint: required: the name of a file in blueprints/ (got 42)"),
    ],
)
def test_stack_files_of_the_wrong_shape(stacks, content, expected):
    write(stacks, "shape", content)
    assert problems("shape") == [expected]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("config:\n  cnai:spec: {blueprint: reference, x: " + "1" * 5000 + "}\n", "a value cannot be read"),
        ("config:\n  cnai:spec: {blueprint: reference, x: 2001-13-45}\n", "month must be in 1..12"),
        ("config:\n  cnai:spec: !!python/object:os.system {}\n", "could not determine a constructor"),
        ("config: {cnai:spec: [unclosed\n", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
        ("a: \x00\n", "not valid YAML"),
    ],
)
def test_yaml_that_cannot_be_built_is_a_spec_error(stacks, content, expected):
    write(stacks, "yaml", content)
    [message] = problems("yaml")
    assert expected in message


@pytest.mark.parametrize(
    "blueprint",
    ["../stacks/platform/Pulumi.prod", "/etc/passwd", "..", "reference/../reference", "Reference", "a" * 300, ""],
)
def test_blueprint_names_never_reach_the_disk(stacks, blueprint):
    # A blueprint name that walks out of blueprints/ must not read (or echo) the file it points to.
    secret = stacks / "Pulumi.secret.yaml"
    secret.write_text("config:\n  cnai:spec: {blueprint: reference, description: TOP-SECRET-CONTENT}\n")
    write(stacks, "walk", spec_file({"blueprint": blueprint}))
    [message] = problems("walk")
    assert "not a valid blueprint name" in message and "TOP-SECRET-CONTENT" not in message
    assert len(message) < 300


def test_read_blueprint_refuses_a_path():
    with pytest.raises(SpecInvalid) as info:
        read_blueprint("../stacks/platform/Pulumi.prod")
    assert info.value.errors[0].path == "blueprint"


@pytest.mark.parametrize("env", ["../prod", "/etc/passwd", "[red]x", "Prod", "a" * 300, "dev\n", "", "-x"])
def test_environment_names_are_checked_before_any_path(env):
    [message] = problems(env)
    assert "not a valid environment name" in message
    assert len(message) < 300


def test_huge_lists_are_checked_in_linear_time():
    document = specs.onprem_document()
    pools = [
        {"name": f"p{i}", "accelerator": "nvidia-l4", "hosts": [{"name": f"h{i}", "address": "10.0.0.1"}]}
        for i in range(10_000)
    ]
    document["gpu_pools"] = pools + pools  # every pool and every host twice
    document["teams"] = [{"name": f"t{i}", "gpu_quotas": [{"pool": f"nope{i}", "gpus": 1}]} for i in range(10_000)]
    start = time.monotonic()
    with pytest.raises(SpecInvalid) as info:
        validate("onprem", document)
    assert time.monotonic() - start < 20
    assert len(info.value.errors) > 40_000
    assert max(len(str(e)) for e in info.value.errors) < 400, "messages stay short however many pools there are"
