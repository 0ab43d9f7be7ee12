"""A second load generator, for checking wrk's latency tail: keep-alive HTTP/1.1 on raw asyncio
streams (uvloop), one request in flight per connection, as bench/lua/load.lua sends them.

wrk's p99 of the code check swung between about 30 and 200 ms from run to run while the
server's own access log put every check under 20 ms and finished requests without a pause;
this client, on the same server and database moments apart, saw p99 28-37 ms
(bench/README.md, eighth session). `python -m bench.hot --second-client` runs it beside wrk.

Modes: `verify` (lines token<TAB>code, each used once: a connection stops when they run out)
and `me` (lines token, cycled). The latency of a request runs from its write to the last
byte of its answer.
"""

from __future__ import annotations

import asyncio
import time
from itertools import cycle

import uvloop

from bench.run import Sample


def _verify(line: str) -> bytes:
    token, code = line.split("\t")
    body = b'{"method":"mfa","code":"' + code.encode() + b'"}'
    return (
        b"POST /api/v1/verify HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def _me(line: str) -> bytes:
    return (
        b"GET /api/v1/me HTTP/1.1\r\nHost: bench\r\n"
        b"Authorization: Bearer " + line.encode() + b"\r\n\r\n"
    )


async def _connection(
    host: str, port: int, requests: object, deadline: float, expect: int,
    latencies: list[float], counts: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in requests:  # type: ignore[attr-defined]
            if time.perf_counter() >= deadline:
                break
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for header in head.split(b"\r\n")[1:]:
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            counts[0 if int(head[9:12]) == expect else 1] += 1
    finally:
        writer.close()


async def _load(
    url: str, mode: str, lines: list[str], connections: int, duration: float, expect: int
) -> Sample:
    host, _, port = url.split("//", 1)[1].partition(":")
    made = [(_verify if mode == "verify" else _me)(line) for line in lines]
    # verify: every line once, shared by the connections; me: each connection cycles.
    shared = iter(made)

    def requests(i: int) -> object:
        return shared if mode == "verify" else cycle(made[i::connections] or made)

    latencies: list[float] = []
    counts = [0, 0]
    started = time.perf_counter()
    await asyncio.gather(*[
        _connection(
            host, int(port.rstrip("/")), requests(i), started + duration, expect, latencies,
            counts,
        )
        for i in range(connections)
    ])  # fmt: skip
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    if not ordered:
        return Sample(0, 0, elapsed, 0.0, 0.0)
    return Sample(
        counts[0], counts[1], elapsed,
        ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.99)] * 1000,
    )  # fmt: skip


def load(
    url: str, mode: str, lines: list[str], *, connections: int, duration: float,
    expect: int = 200,
) -> Sample:
    """Run `connections` keep-alive connections for `duration` seconds (see the module's
    docstring); the Sample's p50 and p99 are over every request answered."""
    if mode not in ("verify", "me"):
        raise ValueError(f"mode {mode!r}: verify or me")
    return uvloop.run(_load(url, mode, lines, connections, duration, expect))
