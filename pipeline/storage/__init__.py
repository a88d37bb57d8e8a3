"""Batching what the loops produce for InfluxDB, writing it in the background, acking after."""
