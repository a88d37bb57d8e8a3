"""The ISA-18.2 rule evaluation, pure: what the alarm engine does with readings, time and
operator actions, for every component that must judge readings the engine's way.

It lives beside ``contracts/`` rather than inside it because it is behaviour, not a shape
on a boundary; and outside ``pipeline/`` because the API replays history through it (the
threshold backtest) and the API never imports pipeline internals. Like ``contracts/`` it is
a leaf for the services: it imports ``contracts`` and nothing else of ours.

- :mod:`.state`: one machine's alarms as a JSON-ready record (the pipeline's alarm-state
  table holds it);
- :mod:`.lifecycle`: the ISA-18.2 transitions of one alarm (raise, clear, acknowledge,
  shelve, unshelve);
- :mod:`.delays`: one alarm's condition over time, with its on-, off- and re-alarm delays;
- :mod:`.engine`: readings and the passing of time in, events out;
- :mod:`.actions`: operator actions (acknowledge, shelve, log, clear) and shelves that run out;
- :mod:`.backtest`: a stretch of history replayed through the engine with a chosen rule.
"""
