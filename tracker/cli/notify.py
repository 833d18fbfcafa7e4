"""`redline notify add|list|remove|test|send`: who is told about which changes
(tracker/notify/). Its handlers import the database and the notify modules they use when
they run: every `redline` command builds this verb's parser, and should not pay for them
(start-up time)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracker.errors import UserError
from tracker.notify import filters
from tracker.run.config import Config
from tracker.words import plural

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from storage import Subscription

# Repeatable flags -> the filter key each fills.
FILTER_FLAGS = (
    ("--source", "sources", "ID", "changes of this source"),
    ("--site", "sites", "NAME", "changes of this site's sources"),
    ("--tag", "tags", "TAG", "changes of items with this tag"),
    ("--item", "items", "ID", "changes of this item"),
    ("--field", "fields", "FIELD", "edits that change this field (headline, summary, ...)"),
    (
        "--class",
        "classes",
        "CLASS",
        f"edits of this significance class: {', '.join(filters.CLASSES)} "
        f"(default {', '.join(filters.DEFAULT_CLASSES)})",
    ),
    (
        "--kind",
        "kinds",
        "KIND",
        f"changes of this kind: {', '.join(filters.KINDS)} "
        f"(default {' and '.join(filters.DEFAULT_KINDS)})",
    ),
)


def add_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    notify = verb(
        "notify", cmd_notify, "tell people about changes: webhooks, Slack, e-mail, ... (Apprise)"
    )
    actions = notify.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="subscribe a target to changes",
        description="Subscribe TARGET: an http(s) URL (a webhook, sent signed JSON) or an "
        "Apprise URL (slack://, mailto://, ntfy://, ...). Each filter flag is repeatable; "
        "flags of different kinds must all match.",
    )
    add.add_argument("target")
    add.add_argument("--name", help="a name to refer to it by")
    add.add_argument("--secret", help="a webhook's signing key (default: a random one, printed)")
    add.add_argument("--per-minute", metavar="N", help="deliveries a minute at most (default 30)")
    for flag, key, metavar, meaning in FILTER_FLAGS:
        add.add_argument(flag, dest=key, action="append", metavar=metavar, help=meaning)
    listing = actions.add_parser("list", help="subscriptions and their deliveries")
    listing.add_argument("--json", action="store_true")
    remove = actions.add_parser("remove", help="remove a subscription (ID or name)")
    remove.add_argument("ref", metavar="ID")
    test = actions.add_parser("test", help="send a sample notification to a subscription now")
    test.add_argument("ref", metavar="ID")
    actions.add_parser("send", help="send the notifications due now (the daemon does this)")


def cmd_notify(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    handlers: dict[str, Callable[[argparse.Namespace, Engine, Config], int]] = {
        "add": _add,
        "list": _list,
        "remove": _remove,
        "test": _test,
        "send": _send,
    }
    return handlers[args.action](args, engine, config)


def _add(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import transaction
    from tracker.notify import subscriptions

    given = {key: getattr(args, key) for _, key, _, _ in FILTER_FLAGS if getattr(args, key)}
    with transaction(engine) as session:
        sub = subscriptions.add_subscription(
            session, args.target, given, args.name, args.secret, args.per_minute
        )
        print(f"subscription {sub.id}: {_summary(sub)}")
        if subscriptions.target_kind(sub.target) == "webhook" and args.secret is None:
            print(f"  signing secret (keep it for verifying, it is not shown again): {sub.secret}")
    return 0


def _list(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    import json

    from sqlmodel import Session

    from tracker.notify import subscriptions

    with Session(engine) as session:
        subs = subscriptions.all_subscriptions(session)
        rows = subscriptions.overview(session, subs, config.notifications.per_minute)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no subscriptions (add one with `redline notify add TARGET`)")
    for sub, row in zip(subs, rows, strict=True):
        done = row["deliveries"]
        error = f"; last error: {row['last_error']}" if row["last_error"] else ""
        print(
            f"{sub.id}  {_summary(sub)}\n    {done['pending']} pending, {done['sent']} sent, "
            f"{done['dead']} given up{error}"
        )
    return 0


def _summary(sub: Subscription) -> str:
    from tracker.notify.entries import redact
    from tracker.notify.kinds import target_kind

    name = f"{sub.name!r} " if sub.name else ""
    origin = " (from redline.toml)" if sub.from_config else ""
    return (
        f"{name}{target_kind(sub.target)} {redact(sub.target)}"
        f"{origin}: {filters.describe(sub.filters)}"
    )


def _remove(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import transaction
    from tracker.notify import subscriptions

    with transaction(engine) as session:
        sub = subscriptions.find_subscription(session, args.ref)
        if sub.from_config:
            raise UserError(
                f"subscription {sub.id} is redline.toml's [[notify]] {sub.name!r}: remove it there"
            )
        gone = subscriptions.remove_subscription(session, sub)
    print(f"removed subscription {sub.id} and its {plural(gone, 'delivery', 'deliveries')}")
    return 0


def _test(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    import uuid

    from sqlmodel import Session

    from tracker.notify import sender, subscriptions
    from tracker.notify.entries import redact
    from tracker.notify.message import sample

    with Session(engine, expire_on_commit=False) as session:
        sub = subscriptions.find_subscription(session, args.ref)
    outcome = sender.send(engine, None, sub, f"test-{uuid.uuid4()}", sample(links_url(config)))
    if not outcome.ok:
        print(f"subscription {sub.id}: the test was not delivered: {outcome.error}")
        return 1
    print(f"subscription {sub.id}: test sent to {redact(sub.target)}")
    return 0


def _send(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from tracker.notify import sender

    done = sender.send_due(engine, config.notifications, "redline-notify", links_url(config))
    if done is None:
        print("nothing to send")
    else:
        print(
            f"{plural(done.sent, 'notification')} sent, {done.failed} to be tried again, "
            f"{done.dead} given up"
        )
    return 0


def links_url(config: Config, given: str | None = None) -> str | None:
    """The service's public address for links in notifications (--public-url, else
    [serve] public_url), if one is given."""
    chosen: Any = given or config.serve.get("public_url")
    return str(chosen) if chosen else None
