"""`make lint`'s check that every Kafka client is built in kafka_edge/
(.ci/check_kafka_clients.py): building, subclassing or handing on a client class elsewhere
fails it, however the class was imported; a benchmark's marked bare baseline passes."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "check_kafka_clients.py"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("check_kafka_clients", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.violations


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("from kafka import KafkaConsumer\nc = KafkaConsumer('t')\n", "KafkaConsumer built"),
        (
            "from aiokafka import AIOKafkaProducer as P\n\nasync def f():\n    return P()\n",
            "AIOKafkaProducer built",
        ),
        ("import aiokafka as ak\nc = ak.AIOKafkaConsumer()\n", "AIOKafkaConsumer built"),
        ("from aiokafka import admin\na = admin.AIOKafkaAdminClient()\n", "AIOKafkaAdminClient"),
        ("import kafka.admin\na = kafka.admin.KafkaAdminClient()\n", "KafkaAdminClient built"),
        (
            "import functools\nfrom kafka import KafkaProducer\n"
            "f = functools.partial(KafkaProducer, acks=1)\n",
            "KafkaProducer passed as a factory",
        ),
        (
            "from kafka import KafkaProducer\nsink = Sink(producer_factory=KafkaProducer)\n",
            "KafkaProducer passed as a factory",
        ),
        ("from kafka import KafkaConsumer\nclass Mine(KafkaConsumer): ...\n", "subclassed"),
    ],
)
def test_a_client_made_outside_the_edge_is_named_with_its_line(check, source, what):
    [problem] = check(source, "tests/integration/helper.py")
    assert problem.startswith(f"tests/integration/helper.py:{source.count(chr(10))}: ")
    assert what in problem
    assert "kafka_edge.sync_clients or kafka_edge.aio_clients" in problem


BASELINE = (
    "from aiokafka import AIOKafkaConsumer\n"
    "# bare baseline: aiokafka as it comes\n"
    "c = AIOKafkaConsumer('t')\n"
    "p = AIOKafkaConsumer('t')  # bare baseline\n"
)


def test_a_marked_bare_baseline_passes_in_the_benchmarks_only(check):
    assert check(BASELINE, "bench/scenarios/x.py") == []
    assert len(check(BASELINE, "api/x.py")) == 2


def test_a_mark_two_lines_up_does_not_count(check):
    source = "from kafka import KafkaProducer\n# bare baseline\n\np = KafkaProducer()\n"
    assert len(check(source, "bench/x.py")) == 1


def test_annotations_and_other_libraries_classes_pass(check):
    source = (
        "from aiokafka import AIOKafkaConsumer, TopicPartition\n"
        "from faust.transport.drivers.aiokafka import Consumer as AIOKafkaProducer\n"
        "from kafka_edge.aio_clients import aio_consumer\n"
        "def f(c: AIOKafkaConsumer) -> AIOKafkaConsumer:\n"
        "    tp = TopicPartition('t', 0)\n"
        "    return aio_consumer(None)\n"
        "class Chunks(AIOKafkaProducer):\n"
        "    pass\n"
    )
    assert check(source, "pipeline/x.py") == []
