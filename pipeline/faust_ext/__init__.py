"""Everything that reaches into Faust's internals, in one place and behind one guard.

- :mod:`~pipeline.faust_ext.chunks`: a consumer that overrides Faust's private
  ``_drain_messages`` and uses about nine of its private attributes;
- :mod:`~pipeline.faust_ext.app`: an app that overrides Faust's private ``_new_consumer``
  to build that consumer;
- :mod:`~pipeline.faust_ext.tables`: tables that override ``send_changelog`` and use the
  private ``_on_changelog_sent``.

These are tied to the faust-streaming versions they were tested with;
:func:`~pipeline.faust_ext.version.check_faust_version` refuses any other at start-up.
"""
