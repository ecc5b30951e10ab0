"""Kueue's ClusterQueues declare only what the preemption mode they run under reads."""

from __future__ import annotations

import pytest

from modules.components.kueue import PRIORITIES, cluster_queue
from modules.spec import validate


@pytest.mark.parametrize("fair_sharing", [True, False])
def test_borrow_within_cohort_only_under_classical_preemption(prod_doc, fair_sharing):
    """Kueue ignores preemption.borrowWithinCohort under fair sharing (proven in
    tests/sim/test_kueue_behaviour.py): declaring it there would promise a protection that is not given."""
    prod_doc["components"].setdefault("kueue", {})["fair_sharing"] = fair_sharing
    spec = validate("prod", prod_doc)
    queue = cluster_queue(spec, spec.teams[0])["spec"]
    assert ("fairSharing" in queue) is fair_sharing
    if fair_sharing:
        assert "borrowWithinCohort" not in queue["preemption"]
    else:
        assert queue["preemption"]["borrowWithinCohort"] == {
            "policy": "LowerPriority",
            "maxPriorityThreshold": PRIORITIES["dev"],
        }
