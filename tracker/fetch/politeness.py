"""Politeness towards each host: few requests at once, and a pause between them.

The daemon reserves a host's slot when it claims a source (so it never claims more
checks for a host than the host may have in flight) and releases it when the check
ends; spacing() holds a fetch back until the host's minimum delay has passed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlsplit


@lru_cache(maxsize=4096)
def host_of(url: str) -> str:
    # Cached: a round asks it of each source's URL five times (its plan, its host's slot
    # taken and given back, the spacing before its fetch); urlsplit is 40 µs a time.
    return (urlsplit(url).hostname or "").lower()


class HostGate:
    def __init__(
        self,
        per_host: int,
        delay: timedelta,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_host, self.delay = per_host, delay.total_seconds()
        self._clock = clock
        self._changed = threading.Condition()
        self._in_flight: Counter[str] = Counter()
        self._next_start: dict[str, float] = {}

    def reserve(self, url: str) -> bool:
        """Take one of the host's slots if one is free; False if the host is busy."""
        host = host_of(url)
        with self._changed:
            if self._in_flight[host] >= self.per_host:
                return False
            self._in_flight[host] += 1
            return True

    def release(self, url: str) -> None:
        host = host_of(url)
        with self._changed:
            self._in_flight[host] -= 1
            if self._in_flight[host] <= 0:
                del self._in_flight[host]
            self._changed.notify_all()

    def in_flight(self, url: str) -> int:
        with self._changed:
            return self._in_flight[host_of(url)]

    @contextmanager
    def spacing(self, url: str) -> Iterator[None]:
        """Wait until the host's last request started at least `delay` ago, then go."""
        host = host_of(url)
        with self._changed:
            while True:
                wait = self._next_start.get(host, 0.0) - self._clock()
                if wait <= 0:
                    break
                self._changed.wait(timeout=wait)  # the delay itself: a timed wait is the point
            self._next_start[host] = self._clock() + self.delay
        yield
