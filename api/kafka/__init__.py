"""The API's Kafka edges: one producer, compacted-topic readers, partition discovery."""
