"""The process that runs threshold backtests, away from the API's event loop.

A backtest parses and replays up to millions of readings: seconds of CPU that would hold
the GIL against the live fan-out if run in a thread. One worker process takes them in
turn; if it dies (killed, out of memory), the next backtest starts a new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from multiprocessing import get_context
from typing import TypeVar

from api.errors import HistoryUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BacktestPool:
    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        return self._executor

    async def run(self, work: Callable[[], T]) -> T:
        executor = self._started()
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, work)
        except BrokenExecutor as exc:
            logger.warning("backtest process stopped error=%r; starting a new one", exc)
            if self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise HistoryUnavailableError(
                "backtest: its worker process stopped; try again"
            ) from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
