"""What every route depends on: a read session, the settings, a session on the thread
pool. Routers import this module, and feeds/app.py imports the routers: no circle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from feeds.settings import ServiceSettings

T = TypeVar("T")


def get_session(request: Request) -> Iterator[Session]:
    """A read session per request (writes open their own transaction)."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


async def get_settings(request: Request) -> ServiceSettings:
    """async: FastAPI runs a plain def dependency on the thread pool, a hop for nothing."""
    return request.app.state.settings


async def in_session(request: Request, work: Callable[[Session], T]) -> T:
    """work(session) on AnyIO's thread pool, with a read session opened and closed there.

    The hot read endpoints are async and call this: one hop to the thread pool per
    request, where a sync endpoint with SessionDep makes three (the dependency's enter and
    exit, the endpoint), and a hop costs about as much as answering a 304 does.
    """

    def job() -> T:
        with Session(request.app.state.engine, expire_on_commit=False) as session:
            return work(session)

    return await run_in_threadpool(job)


SessionDep = Depends(get_session)
SettingsDep = Depends(get_settings)
