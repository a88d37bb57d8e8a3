"""A virtual null-modem cable for serial tests, without hardware or socat.

Imported as ``from ptypair import PtyPair``: pytest puts this directory on ``sys.path``.
Two pseudo-terminals whose master ends are bridged by a thread copying bytes both ways
(what ``socat pty,raw pty,raw`` does); both slave ends are in raw mode, so a program
opening :attr:`PtyPair.a_path` talks to one opening :attr:`PtyPair.b_path`.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from types import TracebackType


class PtyPair:
    """Two bridged pseudo-terminals; use as a context manager."""

    def __init__(self) -> None:
        self._a_master, self._a_slave = os.openpty()
        self._b_master, self._b_slave = os.openpty()
        for fd in (self._a_slave, self._b_slave):
            tty.setraw(fd)
        self.a_path = os.ttyname(self._a_slave)
        self.b_path = os.ttyname(self._b_slave)
        self.relayed_bytes = 0
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._relay, name="pty-relay", daemon=True)

    def __enter__(self) -> PtyPair:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        for fd in (
            self._a_master,
            self._a_slave,
            self._b_master,
            self._b_slave,
            self._stop_r,
            self._stop_w,
        ):
            os.close(fd)

    def _relay(self) -> None:
        peer = {self._a_master: self._b_master, self._b_master: self._a_master}
        while True:
            ready, _, _ = select.select([self._a_master, self._b_master, self._stop_r], [], [], 1)
            if self._stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # no slave open on this side right now (EIO): wait
                    continue
                self.relayed_bytes += len(data)
                view = memoryview(data)
                while view:
                    view = view[os.write(peer[fd], view) :]
