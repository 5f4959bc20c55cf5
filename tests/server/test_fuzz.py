"""API fuzzing from the OpenAPI schema: no 5xx, and every response valid against the schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_operation_holds_its_contract(live_server: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    checked: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def contract(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=live_server, timeout=60)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
            # schema-valid but semantically empty questions ("\u200b") are refused by design (422), so
            # "positive data acceptance" is not checked; everything the response promises is
            case.validate_response(response, checks=CHECKS)

        contract()
        checked.append(operation.label)
    assert "POST /v1/ask" in checked and "GET /v1/search" in checked
