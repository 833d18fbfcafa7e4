"""`redline merge` and `redline split`: a person corrects which versions are one story.

Every `redline` command builds these verbs' parsers, so the handlers import the database
and tracker.record.merge when they run: start-up time."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tracker.cli.common import find_item
from tracker.words import plural

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def add_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    merging = verb(
        "merge",
        cmd_merge,
        "merge item OTHER into item ITEM: one story recorded as two (ITEM, OTHER = id or URL)",
    )
    merging.add_argument("item")
    merging.add_argument("other")
    splitting = verb(
        "split",
        cmd_split,
        "move versions N on of ITEM to a new item: two stories recorded as one",
    )
    splitting.add_argument("item")
    splitting.add_argument("--at", type=int, required=True, metavar="N", help="first version moved")


def cmd_merge(args: argparse.Namespace, engine: Engine, config: object) -> int:
    from storage import transaction
    from tracker.record import merge

    with transaction(engine) as session:
        keep, other = find_item(session, args.item), find_item(session, args.other)
        assert keep.id is not None and other.id is not None
        done = merge.merge_items(
            session, keep.id, other.id, datetime.now(UTC), "by hand (redline merge)"
        )
    print(
        f"merged item {other.id} into item {keep.id}: {plural(done.versions, 'version')}, "
        f"{plural(done.changes, 'change')} written anew"
    )
    return 0


def cmd_split(args: argparse.Namespace, engine: Engine, config: object) -> int:
    from storage import transaction
    from tracker.record import merge

    with transaction(engine) as session:
        item = find_item(session, args.item)
        assert item.id is not None
        done = merge.split_item(session, item.id, args.at, datetime.now(UTC))
    print(
        f"split item {item.id} at version {args.at}: its versions {args.at} on are now "
        f"item {done.item_id} ({plural(done.versions, 'version')})"
    )
    return 0
