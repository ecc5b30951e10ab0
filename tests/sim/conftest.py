"""Fixtures of the sim tests: one real control plane per session, in a temporary home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules import gobuild as build
from modules.sim.runtime import SimRuntime
from modules.sim.servers import SimPaths, SimPorts
from modules.spec import Spec
from tests import specs


def require_binaries(*names: str) -> None:
    """Skip unless the sim binaries are built; building them is CI's job (`python -m modules.sim setup`),
    not a test's: a cold build takes many minutes."""
    absent = [
        a.filename for a in build.ARTIFACTS if (not names or a.name in names) and not build.path_of(a.name).is_file()
    ]
    if absent:
        message = f"sim binaries not built in {build.bin_dir()}: {', '.join(absent)}; run `python -m modules.sim setup`"
        if os.environ.get("CNAI_REQUIRE_SIM") == "1":  # CI builds them: missing ones are a failure there
            pytest.fail(message)
        pytest.skip(message)


def built(env: str) -> Spec:
    """The built environment `env` (tests/specs.py) that the sim tests emulate under that name."""
    return specs.spec(specs.stand_in(env))


class BuiltSim(SimRuntime):
    """The sim emulating built environments by name (dev, prod: tests/specs.py), not the shipped files."""

    @property
    def specs(self) -> list[Spec]:
        return [built(env) for env in self.emulates]


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimRuntime]:
    """A running sim emulating dev's and prod's node groups, torn down (and checked) at the end."""
    require_binaries()
    home = (
        Path(os.environ["CNAI_SIM_TEST_HOME"]) if "CNAI_SIM_TEST_HOME" in os.environ else tmp_path_factory.mktemp("sim")
    )
    runtime = BuiltSim(
        ("dev", "prod"), SimPaths(home), SimPorts.from_base(int(os.environ.get("CNAI_SIM_TEST_PORT_BASE", "27400")))
    )
    runtime.up()
    try:
        yield runtime
    finally:
        runtime.down()
        assert runtime.leftovers() == [], "processes left behind by down"
