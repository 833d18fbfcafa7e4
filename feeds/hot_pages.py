"""The newest pages of the feeds read often, kept built in memory and served as bytes.

A feed page built per request costs milliseconds of reads and rendering and a hop to
the thread pool; at 32 connections on one core that made a p99 of over a second. The
newest page of a feed changes only when a change is recorded (or judged again): each
page asked for is kept, with its ETag and Last-Modified, for the generation of the change
log it was built in, and served from memory with no database read while that
generation lasts.

The generation is the highest change id (and alias id). Any process may commit a
change (`redline run` beside `redline serve`, several workers), so it is read again at
most every REFRESH_SECONDS, by whichever request comes first: a new edit is in every
feed that carries it within that time of its commit. Changes only judged again keep
their ids: their pages are rebuilt when they are MAX_AGE_SECONDS old, the max-age the
feeds announce to clients anyway (in the background: the old page answers meanwhile).
Memory is bounded: the least recently read pages go first once MAX_BYTES are held.
Older pages (?before=) never change, and clients may cache them for a day: they are
built on request, not kept here.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from storage import Change, ItemAlias

REFRESH_SECONDS = 0.5
MAX_AGE_SECONDS = 60.0
MAX_BYTES = 64 * 1024 * 1024

# The generation: the highest change id, and the highest alias id (an item's URLs, which
# an item's JSON shows, may grow without a change).
_GENERATION = select(
    select(func.max(Change.id)).scalar_subquery(), select(func.max(ItemAlias.id)).scalar_subquery()
)


Generation = tuple[int, int]  # the highest change id, the highest alias id


@dataclass(frozen=True)
class HotPage:
    """A built page and what its answers say of it."""

    body: bytes
    etag: str
    last_modified: datetime | None
    headers: dict[str, str]  # ETag, Last-Modified, Cache-Control
    generation: Generation
    built_at: float = field(default_factory=time.monotonic)


Builder = Callable[[Generation], Awaitable[HotPage]]  # builds a page in that generation


class HotPages:
    """Built pages by key (a feed's query), each valid for the generation it was built in."""

    def __init__(
        self,
        engine: Engine,
        max_bytes: int = MAX_BYTES,
        refresh: float = REFRESH_SECONDS,
        max_age: float = MAX_AGE_SECONDS,
    ) -> None:
        self.engine, self.max_bytes = engine, max_bytes
        self.refresh, self.max_age = refresh, max_age
        self._pages: OrderedDict[Hashable, HotPage] = OrderedDict()
        self._bytes = 0
        self._generation: Generation = (-1, -1)
        self._read_at = float("-inf")
        # Pages are looked up on the event loop and built on the thread pool.
        self._lock = threading.Lock()
        self._building: dict[Hashable, asyncio.Task[HotPage]] = {}

    def generation(self) -> Generation:
        """The change log's generation, read again if the last reading is REFRESH_SECONDS
        old (one statement: the last entries of two primary keys)."""
        now = time.monotonic()
        if now - self._read_at >= self.refresh:
            with self.engine.connect() as connection:
                newest = connection.execute(_GENERATION).one()
            with self._lock:
                self._generation, self._read_at = (newest[0] or 0, newest[1] or 0), now
        return self._generation

    def get(self, key: Hashable) -> HotPage | None:
        """The page kept for `key`, if it is of the current generation (however old: see
        `stale`)."""
        generation = self.generation()
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if page.generation != generation:
                self._drop(key)
                return None
            self._pages.move_to_end(key)
            return page

    def stale(self, page: HotPage) -> bool:
        """Whether the page is old enough to be built again (a change judged again keeps
        its id: only a page's age tells)."""
        return time.monotonic() - page.built_at > self.max_age

    async def page(self, key: Hashable, build: Builder) -> HotPage:
        """The page kept for `key`, else built by `build(generation)` and kept; requests
        that miss while it is being built wait for that one build. A page kept but old is
        answered while it is built again in the background: its generation is current,
        so nothing new is missing from it."""
        page = self.get(key)
        if page is not None:
            if self.stale(page) and key not in self._building:
                self._start(key, build)
            return page
        pending = self._building.get(key)
        if pending is None:
            pending = self._start(key, build)
        return await asyncio.shield(pending)

    def _start(self, key: Hashable, build: Builder) -> asyncio.Task[HotPage]:
        """Build the page for `key` in a task that keeps it when done; requests for it
        until then wait for this task."""

        async def run() -> HotPage:
            try:
                page = await build(self.generation())
            finally:
                del self._building[key]
            self.put(key, page)
            return page

        task = asyncio.get_running_loop().create_task(run())
        # A build that fails is the waiting requests' error; one in the background that
        # nobody waits for is dropped (the old page stays, and is tried again later).
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._building[key] = task
        return task

    def put(self, key: Hashable, page: HotPage) -> None:
        """Keep a page built in `page.generation` (read before building it: what it shows
        is of that generation or newer, so it is never kept past a change it lacks)."""
        if len(page.body) > self.max_bytes:
            return
        with self._lock:
            if key in self._pages:
                self._drop(key)
            self._pages[key] = page
            self._bytes += len(page.body)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._pages)))

    def __len__(self) -> int:
        return len(self._pages)

    def _drop(self, key: Hashable) -> None:
        self._bytes -= len(self._pages.pop(key).body)
