"""Session fixtures: a real Kafka broker and a real InfluxDB server for the whole test run.

They come from the same ``infra`` code as ``python -m infra up``, under a temporary run
directory on free loopback ports, and are stopped when the session ends. Under pytest-xdist
(``make test`` runs two workers) each worker has a pair of its own, and a module runs whole
on one worker, so module fixtures start once; the longest modules are handed out first.
"""

from __future__ import annotations

import gc
import os
import secrets
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    NotCoordinatorError,
)
from pydantic import SecretStr
from rich.console import Console

from contracts.settings import CommonSettings
from infra.bootstrap import create_millstream_topics
from infra.servers import Connection, LocalServers
from infra.settings import InfraSettings
from kafka_edge.connection import KafkaConnection
from kafka_edge.retry import RetryPolicy, retry_blocking
from kafka_edge.sync_clients import kafka_admin

# Fewer partitions than production keep consumer start-up quick in tests.
TEST_PARTITIONS = 3

# Hypothesis' default deadline (200 ms an example) is a timing check, and a loaded machine
# fails it; speed is measured in bench/, never in a test.
hypothesis_settings.register_profile("millstream", deadline=None)
hypothesis_settings.load_profile("millstream")

# How `make test` spreads the suite over its two pytest-xdist workers (`--dist loadfile`):
# a module runs whole on one worker, so its module fixtures start once. Modules named
# together in SHARING_A_WORKER run one after another on the same worker: each of these starts
# servers of its own (a whole `make run` stack, a cluster, or a broker or InfluxDB it kills),
# and more than two such at once on two cores would starve each other. The two groups, about
# as long as each other, run side by side, one on each worker. LONGEST_FIRST are handed out
# before everything else, longest first (a group counts as one), so that no worker is still
# running a long module after the other has run out of work; every other module follows in
# the usual order, the unit tests last. The figures are seconds, run alone on a busy
# machine; the rest take 2 to 20 each.
SHARING_A_WORKER = {
    "tests/e2e/test_e2e_journey.py": "own-stack",  # 180
    "tests/e2e/test_bench_quick.py": "own-stack",  # 90
    "tests/e2e/test_e2e_interrupt.py": "own-stack",  # 30
    "tests/e2e/test_console.py": "own-stack",  # 200
    # 420-480 at a load average of 30-55 (the tests there before the plant edge: 270-300):
    # 3 brokers, InfluxDB, Redis, a plant edge (broker, MirrorMaker 2, machines, connector)
    "tests/integration/test_cluster.py": "own-servers",
    # `make run-cluster` itself: 9 JVMs, InfluxDB, Redis, 12 services; after the cluster
    # module on its worker, never beside it (two clusters at once starve both on two cores)
    "tests/integration/test_cluster_run.py": "own-servers",  # 155-175 at a load average of 20-42
    "tests/faults/test_faults_broker.py": "own-servers",  # 120: a broker it kills
    "tests/faults/test_faults_influx.py": "own-servers",  # 70: an InfluxDB it stops
    "tests/integration/test_influx_plants.py": "own-servers",  # 65: a second InfluxDB, stopped
}
LONGEST_FIRST = (
    "tests/e2e/test_e2e_journey.py",
    "tests/e2e/test_console.py",
    "tests/e2e/test_bench_quick.py",
    "tests/e2e/test_e2e_interrupt.py",
    "tests/integration/test_cluster_run.py",
    "tests/integration/test_cluster.py",
    "tests/faults/test_faults_broker.py",
    "tests/faults/test_faults_influx.py",
    "tests/integration/test_influx_plants.py",
    "tests/integration/test_api_schema.py",  # 175
    "tests/integration/test_cli_import_query.py",  # 150
    "tests/integration/test_api_backfill.py",  # 135
    "tests/integration/test_pipeline_worker.py",  # 125
    "tests/integration/test_pipeline_alarms.py",  # 105
    "tests/integration/test_api_live_fuzz.py",  # 100
    "tests/faults/test_faults_device.py",  # 75
    "tests/integration/test_api_auth.py",  # 70
    "tests/integration/test_infra_cli.py",  # 55
    "tests/integration/test_api_roles.py",  # 50
    "tests/faults/test_faults_worker.py",  # 50
    "tests/integration/test_api_alarms_pipeline.py",  # 30
    "tests/faults/test_faults_api.py",  # 30
    "tests/integration/test_api_backtest.py",  # 30
    "tests/integration/test_cli_auth.py",  # 30
    "tests/integration/test_bench_disk_cost.py",  # 30
    "tests/integration/test_api_tls.py",  # 25
    "tests/integration/test_connectors_processes.py",  # 25
    "tests/integration/test_cli_tail.py",  # 20
    "tests/integration/test_requirements_lock.py",  # 20
    "tests/faults/test_faults_spool_disk.py",  # 15
)


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _rank(nodeid: str) -> int:
    module = _module(nodeid)
    if module in LONGEST_FIRST:
        return LONGEST_FIRST.index(module)
    return len(LONGEST_FIRST) + (1 if module.startswith("tests/unit/") else 0)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--without-servers",
        action="store_true",
        help="fail any test that needs Kafka or InfluxDB (`make test-quick`)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: every worker sorts the same way
        items.sort(key=lambda item: _rank(item.nodeid))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with the groups of SHARING_A_WORKER."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = _module(nodeid)
            return SHARING_A_WORKER.get(module, module)

    return ModuleScheduling(config, log)


# Seconds each module took (its tests' set-up, call and tear-down) and the worker that ran
# it, summed in the controller and printed after the run: the per-worker totals show which
# worker the run waited for, and its longest modules are where to look.
_MODULE_SECONDS: dict[str, float] = {}
_MODULE_WORKER: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = _module(report.nodeid)
    _MODULE_SECONDS[module] = _MODULE_SECONDS.get(module, 0.0) + report.duration
    worker = getattr(report, "node", None)
    if worker is not None:
        _MODULE_WORKER[module] = str(worker.workerinput["workerid"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _MODULE_SECONDS:
        return
    per_worker: dict[str, float] = {}
    for module, seconds in _MODULE_SECONDS.items():
        worker = _MODULE_WORKER.get(module, "main")
        per_worker[worker] = per_worker.get(worker, 0.0) + seconds
    terminalreporter.section("seconds per worker and longest modules")
    for worker, seconds in sorted(per_worker.items()):
        terminalreporter.write_line(f"{worker}: {seconds:.0f} s")
    longest = sorted(_MODULE_SECONDS.items(), key=lambda kv: -kv[1])[:15]
    for module, seconds in longest:
        worker = _MODULE_WORKER.get(module, "main")
        terminalreporter.write_line(f"{seconds:7.1f} s  {worker}  {module}")


@pytest.fixture(autouse=True, scope="module")
def _reclaim_abandoned_sockets(request: pytest.FixtureRequest) -> Iterator[None]:
    """Collect, at the end of each module, the sockets kafka-python abandons to the garbage
    collector when a broker went away (a fault test stops or kills one). Left alone, they are
    reclaimed during some later module on the same xdist worker, whose test then fails on a
    ResourceWarning it did not cause. Unit tests open no sockets: a full collection after
    each of them, on a worker whose heap the integration modules have grown, costs seconds."""
    yield
    if _module(request.node.nodeid).startswith("tests/unit/"):
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unclosed <socket", category=ResourceWarning)
        gc.collect()


@dataclass(frozen=True, slots=True)
class InfluxInfo:
    url: str
    token: str
    org: str
    bucket: str
    aggregates_bucket: str
    alarms_bucket: str
    audit_bucket: str


@pytest.fixture(scope="session")
def local_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServers]:
    if request.config.getoption("without_servers"):
        pytest.fail("this test needs Kafka and InfluxDB: it belongs under tests/integration")
    run_dir = tmp_path_factory.mktemp("stack")
    settings = InfraSettings(
        run_dir=run_dir,
        kafka_port=0,
        influx_port=0,
        topic_prefix="millstream-session",
        stream_partitions=TEST_PARTITIONS,
    )
    servers = LocalServers(settings, console=Console(stderr=True, soft_wrap=True))
    try:
        connection = servers.up()
        _wait_group_coordinator(connection.kafka_bootstrap)
        yield servers
    finally:
        servers.down()


def _wait_group_coordinator(bootstrap: str, *, timeout_s: float = 60.0) -> None:
    """Have the broker create and load its offsets topic (the first group look-up does), so
    that no test, whichever runs first, waits for it or sees a coordinator error."""
    admin = kafka_admin(KafkaConnection.plain(bootstrap))
    try:
        retry_blocking(
            lambda: admin.list_group_offsets("millstream-session-warm-up"),
            policy=RetryPolicy.fixed(0.2, deadline_s=timeout_s),
            what="the session broker's group coordinator",
            retry_on=(
                CoordinatorNotAvailableError,
                NotCoordinatorError,
                CoordinatorLoadInProgressError,
            ),
        )
    finally:
        admin.close()


@pytest.fixture(scope="session")
def stack_connection(local_servers: LocalServers) -> Connection:
    return local_servers.connection()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_connection: Connection) -> str:
    return stack_connection.kafka_bootstrap


@pytest.fixture(scope="session")
def influx(stack_connection: Connection) -> InfluxInfo:
    c = stack_connection
    return InfluxInfo(
        url=c.influx_url,
        token=c.influx_token,
        org=c.influx_org,
        bucket=c.influx_bucket,
        aggregates_bucket=c.influx_aggregates_bucket,
        alarms_bucket=c.influx_alarms_bucket,
        audit_bucket=c.influx_audit_bucket,
    )


@pytest.fixture(scope="session")
def make_settings(stack_connection: Connection) -> Callable[..., CommonSettings]:
    """Settings for the session's servers with a topic prefix of their own, topics created."""

    def make(*, partitions: int = TEST_PARTITIONS) -> CommonSettings:
        prefix = f"t{uuid.uuid4().hex[:10]}"
        c = stack_connection
        create_millstream_topics(c.kafka_bootstrap, prefix=prefix, stream_partitions=partitions)
        return CommonSettings(
            kafka_bootstrap_servers=c.kafka_bootstrap,
            topic_prefix=prefix,
            influx_url=c.influx_url,
            influx_token=SecretStr(c.influx_token),
            influx_org=c.influx_org,
            influx_bucket=c.influx_bucket,
            influx_aggregates_bucket=c.influx_aggregates_bucket,
            influx_alarms_bucket=c.influx_alarms_bucket,
            influx_audit_bucket=c.influx_audit_bucket,
        )

    return make


@pytest.fixture
def common_settings(make_settings: Callable[..., CommonSettings]) -> CommonSettings:
    """Settings for one test: the session's servers and topics of its own."""
    return make_settings()


@pytest.fixture(scope="module")
def admin_key() -> str:
    """An admin API key in the guide's format, one per test module."""
    return "sk_prod_" + secrets.token_hex(12)


@pytest.fixture
def service_env(common_settings: CommonSettings) -> dict[str, str]:
    """The environment for a Millstream subprocess using ``common_settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    s = common_settings
    env.update(
        MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS=s.kafka_bootstrap_servers,
        MILLSTREAM_TOPIC_PREFIX=s.topic_prefix,
        MILLSTREAM_INFLUX_URL=s.influx_url,
        MILLSTREAM_INFLUX_TOKEN=s.influx_token.get_secret_value(),
        MILLSTREAM_INFLUX_ORG=s.influx_org,
        MILLSTREAM_INFLUX_BUCKET=s.influx_bucket,
        MILLSTREAM_INFLUX_AGGREGATES_BUCKET=s.influx_aggregates_bucket,
        MILLSTREAM_INFLUX_ALARMS_BUCKET=s.influx_alarms_bucket,
        MILLSTREAM_INFLUX_AUDIT_BUCKET=s.influx_audit_bucket,
        PYTHONUNBUFFERED="1",
    )
    return env
