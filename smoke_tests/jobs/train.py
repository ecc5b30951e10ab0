"""train: a small MLP trained for a few hundred steps must converge; logged to MLflow and registered."""

from __future__ import annotations

import argparse
import sys
import time

import mlflow
import mlflow.pytorch
import numpy as np
import torch
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from torch import nn

from smoke_tests.jobs.common import device_info, parser, run_job
from smoke_tests.result import JobResult

FEATURES = 8
CONVERGED_FRACTION = 0.05  # final loss must be under 5% of the initial loss
LOSS_EVERY = 10  # steps between the loss points logged and reported


def model_signature() -> ModelSignature:
    """Stated, not inferred: `infer_signature` silently degrades to no schema when an optional package
    (scipy) is missing, and pyfunc then reshapes a (rows, features) batch into one column."""
    float32 = np.dtype(np.float32)
    return ModelSignature(
        inputs=Schema([TensorSpec(float32, (-1, FEATURES))]), outputs=Schema([TensorSpec(float32, (-1, 1))])
    )


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))


def dataset(samples: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, FEATURES, generator=generator)
    w = torch.randn(FEATURES, 1, generator=generator)
    return x, torch.sin(x @ w) + 0.5 * x[:, :1]


def fit(model: nn.Module, device: torch.device, steps: int) -> list[float]:
    x, y = (t.to(device) for t in dataset())
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train(device: torch.device, args: argparse.Namespace) -> JobResult:
    torch.manual_seed(0)
    mlflow.set_tracking_uri(args.mlflow_url)
    mlflow.set_experiment(args.experiment)
    model = make_model()
    with mlflow.start_run() as run:
        mlflow.log_params({"steps": args.steps, "optimizer": "adam", "lr": 1e-2, "device": device.type})
        began = time.perf_counter()
        losses = fit(model, device, args.steps)
        train_s = time.perf_counter() - began
        for step in range(0, len(losses), LOSS_EVERY):
            mlflow.log_metric("loss", losses[step], step=step)
        mlflow.log_metric("final_loss", losses[-1])
        model.cpu().eval()
        info = mlflow.pytorch.log_model(
            model,
            name="model",
            signature=model_signature(),
            # nn.Sequential pickles portably; pt2 (torch.export) would fix the batch size traced.
            serialization_format="pickle",
            registered_model_name=args.model_name,
            # Stated, not inferred: inference scans imports and takes seconds.
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
    converged = losses[-1] < CONVERGED_FRACTION * losses[0]
    version = info.registered_model_version
    return JobResult(
        "train",
        "pass" if converged else "fail",
        device_info(device),
        metrics={
            "initial_loss": round(losses[0], 5),
            "final_loss": round(losses[-1], 5),
            "steps": args.steps,
            "run_id": run.info.run_id,
            "model_uri": f"models:/{args.model_name}/{version}",
            "model_version": version,
            "loss_curve": [round(loss, 6) for loss in losses[::LOSS_EVERY]],
            "loss_every": LOSS_EVERY,
        },
        expected={"final_loss_below": round(CONVERGED_FRACTION * losses[0], 5)},
        timings={"train_s": round(train_s, 3)},
        message="converged" if converged else "loss did not fall below the bound",
    )


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--mlflow-url", required=True)
    p.add_argument("--experiment", default="cnai-smoke")
    p.add_argument("--model-name", default="cnai-smoke-mlp")
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args(argv)
    return run_job("train", lambda d: train(d, args))


if __name__ == "__main__":
    sys.exit(main())
