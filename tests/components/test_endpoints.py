"""The endpoints document of a cluster environment: what the smoke suite reads, from the spec and the
addresses the components declare."""

from __future__ import annotations

import pytest

from modules.components import catalog
from modules.components.endpoints import cluster_endpoints
from modules.spec import validate
from tests import specs
from tests.specs import stand_in_spec


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_endpoints_name_every_pool_with_its_queue(env):
    spec = stand_in_spec(env)
    endpoints = cluster_endpoints(spec)
    assert [p.name for p in endpoints.gpu_pools] == [p.name for p in spec.gpu_pools]
    assert all(p.local_queue for p in endpoints.gpu_pools)
    assert endpoints.kubernetes.local_queues
    assert endpoints.prometheus_url and endpoints.mlflow_url


FIELD_FOR = {
    "object_storage": "object_store",
    "mlflow": "mlflow_url",
    "kserve": "inference",
    "vector_db": "vector_db_uri",
    "observability": "prometheus_url",
}


@pytest.mark.parametrize("env", ["kind", "dev", "prod"])
def test_endpoints_have_every_field_the_smoke_suite_reads(env):
    endpoints = cluster_endpoints(stand_in_spec(env))
    for component, field in FIELD_FOR.items():
        if endpoints.components[component] == "enabled":
            assert getattr(endpoints, field), f"{env}: {component} enabled but endpoints.{field} is empty"
    assert endpoints.otlp_traces_url and endpoints.kubernetes.context
    # Round-trips through JSON as the stack output does.
    assert type(endpoints).model_validate_json(endpoints.model_dump_json()) == endpoints


def test_addresses_are_the_services_the_components_declare():
    endpoints = cluster_endpoints(stand_in_spec("kind"))
    assert endpoints.mlflow_url == "http://mlflow.cnai-mlflow.svc:5000"
    assert endpoints.vector_db_uri == catalog.component("vector_db").url("milvus")
    assert endpoints.object_store and endpoints.object_store.s3_url == "http://seaweedfs-s3.cnai-storage.svc:8333"
    assert endpoints.otlp_traces_url == "http://opentelemetry-collector.cnai-observability.svc:4318/v1/traces"
    assert endpoints.otlp_metrics_url == "http://opentelemetry-collector.cnai-observability.svc:4318/v1/metrics"


def test_traces_endpoint_only_where_the_collector_has_a_traces_pipeline():
    """The collector's traces pipeline exports to MLflow: without MLflow's OTLP ingestion there is none,
    and a job sending spans would be refused."""
    document = specs.kind_document(components={"mlflow": {"otlp_traces": False}})
    endpoints = cluster_endpoints(validate("kind", document))
    assert endpoints.otlp_traces_url is None and endpoints.otlp_metrics_url
