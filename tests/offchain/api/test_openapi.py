"""Property tests of every endpoint from the API's own OpenAPI schema (schemathesis): generated
valid and invalid inputs never cause a server error and responses match the declared schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_everyEndpoint_conforms_to_its_schema(case, indexed_app):
    app, _ = indexed_app
    if case.path == "/api/stream":
        return  # an endless event stream; covered by the dashboard test
    if case.path == "/api/health":
        # This app does not follow the chain (its indexer is off): health answers its
        # documented 503, whose body is still checked against the schema.
        case.call_and_validate(app=app, excluded_checks=[not_a_server_error])
        return
    case.call_and_validate(app=app)
