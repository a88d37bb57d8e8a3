"""Modbus connectors: poll devices, decode registers, produce readings to Kafka.

Also home of the device simulator (``python -m connectors.simulator``) that serves
realistic machines over Modbus TCP for development and tests.
"""
