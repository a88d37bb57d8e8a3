"""The fault suite's report and the soak run.

The fault scenarios themselves are tests (``tests/faults/``): ``make test`` runs them with
short outages, ``make faults`` (``python -m bench.faults``) runs them with the full ones and
renders ``docs/reliability.md`` from the rows they record. ``make soak``
(``python -m bench.faults.soak``) runs the steady-load soak and renders its section.
"""
