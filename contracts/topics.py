"""Kafka topic names and specs. Names derive from a settable prefix."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How a topic is created: partitions and whether it is compacted."""

    name: str
    partitions: int
    compacted: bool = False
    retention_ms: int | None = None


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The name of every Millstream topic, all sharing one prefix."""

    readings: str
    aggregates: str
    alarms: str
    alarm_state: str
    alarm_actions: str
    machines: str
    thresholds: str
    commands: str
    command_results: str
    dead_letter: str
    audit: str
    api_keys: str
    users: str
    maintenance: str

    @classmethod
    def with_prefix(cls, prefix: str = "millstream") -> TopicNames:
        return cls(
            readings=f"{prefix}.readings",
            aggregates=f"{prefix}.aggregates",
            alarms=f"{prefix}.alarms",
            alarm_state=f"{prefix}.alarm-state",
            alarm_actions=f"{prefix}.alarm-actions",
            machines=f"{prefix}.machines",
            thresholds=f"{prefix}.thresholds",
            commands=f"{prefix}.commands",
            command_results=f"{prefix}.command-results",
            dead_letter=f"{prefix}.dead-letter",
            audit=f"{prefix}.audit",
            api_keys=f"{prefix}.api-keys",
            users=f"{prefix}.users",
            maintenance=f"{prefix}.maintenance",
        )

    def all(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self)]


# Partition counts for the streaming topics; configuration topics are compacted.
_STREAM_PARTITIONS = 6
_COMPACTED = {"alarm_state", "machines", "thresholds", "api_keys", "users", "maintenance"}
# Small registries every API replica reads whole: one partition keeps them in order.
_SINGLE_PARTITION = {"api_keys", "users", "maintenance"}


def topic_specs(
    names: TopicNames, *, stream_partitions: int = _STREAM_PARTITIONS
) -> list[TopicSpec]:
    """Every topic Millstream needs, as the bootstrap creates it."""
    specs = []
    for f in fields(names):
        compacted = f.name in _COMPACTED
        specs.append(
            TopicSpec(
                name=getattr(names, f.name),
                partitions=1 if f.name in _SINGLE_PARTITION else stream_partitions,
                compacted=compacted,
            )
        )
    return specs
