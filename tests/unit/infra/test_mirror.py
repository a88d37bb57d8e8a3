"""The MirrorMaker 2 configuration of a plant edge, and plant names as aliases (pure)."""

from __future__ import annotations

import re

import pytest

from contracts.topics import Replication, TopicNames
from infra.edges import plant_slug
from infra.mirror import IDENTITY_POLICY, MirrorLink, down_topics, mm2_properties, up_topics

TOPICS = TopicNames.with_prefix("millstream")
LINK = MirrorLink(
    plant="hall-b",
    edge_bootstrap="127.0.0.1:9101",
    central_bootstrap="127.0.0.1:9201,127.0.0.1:9202,127.0.0.1:9203",
    central_replication=Replication.for_brokers(3),
    rest_port=9301,
)


def _parse(text: str) -> dict[str, str]:
    """``key = value`` lines, with Java's unescaping of a backslash pair."""
    pairs = (line.split(" = ", 1) for line in text.splitlines())
    return {key: value.replace("\\\\", "\\") for key, value in pairs}


def test_topic_names_stay_as_they_are_and_each_way_carries_its_own() -> None:
    props = _parse(mm2_properties(LINK, TOPICS, host="127.0.0.1"))
    assert props["replication.policy.class"] == IDENTITY_POLICY
    assert props["clusters"] == "hall-b, central"
    up, down = props["hall-b->central.topics"], props["central->hall-b.topics"]
    assert {t for t in TOPICS.all() if re.fullmatch(up, t)} == set(up_topics(TOPICS))
    assert {t for t in TOPICS.all() if re.fullmatch(down, t)} == set(down_topics(TOPICS))
    # A dot is a dot: "millstreamXreadings" is not mirrored.
    assert not re.fullmatch(up, "millstreamXreadings")
    assert props["hall-b->central.enabled"] == props["central->hall-b.enabled"] == "true"


def test_each_cluster_keeps_its_own_replication_and_configuration() -> None:
    props = _parse(mm2_properties(LINK, TOPICS, host="127.0.0.1"))
    assert props["central.offset.storage.replication.factor"] == "3"
    assert props["hall-b.offset.storage.replication.factor"] == "1"
    assert props["hall-b->central.replication.factor"] == "3"
    assert props["central->hall-b.replication.factor"] == "1"
    assert props["sync.topic.configs.enabled"] == "false"
    assert props["central.producer.acks"] == "all"
    for cluster in ("hall-b", "central"):
        assert props[f"{cluster}.offset.flush.interval.ms"] == "1000"
        assert props[f"{cluster}.plugin.discovery"] == "service_load"
    assert props["listeners"] == "http://127.0.0.1:9301"


@pytest.mark.parametrize(("plant", "slug"), [("Hall B", "hall-b"), ("Werk 2 / Süd", "werk-2-s-d")])
def test_a_plant_name_becomes_an_alias(plant: str, slug: str) -> None:
    assert plant_slug(plant) == slug


def test_a_plant_name_without_letters_or_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="no usable alias"):
        plant_slug("///")
