"""A check's lease on its source: when several workers check sources, a check fetches and
records only while its worker holds the source's lease (storage/leases.py takes and
renews them), and recording the check gives the lease up. worker None: a single process,
no leases."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import Source, leases, utcnow
from tracker.errors import RedlineError


class LeaseLost(RedlineError):
    """Another worker holds the source now (this worker's lease expired): not recorded."""


# A lease this worker wrote is taken as still its own, without reading the database,
# while at least this long is left of it: no other worker claims a live lease, and this
# much covers the clocks of two machines disagreeing. Closer to its end (after a long
# wait for the host, or a pause: SIGSTOP, a suspended laptop) the database says.
TRUSTED_LEASE_LEFT = timedelta(seconds=60)


def ensure_lease(
    engine: Engine, source_id: int, worker: str | None, written_until: datetime | None = None
) -> None:
    """Raise LeaseLost unless this worker still holds a live lease on the source: a worker
    stopped past its lease (SIGSTOP, a long pause) must not fetch once it resumes.
    written_until: the expiry this worker's claim wrote, if it is known here."""
    if worker is None:
        return
    if written_until is not None and utcnow() < written_until - TRUSTED_LEASE_LEFT:
        return
    with Session(engine) as session:  # a read: no write lock
        holder = leases.live_holder(session, source_id, utcnow())
    if holder != worker:
        now_held = f"worker {holder}" if holder else "nobody (it expired)"
        raise LeaseLost(f"the lease on source {source_id} is now held by {now_held}: not fetched")


def held_source(session: Session, source_id: int, worker: str | None) -> Source:
    """The source, locked, provided this worker still holds its lease."""
    source = leases.locked_source(session, source_id)
    assert source is not None
    check_held(source_id, source.leased_by, worker)
    return source


def check_held(source_id: int, leased_by: str | None, worker: str | None) -> None:
    """Raise LeaseLost unless this worker (if checks run under leases) is `leased_by`."""
    if worker is not None and leased_by != worker:
        holder = f"worker {leased_by}" if leased_by else "nobody (it expired)"
        raise LeaseLost(f"the lease on source {source_id} is now held by {holder}")


def give_up_lease(source: Source, worker: str | None) -> None:
    if worker is not None:
        source.lease_until, source.leased_by = None, None
