"""Provisioning and running the local Millstream stack: a real Kafka broker and InfluxDB server,
their bootstrap (topics, buckets, token) and the one-command demo."""
