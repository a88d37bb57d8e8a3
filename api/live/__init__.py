"""The ``/live`` WebSocket: control protocol, subscription matching, per-client queues,
the hub that fans Kafka records out, and the Kafka feed itself."""
