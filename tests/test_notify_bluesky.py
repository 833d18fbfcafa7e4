"""Posts on Bluesky through the atproto SDK, against a fake PDS on 127.0.0.1 answering
the XRPC methods the SDK calls (createSession, uploadBlob, createRecord, getRecord): one
thread per item (root and parent by URI and cid), each edit with its picture and alt
text, a link facet, the record key made from the delivery so a post is never made twice."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from werkzeug import Request, Response

from storage import ThreadPost, transaction
from tracker.errors import UserError
from tracker.notify import bluesky, entries, kinds, subscriptions
from tracker.notify.message import Message, sample
from tracker.notify.sender import Sender

from .conftest import Site
from .test_notify import deliveries, make_due, storm_edited, subscribe
from .tools import local_server

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

HANDLE = "redline.test"
PASSWORD = "abcd-efgh-ijkl-mnop"
DID = "did:plc:redlinetest0000000000000"


def _jwt(payload: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.c2lnbmF0dXJl"


def _cid(data: bytes) -> str:
    return "bafyrei" + base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")


def _error(status: int, name: str, message: str, **headers: str) -> Response:
    body = json.dumps({"error": name, "message": message})
    return Response(body, status=status, content_type="application/json", headers=headers)


@dataclass
class FakePDS:
    """A PDS keeping the posts' records by record key, as a repository does."""

    server: HTTPServer = field(init=False)  # set by the fixture
    logins: int = 0
    records: dict[str, dict] = field(default_factory=dict)  # rkey -> record
    blobs: list[bytes] = field(default_factory=list)
    failures: list[Response] = field(default_factory=list)  # answers to the next posts
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        method = request.path.removeprefix("/xrpc/")
        if method == "com.atproto.server.createSession":
            body = request.get_json()
            if (body["identifier"], body["password"]) != (HANDLE, PASSWORD):
                return _error(401, "AuthenticationRequired", "Invalid identifier or password")
            with self.lock:
                self.logins += 1
            exp = int(time.time()) + 7200
            return self._json(
                {
                    "did": DID,
                    "handle": HANDLE,
                    "accessJwt": _jwt({"sub": DID, "exp": exp, "scope": "com.atproto.appPass"}),
                    "refreshJwt": _jwt({"sub": DID, "exp": exp + 86400}),
                }
            )
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(401, "AuthenticationRequired", "no session")
        with self.lock:
            if method == "com.atproto.repo.createRecord" and self.failures:
                return self.failures.pop(0)
            if method == "com.atproto.repo.uploadBlob":
                data = request.get_data()
                self.blobs.append(data)
                ref = {"$link": _cid(data)}
                blob = {"$type": "blob", "ref": ref, "mimeType": "image/png", "size": len(data)}
                return self._json({"blob": blob})
            if method == "com.atproto.repo.createRecord":
                body = request.get_json()
                assert (body["repo"], body["collection"]) == (DID, "app.bsky.feed.post")
                rkey = body["rkey"]
                if rkey in self.records:
                    return _error(400, "InvalidRequest", "Record already exists")
                self.records[rkey] = body["record"]
                return self._json(self._ref(rkey))
            if method == "com.atproto.repo.getRecord":
                rkey = request.args["rkey"]
                if rkey not in self.records:
                    return _error(400, "RecordNotFound", f"Could not locate record: {rkey}")
                return self._json({**self._ref(rkey), "value": self.records[rkey]})
        return _error(501, "MethodNotImplemented", method)

    def _ref(self, rkey: str) -> dict[str, str]:
        data = json.dumps(self.records[rkey], sort_keys=True).encode()
        return {"uri": f"at://{DID}/app.bsky.feed.post/{rkey}", "cid": _cid(data)}

    @staticmethod
    def _json(body: dict) -> Response:
        return Response(json.dumps(body), content_type="application/json")

    def posts(self) -> list[tuple[str, dict]]:
        """(uri, record) of each post, in the order made (record keys sort by time)."""
        return [(self._ref(rkey)["uri"], self.records[rkey]) for rkey in sorted(self.records)]

    def target(self, password: str = PASSWORD) -> str:
        return f"bluesky+http://{HANDLE}:{password}@127.0.0.1:{self.server.port}"


@pytest.fixture
def pds() -> Iterator[FakePDS]:
    fake = FakePDS()
    with local_server(fake.handle, "/xrpc/.*") as fake.server:
        yield fake
        bluesky._clients.clear()  # a later test's server may reuse the port


def test_each_item_is_one_thread_with_its_root_and_each_edit_carries_its_picture(
    site: Site, engine: Engine, pds: FakePDS, sender: Sender
) -> None:
    storm_edited(site, engine, pds.target(), edits=3)
    for _ in range(3):
        assert sender.run_round().sent == 1  # one item's posts go one at a time, in order
    (first_uri, first), (second_uri, second), (_, third) = pds.posts()
    assert "reply" not in first  # the item's thread starts
    with Session(engine) as session:
        posts = session.exec(select(ThreadPost).order_by(ThreadPost.id)).all()
    cids = {p.post_id: p.post_cid for p in posts}
    assert [p.post_id for p in posts] == [uri for uri, _ in pds.posts()]

    def refs(record: dict) -> tuple[str, str]:  # (root, parent) as (uri, cid) strong refs
        reply = record["reply"]
        for ref in (reply["root"], reply["parent"]):
            assert ref["cid"] == cids[ref["uri"]]
        return reply["root"]["uri"], reply["parent"]["uri"]

    assert refs(second) == (first_uri, first_uri)
    assert refs(third) == (first_uri, second_uri)
    assert first["text"].startswith("Edited (substantive): Storm leaves 12 dead")
    assert "Headline was: Storm leaves 8 dead" in first["text"]
    [image] = first["embed"]["images"]
    assert image["alt"].startswith(
        "Headline changed from “Storm leaves 8 dead” to “Storm leaves 12 dead”"
    )
    assert pds.blobs[0].startswith(b"\x89PNG") and len(pds.blobs) == 3
    assert image["image"]["ref"]["$link"] == _cid(pds.blobs[0])
    assert pds.logins == 1  # one session for every post


def test_the_text_stays_within_300_characters_and_ends_with_a_link_facet() -> None:
    headline = "Émeute à Nouméa : " + "un très long titre " * 30  # non-ASCII: bytes ≠ chars
    url = "https://news.example/" + "section/" * 10 + "story-123456"
    message = Message({}, f"Edited: {headline}", f"Headline was: {headline}\n{url}")
    text, link = bluesky.text_and_link(message)
    assert len(text) <= bluesky.MAX_GRAPHEMES
    assert link is not None
    shown, whole = link
    assert whole == url and text.endswith("\n" + shown) and len(shown) <= bluesky.MAX_SHOWN_LINK
    [facet] = bluesky._facets(__import__("atproto").models, text, link) or []
    encoded = text.encode()
    start, end = facet.index.byte_start, facet.index.byte_end
    assert encoded[start:end].decode() == shown and end == len(encoded)
    assert facet.features[0].uri == url
    short = Message({}, "Removed from its listing: A story", "")
    assert bluesky.text_and_link(short) == ("Removed from its listing: A story", None)


def test_a_post_sent_again_after_a_crash_is_not_made_twice(engine: Engine, pds: FakePDS) -> None:
    sub = subscribe(engine, pds.target())
    message = sample(None)
    created = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    message = Message(message.document, message.title, message.body, message.picture, item_id=7)
    assert bluesky.post(engine, sub, "delivery-1", message, created).ok
    # Killed after posting but before the post was recorded: the delivery is sent again.
    with transaction(engine) as session:
        session.exec(delete(ThreadPost))  # type: ignore[call-overload]
    assert bluesky.post(engine, sub, "delivery-1", message, created).ok
    [(uri, _)] = pds.posts()
    with Session(engine) as session:
        [kept] = session.exec(select(ThreadPost)).all()
    assert kept.post_id == uri and kept.delivery_key == "delivery-1"


def test_a_refused_post_is_tried_again_and_a_rate_limit_is_waited_out(
    site: Site, engine: Engine, pds: FakePDS, sender: Sender
) -> None:
    storm_edited(site, engine, pds.target())
    pds.failures = [_error(502, "UpstreamFailure", "try later")]
    first = sender.run_round()
    assert (first.sent, first.failed) == (0, 1)
    assert pds.posts() == []
    [refused] = deliveries(engine)
    assert "502" in str(refused.last_error)  # the refusal, not the look-up that followed it
    make_due(engine)
    assert sender.run_round().sent == 1
    [(_, posted)] = pds.posts()
    assert "reply" not in posted and len(posted["embed"]["images"]) == 1

    reset = int(time.time()) + 900
    limited = _error(429, "RateLimitExceeded", "slow down", **{"ratelimit-reset": str(reset)})
    pds.failures = [limited]
    with Session(engine) as session:
        [sub] = subscriptions.all_subscriptions(session)
    outcome = bluesky.post(engine, sub, "another", sample(None))
    assert not outcome.ok and "rate limited" in str(outcome.error)
    assert outcome.retry_after is not None and 800 < outcome.retry_after <= 900


def test_a_wrong_app_password_is_said_in_one_line(engine: Engine, pds: FakePDS) -> None:
    sub = subscribe(engine, pds.target("wrong-pass"))
    outcome = bluesky.post(engine, sub, "k", sample(None))
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.startswith("login failed: UnauthorizedError: 401")
    assert "\n" not in outcome.error and pds.records == {}


def test_a_bluesky_target_needs_its_host_handle_and_app_password() -> None:
    with pytest.raises(UserError, match="needs a handle and an app password"):
        entries.check_target("bluesky+https://me.bsky.social@bsky.social")
    with pytest.raises(UserError, match="bluesky\\+https://HANDLE:APP_PASSWORD@bsky.social"):
        entries.check_target("bluesky+ftp://me:pw@bsky.social")
    target = "bluesky+https://me.bsky.social:abcd-efgh@bsky.social"
    assert entries.check_target(target) == target
    assert kinds.target_kind(target) == "bluesky"
    assert entries.redact(target) == "bluesky+https://bsky.social/…"


def test_a_record_key_is_a_tid_made_from_the_delivery() -> None:
    moment = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    key = bluesky.record_key("delivery-1", moment)
    assert re.fullmatch("[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", key)
    assert bluesky.record_key("delivery-1", moment) == key  # the same on every attempt
    assert bluesky.record_key("delivery-2", moment) != key  # its id is the clock id
    later = bluesky.record_key("delivery-1", moment + timedelta(microseconds=1))
    assert later > key  # TIDs sort by time
    assert bluesky.record_key("delivery-1", moment.replace(tzinfo=None)) == key  # naive = UTC
