"""API fuzzing from the OpenAPI schema: no 5xx, and every response valid against the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings


@pytest.fixture(scope="module")
def api_schema(live_server: str):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(f"{live_server}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_contract(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(timeout=60)
    assert response.status_code < 500, response.text[:500]
    case.validate_response(response)
