"""Store and forward: the on-disk spool, the Kafka producer and the forwarder that moves
readings from the one to the other, in order."""
