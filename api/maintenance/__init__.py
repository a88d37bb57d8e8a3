"""Maintenance schedules of machines: the compacted maintenance topic, in memory."""
