"""The ddp job's verdict from what its ranks recorded: a kill, a resume from the last checkpoint, a
falling loss. (The job itself runs for real in the local smoke suite: 2 gloo ranks under torchrun.)"""

from __future__ import annotations

import subprocess

from smoke_tests.jobs.ddp import _verdict

OK = subprocess.CompletedProcess([], 0, "", "")


def _events(resumed_at: int = 30, final_loss: float = 0.05) -> list[dict]:
    return [
        {"kind": "start", "rank": 0, "step": 0, "restart": 0, "t": 0.0},
        {"kind": "start", "rank": 1, "step": 0, "restart": 0, "t": 0.0},
        {"kind": "first", "loss": 2.1, "t": 0.1},
        {"kind": "killed", "rank": 1, "step": 35, "t": 1.0},
        {"kind": "start", "rank": 0, "step": resumed_at, "restart": 1, "t": 7.5},
        {"kind": "start", "rank": 1, "step": resumed_at, "restart": 1, "t": 7.5},
        {"kind": "end", "step": 60, "loss": final_loss, "t": 9.0},
    ]


def test_a_resume_from_the_last_checkpoint_passes_with_its_figures():
    result = _verdict({}, OK, _events(), steps=60, every=10, kill_at=35)
    assert result.status == "pass"
    assert {k: result.metrics[k] for k in ("ranks", "restarts", "resumed_from_step", "resume_s")} == {
        "ranks": 2,
        "restarts": 1,
        "resumed_from_step": 30,
        "resume_s": 6.5,
    }


def test_a_resume_from_anywhere_else_fails():
    result = _verdict({}, OK, _events(resumed_at=0), steps=60, every=10, kill_at=35)
    assert result.status == "fail" and "last checkpoint was step 30" in result.message


def test_a_loss_that_did_not_fall_fails():
    assert _verdict({}, OK, _events(final_loss=3.0), steps=60, every=10, kill_at=35).status == "fail"


def test_a_launcher_that_gave_up_fails_with_its_reason():
    failed = subprocess.CompletedProcess([], 1, "", "ChildFailedError: rank 0 exitcode 1")
    result = _verdict({}, failed, _events()[:4], steps=60, every=10, kill_at=35)
    assert result.status == "fail" and "ChildFailedError" in result.message
