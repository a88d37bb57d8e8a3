"""Alarm thresholds: the compacted thresholds topic, read and written by the API."""
