"""One module per scenario; :mod:`bench.__main__` finds them all (see :mod:`bench.core`)."""
