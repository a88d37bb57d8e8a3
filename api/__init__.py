"""Millstream's API: REST, API-key auth and roles, history queries, and the ``/live``
WebSocket fan-out from Kafka. Built by :func:`api.app.create_app`, run by ``python -m api``."""
