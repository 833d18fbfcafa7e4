"""Importing an archive: each snapshot recorded as a check of one source at its own time.

Snapshots already recorded for the source are skipped, known by their content and time
(or, for imports made before that, by their path): running an import again, through any
path, glob or manifest, adds nothing, and an interrupted import, run again, resumes
where it stopped.
Each snapshot is its own transaction. The last-seen times of a listing's unchanged items
are written late, in batches (tracker/record/listing_memory.py), and at the end.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from storage import Check, Source, transaction
from tracker.errors import UserError
from tracker.fetch.archives import ArchivedSnapshot
from tracker.fetch.client import Snapshot, decode_text
from tracker.normalise import redact_url
from tracker.record.listing_memory import ListingMemory
from tracker.run.check import CheckResult, record_snapshot

log = logging.getLogger(__name__)

# Types by file name, where mimetypes does not know them.
_TYPES = {".md": "text/markdown", ".csv": "text/csv", ".json": "application/json"}


@dataclass
class ImportSummary:
    snapshots: int = 0  # in the archive (within the window)
    recorded: int = 0  # recorded now
    already: int = 0  # recorded by an earlier run
    errors: int = 0  # recorded as errors (a snapshot redline could not read)
    versions: int = 0
    changes: int = 0
    first: datetime | None = None
    last: datetime | None = None
    seconds: float = 0.0
    error_messages: list[str] = field(default_factory=list)


def import_snapshots(
    engine: Engine,
    source_id: int,
    snapshots: Iterable[ArchivedSnapshot],
    on_snapshot: Callable[[ArchivedSnapshot, CheckResult | None], None] | None = None,
) -> ImportSummary:
    """Record every snapshot not yet recorded for the source; on_snapshot(snapshot, result)
    after each (result None: recorded by an earlier run)."""
    started = time.monotonic()
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        if source is None:
            raise UserError(f"no source {source_id}")
        base_url = redact_url(source.url)  # items' URLs never carry its credentials
        done = set(
            session.exec(
                select(Check.snapshot).where(
                    Check.source_id == source_id, col(Check.snapshot).is_not(None)
                )
            ).all()
        )
    summary = ImportSummary()
    memory = ListingMemory()  # a listing's records from one snapshot to the next
    try:
        _record_each(engine, source_id, snapshots, base_url, done, memory, summary, on_snapshot)
    except BaseException:
        # Stopped (Ctrl-C, the database failing): the times of the snapshots recorded are
        # still written if they can be, without hiding why the import stopped.
        try:
            _write_kept_times(engine, memory)
        except Exception:
            log.exception("the last-seen times of the import's last snapshots were not written")
        raise
    _write_kept_times(engine, memory)
    summary.seconds = time.monotonic() - started
    return summary


def _write_kept_times(engine: Engine, memory: ListingMemory) -> None:
    """Write the last-seen times the memory still keeps (tracker/record/listing_memory.py)."""
    if memory.unwritten:
        with transaction(engine) as session:
            memory.write_seen(session, None)
        memory.committed()


def _record_each(
    engine: Engine,
    source_id: int,
    snapshots: Iterable[ArchivedSnapshot],
    base_url: str,
    done: set[str | None],
    memory: ListingMemory,
    summary: ImportSummary,
    on_snapshot: Callable[[ArchivedSnapshot, CheckResult | None], None] | None,
) -> None:
    for snapshot in snapshots:
        summary.snapshots += 1
        summary.first = summary.first or snapshot.taken_at
        summary.last = snapshot.taken_at
        result: CheckResult | None = None
        if snapshot.content_ref in done or snapshot.ref in done:
            summary.already += 1
        else:
            page = as_fetched(snapshot, base_url)
            result = record_snapshot(
                engine, source_id, page, snapshot.taken_at, snapshot.content_ref, memory
            )
            done.add(snapshot.content_ref)  # a manifest may list one file twice
            summary.recorded += 1
            summary.versions += result.stats.versions_added
            summary.changes += result.stats.changes_added
            if result.outcome == "error":
                summary.errors += 1
                summary.error_messages.append(f"{snapshot.ref}: {result.error}")
        if on_snapshot:
            on_snapshot(snapshot, result)


def as_fetched(snapshot: ArchivedSnapshot, base_url: str) -> Snapshot:
    """The snapshot as if fetched from its page's URL (the manifest's, else the source's)."""
    url = urljoin(base_url, snapshot.url) if snapshot.url else base_url
    suffix = "." + snapshot.path.rsplit(".", 1)[-1].lower() if "." in snapshot.path else ""
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(snapshot.path)[0]
    # Archives hold bytes: decoded as fetched pages are (BOM, UTF-8, declared charset).
    text, encoding = decode_text(snapshot.body)
    return Snapshot(
        requested_url=url,
        final_url=url,
        status=200,
        not_modified=False,
        body=snapshot.body,
        text=text,
        content_type=content_type,
        etag=None,
        last_modified=None,
        encoding=encoding,
    )
