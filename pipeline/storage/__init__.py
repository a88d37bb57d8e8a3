"""The storage path: from consumed chunks to InfluxDB rows, acked once they are written.

``readings_loop`` and ``rows_loop`` turn chunks into line protocol (``decoding``,
``line_protocol``, ``audit_rows``), reusing what the alarms' readings reader decoded
(``decoded_cache``); ``batcher`` gathers them, ``delivery`` writes them under the retry
policy and publishes what InfluxDB refused to the dead-letter topic (``dead_letter``).
``wiring`` builds the path for the worker.
"""
