"""History queries against InfluxDB: validated Flux, run with influxdb-client, parsed fast."""
