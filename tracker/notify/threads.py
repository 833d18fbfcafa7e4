"""The posts a subscription made about each item on a posting network (Mastodon,
Bluesky), kept so that the item's next post replies to its latest: one thread per item."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import Subscription, ThreadPost, transaction


@dataclass(frozen=True)
class Thread:
    """An item's thread so far: its first post and its latest (the same post when there
    is one)."""

    root: ThreadPost
    latest: ThreadPost


def thread_of(engine: Engine, sub_id: int | None, item_id: int | None) -> Thread | None:
    """The item's thread for this subscription; None if nothing was posted about it yet
    (or the message is about no item, such as a health alert)."""
    if sub_id is None or item_id is None:
        return None
    thread = (col(ThreadPost.subscription_id) == sub_id, col(ThreadPost.item_id) == item_id)
    with Session(engine, expire_on_commit=False) as session:
        root = session.exec(select(ThreadPost).where(*thread).order_by(col(ThreadPost.id))).first()
        latest = session.exec(
            select(ThreadPost).where(*thread).order_by(col(ThreadPost.id).desc())
        ).first()
    return Thread(root, latest) if root and latest else None


def remember(
    engine: Engine,
    sub: Subscription,
    item_id: int | None,
    delivery: str,
    post_id: str,
    post_cid: str | None = None,
) -> None:
    """Keep a post about an item, for the item's next post to reply to."""
    if item_id is None or sub.id is None:
        return
    with transaction(engine) as session:
        session.add(
            ThreadPost(
                subscription_id=sub.id,
                item_id=item_id,
                post_id=post_id,
                post_cid=post_cid,
                delivery_key=delivery,
            )
        )
