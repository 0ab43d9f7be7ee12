"""The client-side statement deadline: a socket whose statement outlives its deadline is shut
down (the blocked read returns), one disarmed in time is left alone."""

from __future__ import annotations

import socket
import time

from twofold.storage.watchdog import Watchdog


def test_a_statement_past_its_deadline_has_its_socket_cut() -> None:
    ours, peer = socket.socketpair()  # the peer never answers: a frozen server
    with ours, peer:
        dog = Watchdog()
        dog.arm(ours.fileno(), 0.05)
        ours.settimeout(5)
        t0 = time.monotonic()
        assert ours.recv(1) == b""  # the blocked read ends at once, as on a closed connection
        assert time.monotonic() - t0 < 2
        assert dog.cut(ours.fileno())


def test_a_statement_done_in_time_is_left_alone() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        dog = Watchdog()
        token = dog.arm(ours.fileno(), 0.05)
        dog.disarm(token)
        time.sleep(0.15)
        peer.sendall(b"x")
        ours.settimeout(1)
        assert ours.recv(1) == b"x"
        assert not dog.cut(ours.fileno())


def test_deadlines_follow_the_injected_clock() -> None:
    now = [100.0]
    ours, peer = socket.socketpair()
    with ours, peer:
        dog = Watchdog(monotonic=lambda: now[0])
        dog.arm(ours.fileno(), 10.0)
        time.sleep(0.1)
        assert not dog.cut(ours.fileno())  # no time has passed on this clock
        now[0] += 11.0
        other, other_peer = socket.socketpair()
        with other, other_peer:
            # An earlier deadline wakes the watchdog, which then reads the moved clock.
            dog.arm(other.fileno(), -20.0)
            deadline = time.monotonic() + 2
            while not dog.cut(ours.fileno()) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert dog.cut(ours.fileno())
