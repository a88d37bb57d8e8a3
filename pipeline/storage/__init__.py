"""The storage path: from consumed chunks to InfluxDB rows, acked once they are written.

``readings_loop`` and ``rows_loop`` turn chunks into line protocol (``line_protocol``,
``audit_rows``), reusing what the alarms' readings reader decoded (``decoded_cache``);
``batch`` and ``batcher`` gather them, ``delivery`` writes them under the retry policy and
publishes what InfluxDB refused to the dead-letter topic (``dead_letter``).
"""
