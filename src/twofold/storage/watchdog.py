"""A client-side deadline for statements sent to PostgreSQL.

A server-side `statement_timeout` is enforced by the server, so a frozen server (SIGSTOPped,
a stalled VM, a dead link whose kernel still ACKs) never sends it; TCP keepalives do not fire
either while the peer's kernel answers. The only way out is on our side: when a statement
outlives its deadline, shut the connection's socket down. The blocked driver call returns at
once with a connection error, the pool discards that connection, and the request answers
503. The transaction on the server is rolled back when it next runs.

One thread serves every deadline of the process; arming and disarming is a dict update, so
a statement's cost does not grow with it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger("twofold.db")


class Watchdog:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, int]] = {}  # token -> (deadline, socket fd)
        self._heap: list[tuple[float, int]] = []
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None
        self.fired: set[int] = set()  # fds cut since they were armed last

    def arm(self, fd: int, timeout: float) -> int:
        deadline = self._now() + timeout
        with self._cond:
            token = next(self._tokens)
            self._armed[token] = (deadline, fd)
            self.fired.discard(fd)
            first = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
            elif first:
                self._cond.notify()
        return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._armed.pop(token, None)

    def cut(self, fd: int) -> bool:
        """Whether the deadline cut this socket (since it was last armed)."""
        with self._cond:
            return fd in self.fired

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # disarmed in time
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, token = self._heap[0]
                wait = deadline - self._now()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                _, fd = self._armed.pop(token)
                # Still armed, so the statement is still running and the fd is still its
                # connection's: the disarm that would end that takes this same lock.
                self.fired.add(fd)
                _shutdown(fd)


def _shutdown(fd: int) -> None:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
        log.error("database statement passed its deadline: connection cut")
    except OSError:
        pass
    finally:
        sock.detach()  # the driver owns the fd: never close it here
