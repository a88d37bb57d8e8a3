"""The alarm engine, modelled on ISA-18.2.

- :mod:`.ruleset`: the thresholds in force (``*`` defaults and per-machine records);
- :mod:`.state`: one machine's alarms as a JSON-ready record for the alarm-state table;
- :mod:`.lifecycle`: the ISA-18.2 transitions of one alarm (raise, clear, acknowledge,
  shelve, unshelve), pure;
- :mod:`.engine`: readings, the passing of time and operator actions in, events out, pure;
- :mod:`.metrics`: flood and chattering counts in ISA-18.2's terms;
- :mod:`.processor`: the per-worker edge (table, lock, publishing);
- :mod:`.thresholds_feed` and :mod:`.agents`: the Faust wiring (thresholds, actions, timer).
"""
