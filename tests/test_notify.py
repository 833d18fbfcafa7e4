"""Notifications end to end: a local site publishes and edits a feed, redline checks it,
and the outbox's deliveries reach a local webhook receiver or an Apprise json:// target.

The receiver verifies each signature as a subscriber would (targets.verify_signature).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from feeds.app import create_app
from storage import Change, Delivery, Subscription, transaction
from tracker.errors import UserError
from tracker.notify import entries, filters, subscriptions, targets
from tracker.notify.sender import Sender, backoff
from tracker.notify.settings import NotifySettings
from tracker.run.rounds import check_round

from .conftest import Receiver, Site
from .test_tracking import add

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def feed(*items: tuple[str, str]) -> str:
    """An RSS feed of (guid, headline) items."""
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title>"
        f"<link>https://news.example/{guid}</link></item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        f"<link>https://news.example/</link><description>d</description>{entries}"
        "</channel></rss>"
    )


def subscribe(engine: Engine, target: str, **given: object) -> Subscription:
    with transaction(engine) as session:
        wanted = {k: v for k, v in given.items() if k in filters.KEYS}
        return subscriptions.add_subscription(
            session,
            target,
            wanted,
            secret=given.get("secret"),  # type: ignore[arg-type]
            per_minute=given.get("per_minute"),
        )


def check(engine: Engine, when: datetime) -> None:
    results = check_round(engine, now=when, all_sources=True)
    assert all(r.outcome in ("changed", "unchanged") for r in results), results


def storm_edited(site: Site, engine: Engine, *targets: str, edits: int = 1) -> int:
    """A feed whose one item's headline is edited `edits` times ("8 dead" → "12 dead" →
    "20 dead"...), each target subscribed (default filter) before the edits; the source."""
    url = site.publish("/feed.xml", feed(("a", "Storm leaves 8 dead")))
    source_id = add(engine, url)
    for target in targets:
        subscribe(engine, target)
    check(engine, START)
    for hour, dead in enumerate((12, 20, 31)[:edits], start=1):
        site.publish("/feed.xml", feed(("a", f"Storm leaves {dead} dead")))
        check(engine, START + timedelta(hours=hour))
    return source_id


def deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery).order_by(col(Delivery.id))).all())


def make_due(engine: Engine) -> None:
    """Every delivery waiting for a retry is due now (as if its wait had passed)."""
    with transaction(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(Delivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_an_edit_is_posted_once_signed_with_the_change_as_the_api_lists_it(
    site: Site, engine: Engine, receiver: Receiver, sender: Sender
) -> None:
    url = site.publish("/feed.xml", feed(("a", "Storm leaves 8 dead"), ("b", "Markets calm")))
    add(engine, url)
    sub = subscribe(engine, receiver.url())
    assert sub.secret  # a webhook is given a signing key
    check(engine, START)
    assert deliveries(engine) == []  # first sight: nothing was edited
    site.publish("/feed.xml", feed(("a", "Storm leaves 12 dead"), ("b", "Markets calm")))
    check(engine, START + timedelta(hours=1))

    [pending] = deliveries(engine)
    assert pending.state == "pending"
    assert sender.run_round().sent == 1
    assert sender.run_round().sent == 0  # sent once, not again

    [(headers, body)] = receiver.received
    assert targets.verify_signature(sub.secret, headers["Redline-Signature"], body)
    assert not targets.verify_signature("another key", headers["Redline-Signature"], body)
    assert not targets.verify_signature(sub.secret, headers["Redline-Signature"], body + b" ")
    document = json.loads(body)
    assert headers["Redline-Delivery"] == document["delivery"] == pending.key
    assert document["item"]["headline"] == "Storm leaves 12 dead"
    assert document["item"]["previous_headline"] == "Storm leaves 8 dead"
    with TestClient(create_app(engine)) as client:
        listed = client.get("/api/changes").json()["changes"]
    [edit] = [change for change in listed if change["kind"] == "edited"]
    assert document["change"] == edit  # the /api/changes shape, exactly
    [sent] = deliveries(engine)
    assert (sent.state, sent.attempts, sent.claimed_by) == ("sent", 1, None)


def test_a_target_that_fails_gets_the_message_again_and_then_never(
    site: Site, engine: Engine, receiver: Receiver, sender: Sender
) -> None:
    storm_edited(site, engine, receiver.url())

    receiver.statuses = [500]
    first = sender.run_round()
    assert (first.sent, first.failed) == (0, 1)
    [waiting] = deliveries(engine)
    assert (waiting.state, waiting.attempts, waiting.last_error) == ("pending", 1, "HTTP 500")
    assert waiting.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20)  # backoff
    assert sender.run_round().sent == 0  # not due yet

    make_due(engine)
    assert sender.run_round().sent == 1
    make_due(engine)
    assert sender.run_round().sent == 0
    keys = [headers["Redline-Delivery"] for headers, _ in receiver.received]
    assert len(keys) == 2 and keys[0] == keys[1]  # the same delivery id both times
    assert deliveries(engine)[0].state == "sent"


def test_one_items_notifications_arrive_in_order_even_after_a_failure(
    site: Site, engine: Engine, receiver: Receiver, sender: Sender
) -> None:
    storm_edited(site, engine, receiver.url(), edits=2)
    assert len(deliveries(engine)) == 2

    receiver.statuses = [503]
    assert sender.run_round().failed == 1  # the first: the second waits behind it
    assert len(receiver.received) == 1
    make_due(engine)
    assert sender.run_round().sent == 1
    assert sender.run_round().sent == 1
    headlines = [doc["item"]["headline"] for doc in receiver.documents()]
    assert headlines == ["Storm leaves 12 dead", "Storm leaves 12 dead", "Storm leaves 20 dead"]


def test_a_delivery_failing_past_the_give_up_time_is_dead(
    site: Site, engine: Engine, receiver: Receiver
) -> None:
    storm_edited(site, engine, receiver.url())
    receiver.statuses = [500]
    quick = Sender(engine, NotifySettings(give_up_after=timedelta(0)), "test-sender")
    try:
        assert quick.run_round().dead == 1
        make_due(engine)
        assert quick.run_round().sent == 0  # given up: never sent again
    finally:
        quick.close()
    [dead] = deliveries(engine)
    assert (dead.state, dead.last_error) == ("dead", "HTTP 500")


def test_a_subscription_is_sent_no_more_than_its_rate(
    site: Site, engine: Engine, receiver: Receiver, sender: Sender
) -> None:
    names = [(str(n), f"Story {n} has 8 parts") for n in range(5)]
    url = site.publish("/feed.xml", feed(*names))
    add(engine, url)
    subscribe(engine, receiver.url(), per_minute=2)
    check(engine, START)
    site.publish("/feed.xml", feed(*[(g, t.replace("8", "12")) for g, t in names]))
    check(engine, START + timedelta(hours=1))
    assert len(deliveries(engine)) == 5
    assert sender.run_round().sent == 2
    assert sender.run_round().sent == 0  # the rest waits for the rate
    assert [d.state for d in deliveries(engine)].count("pending") == 3


def test_filters_choose_the_changes_a_subscription_is_told_of(
    site: Site, engine: Engine, receiver: Receiver
) -> None:
    url = site.publish("/feed.xml", feed(("a", "Storm leaves 8 dead"), ("b", "Markets calm")))
    source_id = add(engine, url)
    wants = {
        "every kind": subscribe(engine, receiver.url(), kinds=list(filters.KINDS)),
        "another source": subscribe(engine, receiver.url(), sources=[source_id + 1]),
        "style edits": subscribe(engine, receiver.url(), classes=["style"]),
        "summaries": subscribe(engine, receiver.url(), fields=["summary"]),
        "the default": subscribe(engine, receiver.url()),
    }
    check(engine, START)
    site.publish("/feed.xml", feed(("a", "Storm leaves 12 dead")))  # an edit; b leaves
    check(engine, START + timedelta(hours=1))
    kinds: dict[int | None, list[str]] = {sub.id: [] for sub in wants.values()}
    with Session(engine) as session:
        for delivery in deliveries(engine):
            change = session.get(Change, delivery.change_id)
            assert change is not None
            kinds[delivery.subscription_id].append(change.kind)
    assert sorted(kinds[wants["every kind"].id]) == ["created", "created", "edited", "removed"]
    assert kinds[wants["another source"].id] == []
    assert kinds[wants["style edits"].id] == []
    assert kinds[wants["summaries"].id] == []
    assert kinds[wants["the default"].id] == ["edited"]


def test_bad_filters_and_targets_are_one_line_errors() -> None:
    for given, says in (
        ({"colour": ["red"]}, "not a filter: 'colour'"),
        ({"kinds": ["edits", "gossip"]}, "'gossip' is none of"),
        ({"sources": ["three"]}, "not an id"),
        ({"classes": "substantive"}, None),  # one value for a list is fine
    ):
        if says is None:
            assert filters.parse_filters(given) == {"classes": ["substantive"]}
            continue
        with pytest.raises(UserError, match=says):
            filters.parse_filters(given)
    # Shown without keys: an Apprise URL may hold one where the host goes.
    assert entries.redact("slack://TokenA/TokenB/TokenC/#desk") == "slack://…"
    assert entries.redact("https://user:pw@hooks.example/k/123") == "https://hooks.example/…"
    table = {"name": "desk", "target": "https://hooks.example/x", "secret": ""}
    with pytest.raises(UserError, match=r"\[\[notify\]\] number 1: secret: 1-500 characters"):
        entries.read_notify_tables("redline.toml", [table])
    with pytest.raises(UserError, match="this target is no webhook"):
        subscriptions.add_subscription(None, "json://127.0.0.1/x", secret="s")  # type: ignore[arg-type]
    for target, says in (
        ("nonsense://x", r"neither an http\(s\) webhook URL nor an Apprise URL"),
        ("https://", "no host"),
        ("http://[::1", "not a notification target"),
        ("http://10.0.0.1/hook", "refused"),
    ):
        with pytest.raises(UserError, match=says):
            entries.check_target(target)


def test_an_apprise_json_target_gets_the_words_of_the_edit(
    site: Site, engine: Engine, receiver: Receiver, sender: Sender
) -> None:
    storm_edited(site, engine, f"json://127.0.0.1:{receiver.server.port}/apprise")
    assert sender.run_round().sent == 1
    [document] = receiver.documents()
    assert document["title"] == "Edited (substantive): Storm leaves 12 dead"
    assert "Headline was: Storm leaves 8 dead" in document["message"]
    assert "Headline now: Storm leaves 12 dead" in document["message"]
    [picture] = document["attachments"]  # the edit's picture, attached
    assert picture["filename"] == "edit.png" and picture["mimetype"] == "image/png"
    assert base64.b64decode(picture["base64"]).startswith(b"\x89PNG")


def test_backoff_doubles_up_to_an_hour() -> None:
    waits = [backoff(n).total_seconds() for n in (1, 2, 3, 8, 50)]
    assert waits == [30, 60, 120, 3600, 3600]


def test_subscriptions_through_the_api_need_the_token(engine: Engine, receiver: Receiver) -> None:
    from feeds.settings import ServiceSettings

    token = "a-token-for-the-tests"
    app = create_app(engine, ServiceSettings(api_token=token))
    with TestClient(app) as client:
        assert client.get("/api/notifications").status_code == 401
        wrong = client.get("/api/notifications", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()["detail"]) == (401, "wrong API token")
        auth = {"Authorization": f"Bearer {token}"}
        made = client.post(
            "/api/subscriptions",
            json={"target": receiver.url(), "name": "desk", "filters": {"tags": ["Politics"]}},
            headers=auth,
        )
        assert made.status_code == 201, made.text
        created = made.json()
        assert created["secret"] and created["kind"] == "webhook"
        assert created["target"] == f"http://127.0.0.1:{receiver.server.port}/…"
        bad = client.post("/api/subscriptions", json={"target": "nonsense://x"}, headers=auth)
        assert bad.status_code == 400 and "Apprise URL" in bad.json()["detail"]
        listed = client.get("/api/notifications", headers=auth).json()
        [sub] = listed["subscriptions"]
        assert (sub["name"], sub["filters"], listed["dead"]) == ("desk", {"tags": ["Politics"]}, [])
        assert "secret" not in sub
        gone = client.delete(f"/api/subscriptions/{created['id']}", headers=auth)
        assert gone.status_code == 200 and gone.json()["name"] == "desk"
        assert client.delete(f"/api/subscriptions/{created['id']}", headers=auth).status_code == 404
        assert client.get("/api/notifications", headers=auth).json()["subscriptions"] == []
    with TestClient(create_app(engine)) as client:  # no token configured: refused
        assert client.get("/api/notifications").status_code == 403


def test_the_manuals_way_of_verifying_a_webhook_accepts_our_signature_only() -> None:
    """The manual's snippet (docs/notifications.md), run as written, on a body signed as
    deliveries are."""
    from pathlib import Path

    page = Path(__file__).parent.parent / "docs" / "notifications.md"
    after = page.read_text(encoding="utf-8").split(
        "refuse a time more than five minutes from your clock:", 1
    )[1]
    snippet = after.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(snippet, namespace)  # noqa: S102 (our own manual)
    verified = namespace["verified"]
    body = b'{"delivery":"x","event":"change"}'
    header = targets.sign("the secret", int(datetime.now(UTC).timestamp()), body)
    assert verified("the secret", header, body)  # type: ignore[operator]
    assert not verified("another secret", header, body)  # type: ignore[operator]
    assert not verified("the secret", header, body + b"!")  # type: ignore[operator]
    stale = targets.sign("the secret", int(datetime.now(UTC).timestamp()) - 3600, body)
    assert not verified("the secret", stale, body)  # type: ignore[operator]
