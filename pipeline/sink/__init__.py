"""Storage sinks: InfluxDB writes, one attempt each, classified for the delivery policy."""
