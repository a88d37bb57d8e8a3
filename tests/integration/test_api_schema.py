"""The OpenAPI schema tells the truth: schemathesis drives every operation of the real app
(on the real broker and InfluxDB) with an admin key and without one. No answer is a 5xx, and
every documented answer matches its declared schema.

Bounded: a few generated examples per operation (``MAX_EXAMPLES``), no shrinking, and each
operation stops generating once ``BUDGET_S`` of the module's time is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from apiserver import ServerThread
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.app import create_app
from api.settings import ApiSettings
from contracts.settings import CommonSettings

pytestmark = [
    pytest.mark.integration,
    # The server runs in a thread of this process, and its Kafka client draws on the
    # global `random` while Hypothesis generates a case; Hypothesis takes that for the
    # strategy's doing. The strategies are schemathesis's own.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
    ),
]

MAX_EXAMPLES = 4
BUDGET_S = 240.0


@pytest.fixture(scope="module")
def api_settings(make_settings: Callable[..., CommonSettings], admin_key: str) -> ApiSettings:
    return ApiSettings(
        **make_settings(partitions=1).model_dump(),
        admin_api_key=admin_key,
        kafka_produce_timeout_s=5.0,
        influx_query_timeout_s=10.0,
        rate_limit_read="100000/minute",
        rate_limit_write="100000/minute",
        rate_limit_login="100000/minute",
        rate_limit_login_ip="100000/minute",
        rate_limit_auth_failures="100000/minute",
    )


@pytest.fixture(scope="module")
def deadline() -> float:
    """When the module's budget ends, counted from its first test (not from collection)."""
    return time.monotonic() + BUDGET_S


@pytest.fixture(scope="module")
def server(api_settings: ApiSettings) -> Iterator[ServerThread]:
    with ServerThread(create_app(api_settings)) as running:
        yield running


def _fuzz(server: ServerThread, headers: dict[str, str], deadline: float) -> list[str]:
    """Every operation, ``MAX_EXAMPLES`` cases each; the failures, one line per operation."""
    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1
        if time.monotonic() > deadline:
            failures.append(f"{operation.label}: not run, budget of {BUDGET_S:g}s spent")
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            if case.headers:
                case.headers = {k: v for k, v in case.headers.items() if k.lower() != "x-api-key"}
            case.call_and_validate(
                base_url=server.url, headers=dict(headers), checks=_CHECKS, timeout=30
            )

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            inner = getattr(exc, "exceptions", ())
            details = "; ".join(str(e)[:500] for e in inner) or str(exc)[:700]
            failures.append(f"{operation.label}: {details}")
    assert operations >= 30, f"only {operations} operations in the schema"
    return failures


_CHECKS = [not_a_server_error, response_schema_conformance]


def test_schema_holds_with_an_admin_key(
    server: ServerThread, admin_key: str, deadline: float
) -> None:
    failures = _fuzz(server, {"X-API-Key": admin_key}, deadline)
    assert not failures, "\n\n".join(failures)


def test_schema_holds_without_a_credential(server: ServerThread, deadline: float) -> None:
    failures = _fuzz(server, {}, deadline)
    assert not failures, "\n\n".join(failures)
