"""The services' edge to Kafka, and the retry policy every service uses.

Besides :mod:`contracts`, the only package every service may import; it imports nothing
of ours but :mod:`contracts`. Each module imports only the client library it wraps, so a
connector (kafka-python) never loads aiokafka or Faust:

- :mod:`kafka_edge.connection`: bootstrap parsing, the connection (TLS/SASL) and producer
  settings, as keyword arguments the client libraries share;
- :mod:`kafka_edge.records`: the one record type and publisher interface;
- :mod:`kafka_edge.partitioner`: murmur2 and the partition of a key;
- :mod:`kafka_edge.sync_clients`: kafka-python clients (connectors, infra);
- :mod:`kafka_edge.aio_clients`: aiokafka clients (API, pipeline);
- :mod:`kafka_edge.faust_broker`: the broker settings of a Faust app;
- :mod:`kafka_edge.retry`: backoff with jitter, a cap and a deadline, in seconds.
"""
