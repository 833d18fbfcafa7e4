"""`redline status` and the health shown by `redline sources`: storage.stats on both
databases at a fixed moment, tracker.run.status's rendering, and the CLI end to end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from storage import Change, Check, Item, Source, stats, transaction
from tracker.run import status

from .conftest import TWO_ITEM_RSS as RSS
from .conftest import Site

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def busy(engine: Engine) -> Engine:
    fill_busy(engine)
    return engine


def fill_busy(engine: Engine) -> None:
    """Sources in every state `status` tells apart, and checks and changes around the
    hour and day boundaries before NOW."""
    sources = [
        # (name, next_check_at, extra fields)
        ("fresh", NOW + minutes(10), {}),
        ("due", NOW - minutes(2), {"consecutive_failures": 3, "last_error": "HTTP 503"}),
        ("late", NOW - minutes(90), {"consecutive_failures": 1, "last_error": "timeout"}),
        ("never", None, {"created_at": NOW - minutes(60), "consecutive_failures": 7}),
        ("new", None, {"created_at": NOW - minutes(1)}),
        ("disabled", NOW - minutes(180), {"enabled": False, "consecutive_failures": 5}),
        (
            "retired",
            None,
            {
                "created_at": NOW - timedelta(days=2),
                "retired_at": NOW - timedelta(days=1),
                "retired_reason": "gone: the server answered 410 Gone",
                "consecutive_failures": 4,
            },
        ),
        ("leased", NOW - minutes(10), {"leased_by": "w1", "lease_until": NOW + minutes(1.5)}),
        ("stale", NOW + minutes(60), {"leased_by": "w2", "lease_until": NOW - minutes(1)}),
        # Due exactly the grace period ago: due, but not *more* than 5 minutes late.
        ("edge", NOW - GRACE, {}),
    ]
    with transaction(engine) as session:
        for name, next_check, extra in sources:
            fields = {"created_at": NOW - timedelta(days=3), **extra}
            session.add(
                Source(
                    url=f"https://news.example/{name}",
                    name=name,
                    next_check_at=next_check,
                    **fields,
                )
            )
        session.flush()
        item = Item(source_id=1, key="k", first_seen_at=NOW, last_seen_at=NOW)
        session.add(item)
        for ago, outcome, versions in [
            (minutes(10), "changed", 2),
            (minutes(59), "error", 0),
            (minutes(60), "changed", 1),  # exactly an hour ago: the day's, not the hour's
            (minutes(61), "unchanged", 0),
            (timedelta(hours=23), "not_modified", 0),
            (timedelta(hours=25), "changed", 5),  # before the day
            (-minutes(1), "changed", 9),  # after NOW: not in any window ending at NOW
        ]:
            finished = NOW - ago
            session.add(
                Check(
                    source_id=1,
                    started_at=finished - timedelta(seconds=2),
                    finished_at=finished,
                    outcome=outcome,
                    versions_added=versions,
                )
            )
        session.flush()
        for ago, kind in [
            (minutes(5), "edited"),
            (minutes(30), "created"),
            (timedelta(hours=2), "removed"),
            (timedelta(days=2), "edited"),
        ]:
            session.add(
                Change(
                    item_id=item.id,
                    source_id=1,
                    kind=kind,
                    occurred_at=NOW - ago,
                    recorded_at=NOW - ago,
                )
            )


def names(rows: Sequence[Source]) -> list[str | None]:
    return [row.name for row in rows]


def test_stats_at_a_fixed_moment(busy: Engine) -> None:
    with transaction(busy) as session:
        assert stats.source_counts(session, NOW, GRACE) == stats.SourceCounts(
            total=10, enabled=9, retired=1, due=6, overdue=3
        )
        # Longest overdue first; a never-checked source has been due since it was added.
        assert names(stats.overdue_sources(session, NOW, GRACE, 5)) == ["late", "never", "leased"]
        assert names(stats.overdue_sources(session, NOW, GRACE, 2)) == ["late", "never"]
        assert names(stats.leased_sources(session, NOW)) == ["leased"]
        assert stats.expired_lease_count(session, NOW) == 1
        # Disabled and retired sources are not failing, whatever their count says.
        failing = stats.failing_sources(session, 3)
        assert [(s.name, s.consecutive_failures) for s in failing] == [("never", 7), ("due", 3)]
        assert names(stats.failing_sources(session, 1)) == ["never", "due", "late"]
        # What a round would take: due and not under a live lease ("stale" is expired).
        assert stats.due_count(session, NOW, NOW) == 5
        assert stats.due_count(session, None, NOW) == 7

        hour = stats.activity(session, NOW - timedelta(hours=1), NOW)
        assert hour.checks == {"changed": 1, "unchanged": 0, "not_modified": 0, "error": 1}
        assert (hour.checks_total, hour.versions_added) == (2, 2)
        assert hour.changes == {"created": 1, "edited": 1, "removed": 0, "restored": 0}
        day = stats.activity(session, NOW - timedelta(days=1), NOW)
        assert day.checks == {"changed": 2, "unchanged": 1, "not_modified": 1, "error": 1}
        assert (day.checks_total, day.versions_added, day.changes_total) == (5, 3, 3)


def test_status_json_and_text(busy: Engine) -> None:
    report = status.gather(busy, NOW, failing_after=3)
    document = status.as_json(report)
    assert document["now"] == "2026-11-21T09:00:00Z"
    assert document["sources"] == {
        "total": 10,
        "enabled": 9,
        "retired": 1,
        "due": 6,
        "overdue": 3,
        "overdue_after_seconds": 300,
        "most_overdue": [
            {
                "id": 3,
                "url": "https://news.example/late",
                "name": "late",
                "due_since": "2026-11-21T07:30:00Z",
                "late_seconds": 5400,
                "leased_by": None,
            },
            {
                "id": 4,
                "url": "https://news.example/never",
                "name": "never",
                "due_since": "2026-11-21T08:00:00Z",
                "late_seconds": 3600,
                "leased_by": None,
            },
            {
                "id": 8,
                "url": "https://news.example/leased",
                "name": "leased",
                "due_since": "2026-11-21T08:50:00Z",
                "late_seconds": 600,
                "leased_by": "w1",
            },
        ],
    }
    assert document["in_flight"] == [
        {
            "id": 8,
            "url": "https://news.example/leased",
            "name": "leased",
            "worker": "w1",
            "lease_until": "2026-11-21T09:01:30Z",
        }
    ]
    assert document["expired_leases"] == 1
    assert document["failing_after"] == 3
    assert [(f["id"], f["consecutive_failures"], f["last_error"]) for f in document["failing"]] == [
        (4, 7, None),
        (2, 3, "HTTP 503"),
    ]
    assert document["activity"]["last_hour"] == {
        "since": "2026-11-21T08:00:00Z",
        "until": "2026-11-21T09:00:00Z",
        "checks": 2,
        "outcomes": {"changed": 1, "unchanged": 0, "not_modified": 0, "error": 1},
        "versions_added": 2,
        "changes": 2,
        "change_kinds": {"created": 1, "edited": 1, "removed": 0, "restored": 0},
    }
    assert document["activity"]["last_day"]["checks"] == 5

    text = status.render_text(report)
    lines = text.splitlines()
    assert lines[0].startswith("redline status at 2026-11-21 09:00:00 UTC (")
    assert "sources    10 in all: 9 enabled, 1 retired" in lines
    assert "due now    6 (3 overdue by more than 5m), most overdue:" in lines
    assert "           #3     1h 30m late  https://news.example/late" in lines
    assert "           #4         1h late  https://news.example/never" in lines
    assert (
        "           #8        10m late  https://news.example/leased (being checked by w1)" in lines
    )
    assert "in flight  1 check" in lines
    assert (
        "           #8     w1, lease until 09:01:30 UTC (1m 30s left)  https://news.example/leased"
        in lines
    )
    assert "stale      1 expired lease left behind (a worker stopped mid-check?)" in lines
    assert "failing    2 sources with 3 or more errors in a row" in lines
    assert "           #2     3x  https://news.example/due" in lines
    assert "                  HTTP 503" in lines
    # The activity table closes the report, right-aligned under its headings.
    assert lines[-4:] == [
        "",
        "           checks  changed  unchanged  not modified  errors  versions  changes",
        "last hour       2        1          0             0       1         2        2",
        "last day        5        2          1             1       1         3        3",
    ]


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "redline.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_status_cli_after_a_real_round(site: Site, cli, tmp_path: Path) -> None:
    empty = cli("status")
    assert empty.code == 0 and "sources    none yet" in empty.stdout

    good = site.publish("/feed.xml", RSS, "application/rss+xml")
    gone = site.url("/gone.md")
    cli("add", good)
    cli("add", gone)
    cli("check")

    document = cli("status", "--json").json()
    assert document["sources"]["total"] == 2 and document["sources"]["due"] == 0
    assert document["in_flight"] == [] and document["expired_leases"] == 0
    assert document["failing"] == []  # one 404 is not failing yet (failing_after 3)
    hour = document["activity"]["last_hour"]
    assert hour["checks"] == 2 and hour["outcomes"]["changed"] == 1
    assert hour["outcomes"]["error"] == 1 and hour["versions_added"] == 2
    assert hour["change_kinds"]["created"] == 2

    strict = write_config(tmp_path, "[daemon]\nfailing_after = 1\n")
    document = cli("--config", strict, "status", "--json").json()
    assert document["failing_after"] == 1
    [failing] = document["failing"]
    assert failing["url"] == gone and failing["consecutive_failures"] == 1
    assert "HTTP 404" in failing["last_error"]
    text = cli("--config", strict, "status").stdout
    assert "failing    1 source with 1 or more errors in a row" in text
    assert "HTTP 404" in text


def test_sources_says_failing_only_after_failing_after(
    site: Site, cli, engine: Engine, tmp_path: Path
) -> None:
    cli("add", site.url("/gone.md"))
    cli("add", site.url("/also-gone.md"))
    cli("check")

    out = cli("sources").stdout
    assert "FAILING" not in out
    assert "ok, last check failed (1x): HTTP 404" in out
    strict = write_config(tmp_path, "[daemon]\nfailing_after = 1\n")
    assert "FAILING (1x): HTTP 404" in cli("--config", strict, "sources").stdout

    with transaction(engine) as session:
        retired = session.get(Source, 2)
        assert retired is not None
        retired.retired_at, retired.retired_reason = NOW, "not found: 404 on 3 checks in a row"
        session.add(retired)
    lines = cli("sources").stdout.splitlines()
    assert lines[3].endswith(", retired: not found: 404 on 3 checks in a row")
    assert "next" not in lines[3]  # a retired source has no next check
    rows = cli("sources", "--json").json()
    assert rows[1]["retired_at"] == "2026-11-21T09:00:00Z"
    assert rows[0]["retired_reason"] is None
