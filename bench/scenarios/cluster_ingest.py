"""The same readings through a plant edge, MirrorMaker 2 and the 3-broker central cluster,
against the single-broker path of ``make run``.

The run's own broker is the single-broker path. Next to it, this scenario starts the
topology of ``make run-cluster`` without its services (:func:`infra.edges.linked_plants`):
3 central brokers (replication 3, ``min.insync.replicas=2``) and one plant edge (a broker of
its own and its MirrorMaker 2). One producer (the services' settings: ``acks=all``,
idempotent, lz4) sends the same load to each path in turn:

- steady: ``rate`` readings a second of 50 machines for ``steady_s``. A consumer of the
  single broker, and consumers of the edge and of the centre, note when each reading
  becomes readable; the added latency is, per reading, its arrival in the centre minus its
  arrival at the edge;
- burst: ``burst`` readings as fast as the producer goes; throughput is the readings over
  the time from the first send until the last is readable at the far end (the single
  broker, or the centre).

Producer and consumers share this process, so the figures include the Python clients' cost
on both paths alike.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console

from bench import load
from bench.core import Figure, ScenarioContext, latency_figures
from contracts.readings import Reading, decode_reading
from contracts.topics import TopicNames
from infra.edges import linked_plants
from infra.settings import InfraSettings
from kafka_edge.connection import KafkaConnection, ProducerSettings
from kafka_edge.sync_clients import kafka_consumer, kafka_producer

NAME = "cluster_ingest"
TITLE = (
    "Readings through plant edge -> MirrorMaker 2 -> 3-broker centre, against one broker: "
    "added latency and throughput"
)

PLANT = "Bench Hall"
MACHINES = 50
MIRROR_START_S = 180.0
WAIT_S = 120.0
WARM_UP_S = 3.0


class _Arrivals:
    """When each new reading of a topic becomes readable at one cluster, in a thread:
    ``(machine, seq) -> wall-clock ms``."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import TopicPartition

        self.at_ms: dict[tuple[str, int], int] = {}
        self.delays_ms: list[int] = []  # arrival minus the reading's time (its send)
        self._stop = threading.Event()
        self._consumer = kafka_consumer(
            KafkaConnection.plain(bootstrap), fetch_max_wait_ms=20, enable_auto_commit=False
        )
        parts = [TopicPartition(topic, p) for p in self._consumer.partitions_for_topic(topic) or ()]
        self._consumer.assign(parts)
        self._consumer.seek_to_end(*parts)
        for tp in parts:  # resolve the end now, before anything is sent
            self._consumer.position(tp)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=100).values():
                now_ms = int(time.time() * 1000)
                for record in records:
                    reading = decode_reading(record.value)
                    self.at_ms[(reading.machine_id, reading.seq)] = now_ms
                    self.delays_ms.append(now_ms - reading.ts_ms)

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.at_ms) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(self.at_ms)} of {count} readings in {timeout_s:.0f} s")
            time.sleep(0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()


def _send(bootstrap: str, topic: str, tag: str, *, count: int, rate: float | None) -> float:
    """Send ``count`` readings (``rate`` a second, or as fast as the producer goes), each
    with its send time; the seconds from the first send to the last acknowledgement."""
    producer = kafka_producer(
        KafkaConnection.plain(bootstrap), ProducerSettings(linger_ms=5), client_id="bench"
    )
    try:
        start = time.monotonic()
        for i in range(count):
            if rate is not None:
                ahead = i / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            reading = Reading(
                machine_id=f"{tag}-{i % MACHINES:02d}",
                ts_ms=int(time.time() * 1000),
                values={"temperature_c": 60.0},
                seq=i // MACHINES,
            )
            producer.send(topic, key=reading.key(), value=reading.encode())
        producer.flush(timeout=WAIT_S)
        return time.monotonic() - start
    finally:
        producer.close(timeout=10)


def _burst_rate(source: str, far_end: str, topic: str, count: int) -> dict[str, float]:
    """``count`` readings sent as fast as possible into ``source``; readings/s until all
    are readable at ``far_end`` (the same cluster for the single-broker path)."""
    before = load.end_offsets_total(far_end, topic)
    start = time.monotonic()
    sent_s = _send(source, topic, load.run_tag(), count=count, rate=None)
    deadline = time.monotonic() + WAIT_S
    while load.end_offsets_total(far_end, topic) < before + count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the burst did not reach {far_end} within {WAIT_S:.0f} s")
        time.sleep(0.05)
    return {"readings_s": count / (time.monotonic() - start), "sent_readings_s": count / sent_s}


def _steady(
    source: str, watched: list[str], topic: str, *, rate: float, seconds: float
) -> list[_Arrivals]:
    """``rate`` readings a second into ``source`` for ``seconds``, watched arrive at each
    of ``watched`` (bootstrap servers); every one has arrived everywhere on return. A
    warm-up of WARM_UP_S at the same rate goes first, unwatched (the JVMs' first batches)."""
    _watched(source, watched[-1:], topic, rate=rate, seconds=WARM_UP_S)
    return _watched(source, watched, topic, rate=rate, seconds=seconds)


def _watched(
    source: str, watched: list[str], topic: str, *, rate: float, seconds: float
) -> list[_Arrivals]:
    arrivals = [_Arrivals(b, topic) for b in watched]
    try:
        count = max(1, int(rate * seconds))
        _send(source, topic, load.run_tag(), count=count, rate=rate)
        for a in arrivals:
            a.wait_for(count, WAIT_S)
    finally:
        for a in arrivals:
            a.close()
    return arrivals


def _wait_mirroring(edge: str, centre: str, topic: str) -> float:
    """Seconds until a reading sent to the edge is readable in the centre (the mirror's
    start-up)."""
    start = time.monotonic()
    before = load.end_offsets_total(centre, topic)
    _send(edge, topic, "probe", count=1, rate=None)
    while load.end_offsets_total(centre, topic) <= before:
        if time.monotonic() - start > MIRROR_START_S:
            raise RuntimeError(f"MirrorMaker 2 carried nothing within {MIRROR_START_S:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - start


def _p(values_ms: list[int], q: float) -> float:
    return load.percentile([float(v) for v in values_ms], q)


def run(ctx: ScenarioContext) -> list[Figure]:
    rate, steady_s, burst = (400.0, 8.0, 20_000) if ctx.quick else (1000.0, 30.0, 100_000)
    single = ctx.fresh_settings()
    single_bootstrap, single_topic = single.kafka_bootstrap_servers, single.topics.readings
    settings = InfraSettings(
        run_dir=ctx.work_dir / "cluster",
        kafka_brokers=3,
        topic_prefix="bench-cluster",
        stream_partitions=ctx.stream_partitions,
    )
    topic = TopicNames.with_prefix(settings.topic_prefix).readings
    ctx.progress("starting 3 central brokers, a plant edge and its MirrorMaker 2")
    t0 = time.monotonic()
    with linked_plants(settings, [PLANT], console=Console(stderr=True, quiet=True)) as (
        central,
        [edge],
    ):
        started_s = time.monotonic() - t0
        ctx.progress("waiting for MirrorMaker 2 to carry a first reading")
        mirror_s = _wait_mirroring(edge.bootstrap, central.kafka_bootstrap, topic)
        # Both paths are measured while the cluster's JVMs run, so both share the host alike.
        ctx.progress(f"single broker: {rate:.0f} readings/s for {steady_s:.0f} s, then {burst}")
        [alone] = _steady(
            single_bootstrap, [single_bootstrap], single_topic, rate=rate, seconds=steady_s
        )
        single_rate = _burst_rate(single_bootstrap, single_bootstrap, single_topic, burst)
        ctx.progress(f"edge -> centre: {rate:.0f} readings/s for {steady_s:.0f} s, then {burst}")
        at_edge, at_centre = _steady(
            edge.bootstrap,
            [edge.bootstrap, central.kafka_bootstrap],
            topic,
            rate=rate,
            seconds=steady_s,
        )
        edge_rate = _burst_rate(edge.bootstrap, central.kafka_bootstrap, topic, burst)
    added = [at_centre.at_ms[k] - t for k, t in at_edge.at_ms.items()]
    load_note = (
        f"{rate:.0f} readings/s of {MACHINES} machines for {steady_s:.0f} s on each path, "
        f"after {WARM_UP_S:.0f} s unmeasured, then a burst of {burst}; send -> readable at "
        f"the edge p50 {_p(at_edge.delays_ms, 50):.0f} ms, p99 {_p(at_edge.delays_ms, 99):.0f} "
        f"ms; the central brokers, edge and mirror started in {started_s:.0f} s and the "
        f"mirror carried its first reading {mirror_s:.0f} s later"
    )
    run_extra: dict[str, Any] = {
        "single": single_rate,
        "edge_to_centre": edge_rate,
        "started_s": started_s,
        "mirror_first_s": mirror_s,
    }
    return [
        *[
            Figure(
                NAME,
                f"added latency edge -> centre {stat}",
                _p(added, float(stat[1:])),
                "ms",
                higher_is_better=False,
                note=(
                    "per reading: readable in the centre minus readable at the edge "
                    "(MirrorMaker 2 and the centre's acks=all). " + load_note
                    if stat == "p50"
                    else ""
                ),
            )
            for stat in ("p50", "p99")
        ],
        *latency_figures(
            NAME,
            [float(v) for v in at_centre.delays_ms],
            [float(v) for v in alone.delays_ms],
            baseline="send -> readable, single broker",
            label="send -> readable in the centre, through the edge",
        ),
        Figure(
            NAME,
            "readings/s through edge -> MirrorMaker 2 -> centre (burst)",
            edge_rate["readings_s"],
            "readings/s",
            baseline_name="readings/s into the single broker (burst)",
            baseline_value=single_rate["readings_s"],
            note=f"{burst} readings sent as fast as one producer goes, until all are "
            "readable at the far end",
            extra=run_extra,
        ),
    ]
