"""How values are kept (storage/types.py, storage/db.py): the compact forms read back as
what was written, and SQL compares and orders them as the values they stand for."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from storage import Change, Item, Source, Version, transaction


def _item_with_versions(engine: Engine, times: list[datetime]) -> int:
    with transaction(engine) as session:
        source = Source(url="https://offstream.news/index.json")
        session.add(source)
        session.flush()
        assert source.id is not None
        item = Item(source_id=source.id, key="a", first_seen_at=times[0], last_seen_at=times[-1])
        session.add(item)
        session.flush()
        assert item.id is not None
        for n, at in enumerate(times, start=1):
            session.add(
                Version(
                    item_id=item.id,
                    n=n,
                    headline=f"Über die Brücke {n}",
                    content_hash=hashlib.sha256(str(n).encode()).hexdigest(),
                    origin="observed",
                    observed_at=at,
                    last_observed_at=at,
                )
            )
        session.add(
            Change(
                item_id=item.id,
                source_id=source.id,
                kind="edited",
                fields=["headline"],
                diff={"headline": [[0, "Über die Brücke "], [-1, "1"], [1, "2"]]},
                reasons=["headline: number changed: 1 → 2", "lone \ud800 surrogate"],
                occurred_at=times[-1],
                recorded_at=times[-1],
            )
        )
        return item.id


def test_times_hashes_and_json_read_back_as_written_and_compare_in_sql(engine: Engine) -> None:
    base = datetime(2018, 2, 2, 18, 30, 19, 123456, tzinfo=UTC)
    # A microsecond apart, and just under a second later.
    times = [base, base + timedelta(microseconds=1), base + timedelta(seconds=1, microseconds=-1)]
    item_id = _item_with_versions(engine, times)
    version = Version.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        read = connection.execute(
            select(version.c.observed_at, version.c.content_hash)
            .where(version.c.item_id == item_id)
            .order_by(version.c.observed_at.desc())
        ).all()
        later = connection.execute(
            select(version.c.n).where(version.c.observed_at > base).order_by(version.c.n)
        ).scalars()
        assert list(later) == [2, 3]
    assert [at for at, _ in read] == sorted(times, reverse=True)
    assert [digest for _, digest in read] == [
        hashlib.sha256(str(n).encode()).hexdigest() for n in (3, 2, 1)
    ]

    with engine.connect() as connection:
        stored = connection.execute(text("SELECT diff, reasons FROM change")).one()
        change = connection.execute(select(Change.__table__)).one()  # type: ignore[attr-defined]
    diff, reasons = (v if isinstance(v, str) else None for v in stored)
    if diff is not None:  # SQLite hands the stored text back; PostgreSQL's json is parsed
        assert diff == '{"headline":[[0,"Über die Brücke "],[-1,"1"],[1,"2"]]}'
        assert reasons is not None and "\\ud800" in reasons  # escaped, as UTF-8 cannot hold it
    assert change.diff == {"headline": [[0, "Über die Brücke "], [-1, "1"], [1, "2"]]}
    assert change.reasons == ["headline: number changed: 1 → 2", "lone \ud800 surrogate"]
    assert change.variants is None


def test_sqlite_keeps_times_as_integers_and_hashes_as_bytes(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps timestamp and bytea, its own types")
    base = datetime(2018, 2, 2, 18, 30, 19, 123456, tzinfo=UTC)
    _item_with_versions(engine, [base])
    with engine.connect() as connection:
        at, kind, digest = connection.execute(
            text("SELECT observed_at, typeof(observed_at), content_hash FROM version")
        ).one()
    assert kind == "integer" and at == 1517596219123456
    assert digest == hashlib.sha256(b"1").digest()
