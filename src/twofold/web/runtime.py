"""The web side of the composition root: the app's Runtime and one Context per request."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread
from fastapi import Request

from twofold.bootstrap import Runtime
from twofold.services.context import Context
from twofold.web.routing import REQUEST_DB


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def in_networks(addr: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether `addr` is an IP address inside one of `networks`."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def is_trusted_peer(request: Request) -> bool:
    """Whether the request came straight from one of TWOFOLD_TRUSTED_PROXIES."""
    rt = runtime_of(request)
    peer = request.client.host if request.client else None
    return peer is not None and in_networks(peer, rt.trusted)


def client_address(request: Request, rt: Runtime) -> str | None:
    """The peer address, or the nearest untrusted hop of X-Forwarded-For when the peer is a
    trusted proxy. A header from anyone else is ignored, so it cannot be spoofed."""
    peer = request.client.host if request.client else None
    return forwarded_client(peer, request.headers.get("x-forwarded-for", ""), rt.trusted)


def forwarded_client(
    peer: str | None, forwarded: str, trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> str | None:
    """`client_address` from the peer and the X-Forwarded-For header's value."""
    if peer is None or not trusted or not in_networks(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not in_networks(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def _closer(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    if getattr(state, "closer", None) is None:
        state.closer = anyio.CapacityLimiter(4)  # made in the running loop, as anyio needs
    limiter: anyio.CapacityLimiter = state.closer
    return limiter


async def request_context(request: Request) -> AsyncIterator[Context]:
    """One database session (and so one transaction at a time) per request.

    Async on purpose: making a Session does no I/O, and a sync dependency would cost a
    thread-pool hop on every request. Closing does I/O only when a failed use case left a
    transaction open; that rollback runs on threads of its own (`closer`), never queued
    behind requests, which may all be waiting for the very lock it releases."""
    rt = runtime_of(request)
    db = rt.sessions()
    REQUEST_DB.set(db)
    try:
        yield rt.context(db, client_address(request, rt), request.headers.get("user-agent"))
    finally:
        if db.in_transaction():
            await anyio.to_thread.run_sync(db.close, limiter=_closer(request))
        else:
            db.close()
