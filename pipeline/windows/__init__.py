"""Tumbling and hopping aggregate windows per machine and sensor."""
