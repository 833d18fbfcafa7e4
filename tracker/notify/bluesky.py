"""Posting to Bluesky through the atproto SDK: each item's notifications are one thread.

A target `bluesky+https://HANDLE:APP_PASSWORD@bsky.social` (the account's PDS, or the
entryway bsky.social) posts each notification as a post of that account: the first about
an item starts a thread, and each later one replies to the item's latest post, naming
the thread's first post as its root (replies name both by URI and cid: kept in
thread_post). An edit's post carries its picture with the alt text saying the old and new
words. The text stays within Bluesky's 300 characters, and ends with a link (a facet:
Bluesky does not find links in a post's text by itself).

Idempotent: a post's record key is a TID made from the delivery (its time, and its id as
the clock id), so a post sent again after a crash finds its record already there and
is not posted twice.

A login (createSession) is rate-limited by Bluesky, so each process logs in once per
target and reuses the session (the SDK refreshes it).
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from storage import Subscription
from tracker.notify.kinds import bluesky_account
from tracker.notify.message import Message
from tracker.notify.targets import Outcome, short
from tracker.notify.threads import Thread, remember, thread_of
from tracker.words import cut

if TYPE_CHECKING:
    from atproto import Client

MAX_GRAPHEMES = 300  # Bluesky's limit on a post's text (a character is at most one)
MAX_ALT = 2000
MAX_SHOWN_LINK = 40  # characters of the link the text shows (its facet holds it whole)
TIMEOUT = 20.0
POST = "app.bsky.feed.post"
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable
URL = re.compile(r"https?://\S+")

_clients: dict[str, tuple[Client, str]] = {}  # target -> (a logged-in client, its DID)
_clients_lock = threading.Lock()


def record_key(delivery: str, created: datetime | None) -> str:
    """A TID for the delivery's post: its creation time in microseconds, and ten bits of
    its id as the clock id; the same on every attempt."""
    moment = created or datetime.now(UTC)
    if moment.tzinfo is None:  # stored times are naive UTC
        moment = moment.replace(tzinfo=UTC)
    micros = int(moment.timestamp() * 1_000_000)
    clock = int.from_bytes(hashlib.sha256(delivery.encode()).digest()[:2], "big") & 0x3FF
    value = (micros << 10) | clock  # the top bit stays 0
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def text_and_link(message: Message) -> tuple[str, tuple[str, str] | None]:
    """The post's text, and the link it ends with (as shown, and whole): the message's
    last URL line (redline's item page when public_url is set, else the article)."""
    lines = f"{message.title}\n{message.body}".strip().splitlines()
    links = [line for line in lines if URL.fullmatch(line.strip())]
    words = "\n".join(line for line in lines if line not in links)
    if not links:
        return cut(words, MAX_GRAPHEMES), None
    link = links[-1].strip()
    shown = cut(link.split("://", 1)[1], MAX_SHOWN_LINK)
    return f"{cut(words, MAX_GRAPHEMES - len(shown) - 1)}\n{shown}", (shown, link)


def post(
    engine: Engine,
    sub: Subscription,
    delivery: str,
    message: Message,
    created: datetime | None = None,
) -> Outcome:
    from atproto import models
    from atproto_client.exceptions import (
        AtProtocolError,
        RateLimitExceededError,
        RequestErrorBase,
    )

    try:
        client, did = _client(sub.target)
    except RateLimitExceededError as error:
        return Outcome(False, short(f"login rate limited: {error}"), retry_after=_wait(error))
    except AtProtocolError as error:
        return Outcome(False, short(f"login failed: {type(error).__name__}: {error}"))
    text, link = text_and_link(message)
    rkey = record_key(delivery, created)
    thread = thread_of(engine, sub.id, message.item_id)
    try:
        embed = None
        if message.picture is not None:
            blob = client.upload_blob(message.picture.png()).blob
            image = models.AppBskyEmbedImages.Image(alt=message.picture.alt[:MAX_ALT], image=blob)
            embed = models.AppBskyEmbedImages.Main(images=[image])
        record = models.AppBskyFeedPost.Record(
            created_at=client.get_current_time_iso(),
            text=text,
            reply=_reply(models, thread),
            embed=embed,
            facets=_facets(models, text, link),
        )
        try:
            made = client.app.bsky.feed.post.create(did, record, rkey=rkey)
        except RequestErrorBase as refused:
            if isinstance(refused, RateLimitExceededError) or refused.response is None:
                raise
            # Posted before (a crash between posting and recording it)? Then it is there;
            # else the refusal is what to say, not that the record is not there.
            try:
                made = client.app.bsky.feed.post.get(did, rkey)
            except RequestErrorBase:
                raise refused from None
    except RateLimitExceededError as error:
        return Outcome(False, short(f"rate limited: {error}"), retry_after=_wait(error))
    except AtProtocolError as error:
        _forget(sub.target)  # log in afresh next time: the session may be what failed
        return Outcome(False, short(f"{type(error).__name__}: {error}"))
    remember(engine, sub, message.item_id, delivery, made.uri, made.cid)
    return Outcome(True)


def _client(target: str) -> tuple[Client, str]:
    """A client logged in to the target's account, and the account's DID: made once per
    process and target."""
    with _clients_lock:
        if target in _clients:
            return _clients[target]
        from atproto import Client
        from atproto_client.request import Request

        base, handle, password = bluesky_account(target)
        client = Client(base, request=Request(timeout=TIMEOUT))
        dids: list[str] = []
        client.on_session_change(lambda _event, session: dids.append(session.did))
        client.login(handle, password, fetch_bsky_profile=False)
        _clients[target] = (client, dids[-1])
        return _clients[target]


def _forget(target: str) -> None:
    with _clients_lock:
        _clients.pop(target, None)


def _reply(models: Any, thread: Thread | None) -> Any:
    """The reply reference to the item's thread; None for its first post."""
    if thread is None or not thread.root.post_cid or not thread.latest.post_cid:
        return None
    ref = models.ComAtprotoRepoStrongRef.Main
    return models.AppBskyFeedPost.ReplyRef(
        root=ref(uri=thread.root.post_id, cid=thread.root.post_cid),
        parent=ref(uri=thread.latest.post_id, cid=thread.latest.post_cid),
    )


def _facets(models: Any, text: str, link: tuple[str, str] | None) -> list[Any] | None:
    """The link at the text's end, as a facet: its byte range in the UTF-8 text."""
    if link is None:
        return None
    shown, whole = link
    end = len(text.encode())
    start = end - len(shown.encode())
    facet = models.AppBskyRichtextFacet
    return [
        facet.Main(
            index=facet.ByteSlice(byte_start=start, byte_end=end),
            features=[facet.Link(uri=whole)],
        )
    ]


def _wait(error: Any) -> float:
    """Seconds until Bluesky's rate limit lets us post again (five minutes if unsaid)."""
    if error.retry_after is not None:
        return float(error.retry_after)
    if error.reset_at is not None:
        return max(0.0, (error.reset_at - datetime.now(UTC)).total_seconds())
    return 300.0
