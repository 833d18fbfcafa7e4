"""Health alerts: a source that stops answering, or a listing that stops showing new
items, is reported once to health subscribers, and again when it recovers."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import Delivery, Source, utcnow
from tracker.notify import quiet
from tracker.notify.sender import Sender
from tracker.run import status
from tracker.run.rounds import check_round

from .conftest import Receiver, Site
from .test_notify import START, feed, subscribe
from .test_tracking import add

EVERY = timedelta(minutes=15)


def health_deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Delivery).where(col(Delivery.change_id).is_(None)).order_by(col(Delivery.id))
            ).all()
        )


def test_a_source_that_stops_answering_is_reported_once_and_again_when_back(
    site: Site, engine: Engine, receiver: Receiver, sender: Sender
) -> None:
    url = site.publish("/feed.xml", feed(("a", "Storm leaves 8 dead")))
    source_id = add(engine, url)
    health = subscribe(engine, receiver.url(), kinds=["health"])
    subscribe(engine, receiver.url())  # edits only: told nothing of health
    site.fail("/feed.xml", 503)
    for hour in range(3):
        check_round(engine, now=START + timedelta(hours=hour), all_sources=True)
    now = utcnow()
    assert quiet.watch(engine, now, EVERY, None) == []  # failing for minutes only
    later = now + timedelta(hours=2)
    [alert] = quiet.watch(engine, later, EVERY, None)
    assert (alert.source_id, alert.event) == (source_id, "quiet")
    assert "no good answer since" in alert.reason and "3 errors in a row" in alert.reason
    assert quiet.watch(engine, later + timedelta(hours=1), EVERY, None) == []  # told once
    report = status.as_json(status.gather(engine, later, failing_after=3))
    [shown] = report["quiet"]
    assert (shown["id"], shown["reason"]) == (source_id, alert.reason)
    assert "1 source quiet for longer than expected" in status.render_text(
        status.gather(engine, later, failing_after=3)
    )

    site.heal("/feed.xml")
    check_round(engine, now=START + timedelta(hours=4), all_sources=True)
    [back] = quiet.watch(engine, later + timedelta(hours=2), EVERY, None)
    assert back.event == "recovered"
    assert status.as_json(status.gather(engine, later, failing_after=3))["quiet"] == []
    with Session(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None and source.quiet_since is None

    told = health_deliveries(engine)
    assert [d.subscription_id for d in told] == [health.id, health.id]
    assert sender.run_round().sent == 1  # one at a time: the second waits behind the first
    assert sender.run_round().sent == 1
    events = [json.loads(body)["event"] for _, body in receiver.received]
    assert events == ["quiet", "recovered"]
    assert [h["Redline-Event"] for h, _ in receiver.received] == ["quiet", "recovered"]


def test_a_listing_is_quiet_after_twice_its_longest_wait_for_a_new_item(
    site: Site, engine: Engine
) -> None:
    items: list[tuple[str, str]] = []
    url = site.publish("/feed.xml", feed(("a0", "Story 0")))
    source_id = add(engine, url)
    for hour in range(6):  # a new item every hour
        items.append((f"a{hour}", f"Story {hour}"))
        site.publish("/feed.xml", feed(*items))
        check_round(engine, now=START + timedelta(hours=hour), all_sources=True)
    last_new = START + timedelta(hours=5)
    assert quiet.watch(engine, last_new + timedelta(hours=1, minutes=50), EVERY, None) == []
    [alert] = quiet.watch(engine, last_new + timedelta(hours=2, minutes=10), EVERY, None)
    assert (alert.source_id, alert.event) == (source_id, "quiet")
    assert "no new item since" in alert.reason and "within 2 h" in alert.reason
    # [notifications] quiet_after overrides what was learnt.
    assert quiet.watch(engine, last_new + timedelta(hours=3), EVERY, timedelta(days=1)) != []


def test_a_listing_too_young_to_know_is_not_judged(site: Site, engine: Engine) -> None:
    url = site.publish("/feed.xml", feed(("a", "Story")))
    add(engine, url)
    check_round(engine, now=START, all_sources=True)
    assert quiet.watch(engine, START + timedelta(days=20), EVERY, None) == []
