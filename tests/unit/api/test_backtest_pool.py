"""The backtest process: runs work away from the event loop and survives its death."""

import functools
import math
import os

import pytest

from api.errors import HistoryUnavailableError
from api.thresholds.pool import BacktestPool


async def test_runs_work_in_a_process_and_starts_a_new_one_after_a_crash():
    pool = BacktestPool()
    try:
        assert await pool.run(functools.partial(math.factorial, 10)) == 3628800
        assert await pool.run(os.getpid) != os.getpid()
        with pytest.raises(HistoryUnavailableError, match="backtest: its worker process stopped"):
            await pool.run(functools.partial(os._exit, 3))
        assert await pool.run(functools.partial(math.factorial, 5)) == 120
    finally:
        pool.close()
