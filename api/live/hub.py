"""The live hub: which client wants which machine, and the fan-out of frames to them.

Publishing never awaits: a frame is put on each interested client's bounded queue and
that client's own sender task writes it to the socket, so one slow client cannot hold
up the feed or the other clients.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable

import orjson

from api.auth.roles import Identity
from api.live.client import LiveClient
from api.live.frames import aggregate_frame, alarm_frame, reading_frame
from api.live.matching import filter_frame
from api.live.overview import Overviews
from api.live.queue import FrameQueue
from contracts.aggregates import WindowAggregate
from contracts.alarms import AlarmEvent
from contracts.readings import Reading

logger = logging.getLogger(__name__)


def _leave(index: dict[str, set[LiveClient]], machine: str, client: LiveClient) -> None:
    """Take ``client`` out of ``index[machine]``; a machine nobody wants leaves the index."""
    clients = index.get(machine)
    if clients is not None:
        clients.discard(client)
        if not clients:
            del index[machine]


class LiveHub:
    def __init__(self, *, queue_frames: int) -> None:
        self.queue_frames = queue_frames
        self._ids = itertools.count(1)
        self._clients: set[LiveClient] = set()
        # Open clients per credential, so the per-credential cap costs O(1) per connect.
        self._per_credential: dict[str, int] = {}
        self._by_machine: dict[str, set[LiveClient]] = {}
        # Clients watching every alarm event of one plant ("" for plant-less events), or of
        # every plant (None).
        self._alarm_watchers: dict[LiveClient, str | None] = {}
        self._aggregates_by_machine: dict[str, set[LiveClient]] = {}
        # Overview subscriptions (a plant, or every machine, at a chosen rate).
        self.overviews = Overviews()
        self.readings_published = 0
        self.alarms_published = 0
        self.clients_overflowed = 0

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def connections_of(self, key_id: str) -> int:
        """Open clients of one credential (API key id or ``user:<name>``)."""
        return self._per_credential.get(key_id, 0)

    def register(self, identity: Identity) -> LiveClient:
        client = LiveClient(
            client_id=next(self._ids), identity=identity, queue=FrameQueue(self.queue_frames)
        )
        self._clients.add(client)
        key_id = identity.key_id
        self._per_credential[key_id] = self._per_credential.get(key_id, 0) + 1
        return client

    def unregister(self, client: LiveClient) -> None:
        self.unsubscribe(client, None)
        self.unwatch_alarms(client)
        self.unsubscribe_aggregates(client, None)
        self.overviews.leave(client)
        if client not in self._clients:
            return
        self._clients.discard(client)
        key_id = client.identity.key_id
        left = self._per_credential.get(key_id, 0) - 1
        if left > 0:
            self._per_credential[key_id] = left
        else:
            self._per_credential.pop(key_id, None)

    def watch_alarms(self, client: LiveClient, plant: str | None) -> None:
        self._alarm_watchers[client] = plant

    def unwatch_alarms(self, client: LiveClient) -> None:
        self._alarm_watchers.pop(client, None)

    def watches(self, client: LiveClient, event: AlarmEvent) -> bool:
        """Whether ``client`` receives ``event`` through an alarm or machine subscription."""
        if client in self._alarm_watchers:
            plant = self._alarm_watchers[client]
            if plant is None or plant == event.plant:
                return True
        return event.machine_id in client.subscriptions

    def subscribe_aggregates(self, client: LiveClient, machine_id: str) -> None:
        client.aggregates.add(machine_id)
        self._aggregates_by_machine.setdefault(machine_id, set()).add(client)

    def unsubscribe_aggregates(self, client: LiveClient, machine_id: str | None) -> None:
        machines = list(client.aggregates) if machine_id is None else [machine_id]
        for machine in machines:
            client.aggregates.discard(machine)
            _leave(self._aggregates_by_machine, machine, client)

    def wants_aggregates(self, machine_id: str) -> bool:
        return machine_id in self._aggregates_by_machine

    def publish_aggregate(self, aggregate: WindowAggregate) -> None:
        watchers = self._aggregates_by_machine.get(aggregate.machine_id)
        if not watchers:
            return
        data = orjson.dumps(aggregate_frame(aggregate))
        for client in list(watchers):
            client.push_reading(data)

    def subscribe(self, client: LiveClient, machine_id: str, sensors: tuple[str, ...]) -> None:
        client.subscriptions[machine_id] = sensors
        self._by_machine.setdefault(machine_id, set()).add(client)

    def unsubscribe(self, client: LiveClient, machine_id: str | None) -> None:
        machines: Iterable[str] = list(client.subscriptions) if machine_id is None else [machine_id]
        for machine in machines:
            client.subscriptions.pop(machine, None)
            _leave(self._by_machine, machine, client)

    def wants(self, machine_id: str) -> bool:
        return machine_id in self._by_machine or self.overviews.active

    def publish_reading(self, reading: Reading) -> None:
        if self.overviews.active:
            self.overviews.note(reading)
        subscribers = self._by_machine.get(reading.machine_id)
        if not subscribers:
            return
        self.readings_published += 1
        frame = reading_frame(reading)
        encoded: dict[tuple[str, ...], bytes | None] = {}
        for client in list(subscribers):
            prefixes = client.subscriptions.get(reading.machine_id, ())
            if prefixes not in encoded:
                cut = filter_frame(frame, reading.values, prefixes)
                encoded[prefixes] = None if cut is None else orjson.dumps(cut)
            data = encoded[prefixes]
            if data is not None:
                client.push_reading(data)

    def publish_alarm(self, event: AlarmEvent, cursor: str | None = None) -> None:
        """To every client subscribed to the machine or watching its plant's alarms, once."""
        targets = set(self._by_machine.get(event.machine_id, ()))
        targets.update(
            c for c, plant in self._alarm_watchers.items() if plant is None or plant == event.plant
        )
        if not targets:
            return
        self.alarms_published += 1
        data = orjson.dumps(alarm_frame(event, cursor))
        for client in targets:
            if not client.push_alarm(data):
                self._drop_overflowed(client)

    def _drop_overflowed(self, client: LiveClient) -> None:
        self.clients_overflowed += 1
        logger.warning(
            "live client cut off client_id=%d key=%s reason=%s",
            client.client_id,
            client.identity.name,
            client.overflow,
        )
        self.unregister(client)
