"""Two pseudo-terminals joined like a null-modem cable, for serial Modbus without hardware.

What ``socat pty,raw pty,raw`` does, in a thread: the bytes written to one end's slave come
out of the other end's slave. Both slaves stay open here, so that a client closing and
reopening its end (a reconnect) does not make the masters fail with EIO.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from types import TracebackType


class PtyPair:
    def __init__(self) -> None:
        self._m1, self._s1 = os.openpty()
        self._m2, self._s2 = os.openpty()
        for fd in (self._s1, self._s2):
            tty.setraw(fd)
        #: The two ends, e.g. /dev/pts/7 and /dev/pts/8.
        self.a = os.ttyname(self._s1)
        self.b = os.ttyname(self._s2)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._relay, name="pty-relay", daemon=True)

    def __enter__(self) -> PtyPair:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._m1, self._s1, self._m2, self._s2, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _relay(self) -> None:
        other = {self._m1: self._m2, self._m2: self._m1}
        while True:
            ready, _, _ = select.select([self._m1, self._m2, self._wake_r], [], [], 1.0)
            if self._wake_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if data:
                    os.write(other[fd], data)
