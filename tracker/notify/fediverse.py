"""Posting to Mastodon through Mastodon.py: each item's notifications are one thread.

A target `mastodon+https://ACCESS_TOKEN@instance.example` posts each notification as a
status of the token's account: the first about an item starts a thread, and each later
one replies to the item's latest post (the status ids are kept in thread_post). An
edit's post carries its picture (tracker/present/diff_image.py) with the alt text saying the old
and new words. The text stays within Mastodon's 500 characters. The delivery id is the
status's Idempotency-Key, so a post sent again after a crash is not posted twice.
"""

from __future__ import annotations

import io

from sqlalchemy.engine import Engine

from storage import Subscription
from tracker.notify.kinds import mastodon_instance
from tracker.notify.message import Message
from tracker.notify.targets import Outcome, short
from tracker.notify.threads import remember, thread_of
from tracker.words import cut

MAX_CHARS = 500
MAX_ALT = 1500  # Mastodon's limit on an image description
TIMEOUT = 20.0


def text_of(message: Message) -> str:
    """The status: the title, then the body, within MAX_CHARS."""
    return cut(f"{message.title}\n\n{message.body}".strip(), MAX_CHARS)


def post(engine: Engine, sub: Subscription, delivery: str, message: Message) -> Outcome:
    from mastodon import Mastodon, MastodonError, MastodonRatelimitError

    base, token = mastodon_instance(sub.target)
    api = Mastodon(
        access_token=token,
        api_base_url=base,
        request_timeout=TIMEOUT,
        ratelimit_method="throw",  # a limit is a retry later, never a sleep here
        version_check_mode="none",
        mastodon_version="4.0.0",  # the API it posts with: no instance look-up first
        user_agent="redline",
    )
    thread = thread_of(engine, sub.id, message.item_id)
    try:
        media = []
        if message.picture is not None:
            media.append(
                api.media_post(
                    io.BytesIO(message.picture.png()),
                    mime_type="image/png",
                    description=message.picture.alt[:MAX_ALT],
                    file_name="edit.png",
                )
            )
        status = api.status_post(
            text_of(message),
            in_reply_to_id=thread.latest.post_id if thread else None,
            media_ids=media or None,
            idempotency_key=delivery,
        )
    except MastodonRatelimitError as error:
        return Outcome(False, short(f"rate limited: {error}"), retry_after=300.0)
    except MastodonError as error:
        return Outcome(False, short(f"{type(error).__name__}: {error}"))
    remember(engine, sub, message.item_id, delivery, str(status["id"]))
    return Outcome(True)
