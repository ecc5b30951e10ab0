"""Faults at `up`: a clear error naming the component and its log, and nothing left running."""

from __future__ import annotations

import socket

import pytest

from modules.sim.runtime import SimError
from modules.sim.servers import SimPaths, SimPorts
from tests.sim.conftest import BuiltSim, require_binaries

pytestmark = pytest.mark.sim


def test_a_taken_port_names_it_and_starts_nothing(tmp_path):
    require_binaries()
    ports = SimPorts.from_base(27600)
    runtime = BuiltSim(("dev",), SimPaths(tmp_path), ports)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", ports.apiserver))
        holder.listen()
        with pytest.raises(SimError, match=rf"port {ports.apiserver} \(kube-apiserver https\).*Nothing was started"):
            runtime.up()
    assert not runtime.supervisor.is_running()
    assert runtime.leftovers() == []


class BrokenScheduler(BuiltSim):
    def servers(self):
        plan = super().servers()
        for server in plan:
            if server.name == "kube-scheduler":
                server.command.append("--no-such-flag")
        return plan


def test_a_component_that_never_becomes_ready_is_named_and_everything_is_stopped(tmp_path):
    require_binaries()
    runtime = BrokenScheduler(("dev",), SimPaths(tmp_path), SimPorts.from_base(27700))
    runtime.ready_timeout = 20
    with pytest.raises(SimError) as failure:
        runtime.up()
    message = str(failure.value)
    assert "kube-scheduler" in message and str(runtime.paths.log("kube-scheduler")) in message
    assert "everything was stopped" in message
    assert "unknown flag: --no-such-flag" in message  # the log's tail
    assert not runtime.supervisor.is_running()
    assert runtime.leftovers() == []
