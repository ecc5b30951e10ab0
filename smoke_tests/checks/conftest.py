"""The smoke suite's fixtures. Everything it needs comes from the endpoints document."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import EndpointConnectionError
from pymilvus.exceptions import MilvusException

from modules.endpoints import Endpoints, ObjectStore
from smoke_tests.result import JobResult, parse_results

ENDPOINTS_ENV = "CNAI_ENDPOINTS"
RESULTS_ENV = "CNAI_RESULTS"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--endpoints", help=f"endpoints document (default: ${ENDPOINTS_ENV})")
    parser.addoption("--results", help=f"file that collects job result lines (default: ${RESULTS_ENV})")


@pytest.fixture(scope="session")
def endpoints(request: pytest.FixtureRequest) -> Endpoints:
    path = request.config.getoption("--endpoints") or os.environ.get(ENDPOINTS_ENV)
    if not path or not Path(path).is_file():
        pytest.exit(f"no endpoints document: pass --endpoints or set {ENDPOINTS_ENV} (got {path!r})", returncode=2)
    return Endpoints.read(Path(path))


def require(endpoints: Endpoints, component: str) -> None:
    """Skip, naming the reason, when a component is not part of this environment."""
    state = endpoints.components.get(component, "disabled")
    if state != "enabled":
        pytest.skip(f"{component} is {state} in environment {endpoints.environment}")


class JobRunner:
    """Runs smoke jobs and keeps their results; a later stage is blocked when an earlier one failed.

    Jobs run in this process through the same `main(argv)` a pod runs (`python -m
    smoke_tests.jobs.<job>`), so torch and mlflow are imported once per suite rather than per job.
    """

    def __init__(self, results_file: Path | None) -> None:
        self.results: dict[str, JobResult] = {}
        self.results_file = results_file

    def run(self, job: str, *args: str, after: tuple[str, ...] = ()) -> JobResult:
        for stage in after:
            earlier = self.results.get(stage)
            if earlier is None or earlier.status == "fail":
                pytest.skip(f"blocked by {stage} ({earlier.status if earlier else 'not run'})")
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            try:
                importlib.import_module(f"smoke_tests.jobs.{job}").main(list(args))
            except SystemExit as exc:  # argparse rejected the arguments
                pytest.fail(f"job {job} refused its arguments {args}: exit {exc.code}")
        parsed = parse_results(output.getvalue())
        if not parsed:
            pytest.fail(f"job {job} printed no result line:\n{output.getvalue()[-3000:]}")
        result = parsed[-1]
        self.results[job] = result
        if self.results_file is not None:
            with self.results_file.open("a") as handle:
                handle.write(result.line() + "\n")
        return result


@pytest.fixture(scope="session")
def jobs(request: pytest.FixtureRequest) -> JobRunner:
    path = request.config.getoption("--results") or os.environ.get(RESULTS_ENV)
    return JobRunner(Path(path) if path else None)


def passed(result: JobResult) -> None:
    """A failed job fails the check with the job's own one-line message: never a traceback."""
    if result.status == "fail":
        pytest.fail(f"{result.name}: {result.message}", pytrace=False)


def store_args(store: ObjectStore, bucket: str | None = None) -> list[str]:
    """The object store flags of a job (smoke_tests/jobs/common.add_s3_arguments), from the endpoints."""
    args = ["--s3-url", store.s3_url, "--s3-region", store.region, *(["--bucket", bucket] if bucket else [])]
    if store.credentials.file:  # else the pod's AWS_* variables, which boto3 reads itself
        args += ["--s3-credentials-file", store.credentials.file]
    return args


def assert_passed(result: JobResult) -> None:
    summary = json.dumps(result.metrics, default=str)[:800]
    assert result.status in ("pass", "warn"), f"{result.name}: {result.message} - {summary}"


@contextlib.contextmanager
def reaching(component: str, url: str | None) -> Iterator[None]:
    """A connection failure becomes one line naming the component, its URL and the error."""
    try:
        yield
    except (httpx.TransportError, EndpointConnectionError, ConnectionError, OSError, MilvusException) as exc:
        pytest.fail(f"{component} unreachable at {url}: {type(exc).__name__}: {exc}", pytrace=False)


def s3_credentials(endpoints: Endpoints) -> tuple[str, str]:
    ref = endpoints.object_store.credentials
    if ref.file:
        data = json.loads(Path(ref.file).read_text())
        return data["access_key"], data["secret_key"]
    return os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]


def s3_client(endpoints: Endpoints, credentials: tuple[str, str] | None = None):
    access, secret = credentials or s3_credentials(endpoints)
    return boto3.client(
        "s3",
        endpoint_url=endpoints.object_store.s3_url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=endpoints.object_store.region,
        config=BotoConfig(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=60),
    )


def publish_model(endpoints: Endpoints, model_uri: str, workdir: Path) -> list[str]:
    """Copy a registered model's MLflow folder to where the platform's smoke InferenceService serves
    from (endpoints.inference.model_store_uri); KServe's storage initializer fetches it from there.
    Returns the object keys written."""
    import mlflow  # only this check needs the MLflow client

    scheme, _, location = (endpoints.inference.model_store_uri or "").partition("://")
    bucket, _, prefix = location.partition("/")
    if scheme not in ("s3", "gs") or not bucket:
        raise ValueError(f"not an s3:// or gs:// model location: {endpoints.inference.model_store_uri!r}")
    mlflow.set_tracking_uri(endpoints.mlflow_url)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(workdir)))
    client = s3_client(endpoints)
    stale = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])
    for obj in stale:  # a file of an older version must not outlive it
        client.delete_object(Bucket=bucket, Key=obj["Key"])
    keys = []
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(local).as_posix()}"
        client.upload_file(str(path), bucket, key)
        keys.append(key)
    return keys
