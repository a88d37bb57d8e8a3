"""The stream processor: readings from Kafka to InfluxDB, alarms back to Kafka.

Run with ``python -m pipeline worker``; build the app with
:func:`pipeline.app.create_app`.
"""
