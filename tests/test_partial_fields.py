"""A listing's absence is not a deletion: a field a listing shows for some items only.

The front pages here are shaped like the git-scraped BBC sample (columns title, href, tag,
summary; the summary filled in the lead slot only, a tag missing on some rows), written
for these tests.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Change, Source, queries, transaction
from tracker.extract.base import Observation
from tracker.record.ingest import record_observations
from tracker.run.sources import add_source

from .test_identity_classes import SITE, at, replay, rss

Row = tuple[str, str, str, str]  # title, href, tag, summary

PUTIN = "/news/world-europe-60000001"
TREES = "/future/article/20220220-trees"
PAY = "/news/business-60000003"
VIDEO = "/news/av/world-60000004"


def front_page(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["title", "href", "tag", "summary"])
    writer.writerows(rows)
    return out.getvalue()


def changes(engine: Engine) -> list[tuple[str, list[str], str | None, str | None]]:
    """(kind, fields, old summary, new summary) of every edit, in order."""
    with transaction(engine) as session:
        found = []
        for change in session.exec(select(Change).where(Change.kind == "edited")).all():
            versions = {v.n: v for v in queries.versions_of(session, change.item_id)}
            old, new = versions[change.from_n or 0], versions[change.to_n or 0]
            found.append((versions[1].headline or "", change.fields, old.summary, new.summary))
        return found


def summaries(engine: Engine) -> dict[str, list[str | None]]:
    """Each item's first headline → its versions' summaries."""
    with transaction(engine) as session:
        return {
            (versions := queries.versions_of(session, item.id or 0))[0].headline or "": [
                v.summary for v in versions
            ]
            for item in queries.all_items(session)
        }


def test_a_summary_shown_in_some_slots_only_is_no_edit(engine: Engine) -> None:
    """The lead story shows a summary, the others none; a video row has no tag. A story that
    moves out of the lead slot keeps its summary; one that moves in fills its summary in;
    one that comes back to the lead with another summary is edited from the last one."""
    putin_1 = "Russia's president makes the announcement on TV."
    putin_2 = "Russia's president makes the declaration on TV."
    trees = "Survivors of the fires are heroes, say foresters."
    states: list[tuple[datetime, list[Row]]] = [
        (at(2, 8), [
            ("Putin orders troops into rebel regions", PUTIN, "Europe", putin_1),
            ("The trees that survived the fires", TREES, "Future", ""),
            ("Pay rises lag behind prices", PAY, "Business", ""),
            ("Watch: the moment the bridge fell", VIDEO, "", ""),
        ]),
        (at(2, 9), [
            ("The trees that survived the fires", TREES, "Future", trees),
            ("Putin orders troops into rebel regions", PUTIN, "Europe", ""),
            ("Pay rises lag behind prices", PAY, "", ""),  # its tag hidden here
            ("Watch: the moment the bridge fell", VIDEO, "", ""),
        ]),
        (at(2, 10), [
            ("Putin orders troops into rebel regions", PUTIN, "Europe", putin_2),
            ("The trees that survived the fires", TREES, "Future", ""),
            ("Pay rises lag behind prices", PAY, "Business", ""),
            ("Watch: the moment the bridge fell", VIDEO, "", ""),
        ]),
    ]  # fmt: skip
    source_id = replay(
        engine,
        f"{SITE}/headlines.csv",
        "listing",
        [(when, front_page(rows)) for when, rows in states],
    )

    assert changes(engine) == [
        ("Putin orders troops into rebel regions", ["summary"], putin_1, putin_2)
    ]
    with transaction(engine) as session:
        shown = session.exec(select(Change).where(Change.kind == "shown")).all()
    assert [(change.fields, change.to_n) for change in shown] == [(["summary"], 2)]
    assert summaries(engine) == {
        "Putin orders troops into rebel regions": [putin_1, putin_2],
        "The trees that survived the fires": [None, trees],  # shown first: unknown before
        "Pay rises lag behind prices": [None],
        "Watch: the moment the bridge fell": [None],
    }
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None
        assert {"summary", "tags"} <= set(source.partial_fields or ())
        pay = next(i for i in queries.all_items(session) if i.url and i.url.endswith(PAY))
        [version] = queries.versions_of(session, pay.id or 0)
    assert version.tags == ["Business"]  # its tag hidden once: still Business


def test_a_feed_that_always_shows_descriptions_publishes_one_dropped(engine: Engine) -> None:
    """Every entry of this feed has a description, so one that loses it was edited."""
    first = rss([
        {"title": "Ferry strike called off", "path": "/news/ferry", "teaser": "Unions agree."},
        {"title": "Snow closes airport", "path": "/news/snow", "teaser": "Flights resume at 6."},
    ])  # fmt: skip
    second = rss([
        {"title": "Ferry strike called off", "path": "/news/ferry"},
        {"title": "Snow closes airport", "path": "/news/snow", "teaser": "Flights resume at 6."},
    ])  # fmt: skip
    source_id = replay(engine, f"{SITE}/rss.xml", "feed", [(at(2, 8), first), (at(2, 9), second)])
    assert changes(engine) == [("Ferry strike called off", ["summary"], "Unions agree.", None)]
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None and "summary" not in (source.partial_fields or ())


def test_an_item_page_that_drops_its_summary_is_edited(engine: Engine) -> None:
    url = f"{SITE}/news/ferry"
    with transaction(engine) as session:
        source, _ = add_source(session, url, "article")
    for hour, summary in ((8, "Unions agree to talks."), (9, None)):
        observation = Observation(url=url, headline="Ferry strike called off", summary=summary)
        with transaction(engine) as session:
            source = session.get(Source, source.id)
            assert source is not None
            record_observations(session, source, [observation], at(2, hour), listing=False)
    assert changes(engine) == [
        ("Ferry strike called off", ["summary"], "Unions agree to talks.", None)
    ]


def test_one_story_in_two_slots_with_a_summary_in_one_is_one_item_unedited(
    engine: Engine,
) -> None:
    """The lead shows the story with its summary under a relative link, a lower slot the
    same story under its absolute link without one: one item, one version, no edit."""
    summary = "Russia's president makes the announcement on TV."
    headline = "Putin orders troops into rebel regions"
    lower = (headline, f"{SITE}{PUTIN}", "Europe", "")
    states = [
        [(headline, PUTIN, "Europe", summary), lower],
        [(headline, PUTIN, "Europe", ""), lower],
        [lower, (headline, PUTIN, "Europe", summary)],
    ]
    replay(
        engine,
        f"{SITE}/headlines.csv",
        "listing",
        [(at(2, 8 + hour), front_page(rows)) for hour, rows in enumerate(states)],
    )
    assert summaries(engine) == {headline: [summary]}
    assert changes(engine) == []
