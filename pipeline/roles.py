"""What every role of a worker (alarms, windows, storage) is built with."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from kafka_edge.records import Publisher
from pipeline.faust_ext.app import PipelineApp
from pipeline.settings import PipelineSettings


@dataclass(frozen=True, slots=True)
class Worker:
    """The Faust app, the settings, the publisher of every record the worker produces, the
    readings topic's partition count, and the process's one metrics registry."""

    app: PipelineApp
    settings: PipelineSettings
    publisher: Publisher
    partitions: int
    registry: CollectorRegistry
