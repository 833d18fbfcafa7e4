"""Posts on Mastodon through Mastodon.py, against a fake instance on 127.0.0.1 answering
the endpoints the library calls: one thread per item, each edit with its picture and alt
text, the delivery id as the Idempotency-Key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from werkzeug import Request, Response

from storage import ThreadPost
from tracker.errors import UserError
from tracker.notify import entries, fediverse, kinds, subscriptions
from tracker.notify.sender import Sender

from .conftest import Site
from .test_notify import make_due, storm_edited
from .tools import local_server

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

TOKEN = "an-access-token"


@dataclass
class FakeMastodon:
    server: HTTPServer = field(init=False)  # set by the fixture
    statuses: list[dict] = field(default_factory=list)
    media: list[dict] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response('{"error": "The access token is invalid"}', status=401)
        with self.lock:
            if self.failures:
                return Response('{"error": "busy"}', status=self.failures.pop(0))
            if request.path.endswith("/media"):
                upload = request.files["file"].read()
                self.media.append({"description": request.form["description"], "png": upload})
                body = {"id": f"m{len(self.media)}", "type": "image", "url": "http://x/m.png"}
            else:
                self.statuses.append(
                    {
                        "status": request.form["status"],
                        "in_reply_to_id": request.form.get("in_reply_to_id"),
                        "media_ids": request.form.getlist("media_ids[]"),
                        "key": request.headers.get("Idempotency-Key"),
                    }
                )
                body = {"id": f"s{len(self.statuses)}", "content": request.form["status"]}
        return Response(json.dumps(body), content_type="application/json")

    def target(self) -> str:
        return f"mastodon+http://{TOKEN}@127.0.0.1:{self.server.port}"


@pytest.fixture
def instance() -> Iterator[FakeMastodon]:
    fake = FakeMastodon()
    with local_server(fake.handle, "/api/v[12]/.*", "POST") as fake.server:
        yield fake


def test_each_item_is_one_thread_and_each_edit_carries_its_picture(
    site: Site, engine: Engine, instance: FakeMastodon, sender: Sender
) -> None:
    storm_edited(site, engine, instance.target(), edits=2)
    assert sender.run_round().sent == 1
    assert sender.run_round().sent == 1
    first, second = instance.statuses
    assert first["in_reply_to_id"] is None  # the item's thread starts
    assert second["in_reply_to_id"] == "s1"  # the next edit replies to it
    assert first["status"].startswith("Edited (substantive): Storm leaves 12 dead")
    assert "Headline was: Storm leaves 8 dead" in first["status"]
    assert all(len(s["status"]) <= fediverse.MAX_CHARS for s in instance.statuses)
    assert [s["media_ids"] for s in instance.statuses] == [["m1"], ["m2"]]
    assert instance.media[0]["png"].startswith(b"\x89PNG")
    assert instance.media[0]["description"].startswith(
        "Headline changed from “Storm leaves 8 dead” to “Storm leaves 12 dead”"
    )
    with Session(engine) as session:
        posts = session.exec(select(ThreadPost)).all()
    assert [p.post_id for p in posts] == ["s1", "s2"]
    assert [s["key"] for s in instance.statuses] == [p.delivery_key for p in posts]


def test_a_refused_post_is_tried_again_and_a_bad_token_is_said(
    site: Site, engine: Engine, instance: FakeMastodon, sender: Sender
) -> None:
    storm_edited(site, engine, instance.target())
    instance.failures = [503]
    first = sender.run_round()
    assert (first.sent, first.failed) == (0, 1)
    assert instance.statuses == []
    make_due(engine)
    assert sender.run_round().sent == 1
    [posted] = instance.statuses
    assert posted["in_reply_to_id"] is None and posted["media_ids"] == ["m1"]
    with Session(engine) as session:
        [sub] = subscriptions.all_subscriptions(session)
        sub.target = sub.target.replace(TOKEN, "wrong")
    assert "401" in str(fediverse.post(engine, sub, "k", _any_message()).error)


def _any_message():
    from tracker.notify.message import sample

    return sample(None)


def test_a_mastodon_target_needs_its_host_and_token() -> None:
    with pytest.raises(UserError, match="needs its access token"):
        entries.check_target("mastodon+https://mastodon.example")
    with pytest.raises(UserError, match="mastodon\\+https://ACCESS_TOKEN@instance"):
        entries.check_target("mastodon+ftp://tok@mastodon.example")
    assert kinds.target_kind("mastodon+https://tok@mastodon.example") == "mastodon"
    assert entries.redact("mastodon+https://tok@mastodon.example") == (
        "mastodon+https://mastodon.example/…"
    )
