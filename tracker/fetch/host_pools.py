"""One connection pool per host: what the clients shared by threads send their requests
through (a round's checks: tracker/fetch/client.py; the notification senders:
tracker/notify/targets.py).

httpcore's pool (1.0.9) does its bookkeeping for every request under one lock, walking
all its connections and polling each idle socket; with a hundred connections kept for
the hosts of a round and ten checks at once, a py-spy profile of a 2,000-page round of
304s had its worker threads waiting on that lock most of the time, and the pool, full,
closed one host's idle connection to open another's (about 260 connections for 2,000
requests to 20 hosts). A pool closing an idle connection to make room can also close
one it has just handed to a waiting request, which then hangs until its read timeout
(encode/httpcore#1110). A pool per host (scheme, host and port) walks only that host's
few connections, never closes one host's connection for another's, and is sized for
the checks a host may have at once.

A host's pool is closed and dropped once no request is in flight on it and it has been
idle for longer than its connections live (keepalive_expiry): a daemon checking
thousands of hosts keeps open only the connections it may use again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx

from tracker.fetch import addresses, netguard

HostKey = tuple[bytes, bytes, int | None]
SWEEP_SECONDS = 1.0  # how often idle pools are looked for, at most


class _Pool:
    """A host's transport, with its requests in flight and when it was last used."""

    def __init__(self, transport: httpx.BaseTransport, now: float) -> None:
        self.transport = transport
        self.in_flight = 0
        self.used_at = now


class HostPools(httpx.BaseTransport):
    """Sends each request through its host's own transport, made by `make` when first
    needed; closes transports idle for longer than `idle_seconds` (by `clock`)."""

    def __init__(
        self,
        make: Callable[[], httpx.BaseTransport],
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make = make
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._pools: dict[HostKey, _Pool] = {}
        self._lock = threading.Lock()
        self._swept_at = clock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        with self._lock:
            now = self._clock()
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _Pool(self._make(), now)
            pool.in_flight += 1
            pool.used_at = now
            idle = self._sweep(now)
        for transport in idle:
            transport.close()
        try:
            response = pool.transport.handle_request(request)
        except BaseException:
            self._release(pool)
            raise
        response.stream = _Released(response.stream, lambda: self._release(pool))
        return response

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.transport.close()

    def hosts(self) -> int:
        """How many hosts have a pool now."""
        return len(self._pools)

    def _release(self, pool: _Pool) -> None:
        with self._lock:
            pool.in_flight -= 1
            pool.used_at = self._clock()

    def _sweep(self, now: float) -> list[httpx.BaseTransport]:
        """Under the lock: take out the pools idle too long (every SWEEP_SECONDS at most)."""
        if now - self._swept_at < SWEEP_SECONDS:
            return []
        self._swept_at = now
        idle = [
            key
            for key, pool in self._pools.items()
            if pool.in_flight == 0 and now - pool.used_at > self._idle_seconds
        ]
        return [self._pools.pop(key).transport for key in idle]


class _Released(httpx.SyncByteStream):
    """A response's body that says when it is closed (read to the end or given up)."""

    def __init__(self, stream: httpx.SyncByteStream, released: Callable[[], None]) -> None:
        self._stream = stream
        self._released: Callable[[], None] | None = released

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            released, self._released = self._released, None
            if released is not None:  # once, however often it is closed
                released()


def guarded_host_pools(policy: addresses.AddressPolicy, per_host: int) -> HostPools:
    """A pool per host, each through netguard (only the addresses `policy` allows), of
    at most `per_host` connections, kept open for httpx's keep-alive expiry."""
    limits = httpx.Limits(max_connections=per_host, max_keepalive_connections=per_host)
    return HostPools(
        lambda: netguard.guarded_transport(policy, limits),
        idle_seconds=limits.keepalive_expiry or 5.0,
    )
