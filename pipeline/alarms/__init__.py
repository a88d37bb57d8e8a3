"""The alarm engine, modelled on ISA-18.2.

The pure rule evaluation (state, lifecycle, engine) lives in :mod:`alarmrules`, which the
API's threshold backtest imports too; this package is the worker's side of it:

- :mod:`.ruleset`: the thresholds in force (``*`` defaults and per-machine records);
- :mod:`.metrics`: flood and chattering counts in ISA-18.2's terms;
- :mod:`.processor`: the per-worker edge (table, lock, publishing);
- :mod:`.thresholds_feed` and :mod:`.agents`: the Faust wiring (thresholds, actions, timer).
"""
