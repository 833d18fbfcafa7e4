"""`redline items`, `history`, `export`, `diff` and `feed`: reading what was recorded.

Every `redline` command builds these verbs' parsers, so the handlers import the database
and what reads and renders a history (tracker.record, tracker.present, feeds) when they
run: start-up time."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.cli.common import checked_source_id, find_item, print_json, write_errors
from tracker.cli.service import listen_address, public_url
from tracker.errors import UserError
from tracker.normalise import canonical_url
from tracker.run.config import Config
from tracker.words import plural

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def add_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """This group's verbs, added to the parser by tracker/cli/main.py's `verb`."""
    items = verb("items", cmd_items, "list tracked items")
    items.add_argument("--json", action="store_true")
    hist = verb(
        "history", cmd_history, "every version of an item (ITEM = id or any URL it has had)"
    )
    hist.add_argument("item")
    hist.add_argument("--json", action="store_true")
    hist.add_argument(
        "--kind",
        choices=HISTORY_KINDS,
        help="only the versions made by edits of this class (editorial: substantive or "
        "rewording; minor: style)",
    )
    export = verb(
        "export",
        cmd_export,
        "every version and change of items, as json, ndjson or csv, for other tools",
    )
    export.add_argument("item", nargs="?", help="an item id or any URL it has had")
    export.add_argument("--source", type=int, metavar="ID", help="every item of this source")
    export.add_argument("--all", action="store_true", help="every item")
    export.add_argument(
        "--format",
        choices=("json", "ndjson", "csv"),
        default="json",
        help="json (one document, the default), ndjson (a version or change per line) or "
        "csv (a row per version)",
    )
    export.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    diff_cmd = verb("diff", cmd_diff, "what changed between two versions of an item")
    diff_cmd.add_argument("item")
    diff_cmd.add_argument(
        "--from", dest="from_ref", default="first", help="first (default), previous or N"
    )
    diff_cmd.add_argument("--to", dest="to_ref", default="current", help="current (default) or N")
    diff_cmd.add_argument(
        "--format",
        choices=DIFF_FORMATS,
        help="color (the default on a terminal), text (the default otherwise), html, "
        "side-by-side (HTML table), json or patch",
    )
    feed = verb(
        "feed", cmd_feed, "the Atom feeds of edits: the newest page on stdout, or all as files"
    )
    feed.add_argument(
        "--out",
        metavar="PATH",
        help="a directory: write every feed, every page, as static files to publish at "
        "PUBLIC_URL/feeds/ (edits.atom, sources/ID.atom, sources/ID/listing.atom, items/ID.atom, "
        "tags/TAG.atom); "
        "a file ending in .atom or .xml: write the newest edits there instead of stdout",
    )
    feed.add_argument(
        "--limit", type=int, default=50, help="entries per page (default 50, at most 200)"
    )
    feed.add_argument(
        "--kind",
        choices=FEED_KINDS,
        help="the class of edits the feeds carry, as ?kind= (default editorial: substantive "
        "and rewording; all adds style); with a directory, its edit feeds all carry it",
    )
    feed.add_argument("--authority", help="tag: URI authority for entry ids (a domain you control)")
    feed.add_argument(
        "--public-url",
        help="where the service (or the static files' parent) is published: links start here "
        "(default [serve] public_url, REDLINE_PUBLIC_URL, http://127.0.0.1:8000)",
    )


DIFF_FORMATS = ("color", "text", "html", "side-by-side", "json", "patch")


def cmd_items(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import queries, transaction

    with transaction(engine) as session:
        rows = [
            {"id": i.id, "url": i.url, "headline": i.headline, "versions": i.version_count}
            for i in queries.all_items(session)
        ]
    if args.json:
        return print_json(rows)
    for row in rows:
        print(f"{row['id']:>5}  v{row['versions']:<3} {row['headline']}\n       {row['url']}")
    return 0


def cmd_history(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import transaction
    from storage.types import iso_z
    from tracker.record import history

    with transaction(engine) as session:
        item = find_item(session, args.item)
        document = history.history_document(session, item)
    if args.kind:
        document["versions"] = [v for v in document["versions"] if _kept(args.kind, v["change"])]
    if args.json:
        return print_json(document)
    print(f"item {item.id}: {item.headline}\n  url: {item.url}")
    if item.removed_at:
        print(f"  removed from its listing at {iso_z(item.removed_at)}")
    for url in document["item"]["urls"]:
        if url != canonical_url(item.url or ""):
            print(f"  also: {url}")
    versions = document["versions"]
    for v, later in zip(versions, [*versions[1:], None], strict=True):
        when = _version_time(v, later)
        print(
            f"\nv{v['n']}  {when}  {v['origin']}  {_change_line(v['change'])}\n    {v['headline']}"
        )
        for reason in (v["change"] or {}).get("reasons") or []:
            print(f"    - {reason}")
    return 0


def _version_time(version: dict, later: dict | None) -> str:
    """When the version began: the time the page reported, else, for a version known
    only from the page's Changes list, no more than that it began before the next one
    (an entry's time is when its headline was replaced); else when redline saw it."""
    if version["reported_at"]:
        return version["reported_at"]
    if version["origin"] == "page-history":
        return (
            f"before {later['reported_at']}" if later and later["reported_at"] else "start unknown"
        )
    return version["observed_at"]


HISTORY_KINDS = ("editorial", "substantive", "rewording", "style", "minor")


# `redline feed --kind`: the feeds' ?kind= values (feeds.feed_query.KINDS; a test keeps them equal).
FEED_KINDS = ("editorial", "all", "substantive", "rewording", "style", "minor", "listing")


def _kept(kind: str, change: dict[str, Any] | None) -> bool:
    """Whether `history --kind KIND` shows the version this change made."""
    wanted = {"editorial": ("substantive", "rewording"), "minor": ("style",)}.get(kind, (kind,))
    return change is not None and change["kind"] == "edited" and change["class"] in wanted


def _change_line(change: dict[str, Any] | None) -> str:
    if change and change.get("variants"):
        return f"{change['kind'].replace('_', ' ')}: {' / '.join(change['variants'])}"
    if not change or change["kind"] != "edited":
        return change["kind"] if change else ""
    fields = ", ".join(change["fields"]) or "nothing visible"
    if change["score"] is not None:
        return f"edited {fields} ({change['class']}, score {change['score']:.2f})"
    similar = f", {change['similarity']:.0%} similar" if change["similarity"] is not None else ""
    return f"edited {fields} ({change['class']}{similar})"


def cmd_export(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from tracker.present import export

    if [args.item is not None, args.source is not None, args.all].count(True) != 1:
        raise UserError("say what to export: one of ITEM, --source ID or --all")
    source_id = checked_source_id(args.source) if args.source is not None else None
    with export.snapshot(engine) as session:
        item_id = find_item(session, args.item).id if args.item is not None else None
        selection = export.Selection(item_id=item_id, source_id=source_id)
        with export.output(args.out) as stream:
            done = export.write_export(session, selection, args.format, stream)
    if args.out:
        print(
            f"wrote {plural(done.items, 'item')} ({plural(done.versions, 'version')}, "
            f"{plural(done.changes, 'change')}) to {args.out}",
            file=sys.stderr,
        )
    return 0


def cmd_diff(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import queries, transaction
    from tracker.present import render
    from tracker.record import history

    with transaction(engine) as session:
        item = find_item(session, args.item)
        versions = queries.versions_of(session, item.id)
        new = history.pick_version(versions, args.to_ref)
        old = history.pick_version(versions, args.from_ref, before=new)
        field_ops = history.readable_diff(history.diff_versions(old, new))
    fmt = args.format or ("color" if _colour_terminal() else "text")
    if fmt == "json":
        fields = {name: [[op, text] for op, text in ops] for name, ops in field_ops.items()}
        return print_json({"from": old.n, "to": new.n, "fields": fields})
    sys.stdout.write(render.render_diff_document(item.id or 0, old, new, field_ops, fmt))
    return 0


def _colour_terminal() -> bool:
    """Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org)."""
    return (
        sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    )


def cmd_feed(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from feeds import atom, feed_names, feed_query, static_feeds
    from feeds.settings import ServiceSettings
    from storage import transaction

    if not 1 <= args.limit <= feed_query.MAX_PAGE_SIZE:
        raise UserError(
            f"--limit is the entries per page, from 1 to {feed_query.MAX_PAGE_SIZE}, "
            f"not {args.limit}"
        )
    settings = ServiceSettings.from_env(
        public_url=public_url(args.public_url, config, *listen_address(None, None, config)),
        tag_authority=args.authority or config.tag_authority,
    )
    feed_config = feed_names.FeedConfig(
        authority=settings.tag_authority,
        public_url=settings.public_url,
        page_size=feed_query.bounded_limit(args.limit),
    )
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".atom", ".xml"):
        with transaction(engine) as session, write_errors(out):
            written = static_feeds.write_static(session, feed_config, out, args.kind)
        print(
            f"wrote {plural(len(written), 'feed page')} to {out}/ "
            f"(publish it as {feed_config.base}/feeds/)",
            file=sys.stderr,
        )
        return 0
    with transaction(engine) as session:
        query = feed_query.FeedQuery(kind=args.kind, limit=args.limit)
        document = atom.build_feed(session, feed_config, query)
    if out is not None:
        with write_errors(out):
            out.write_bytes(document)
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(document)
    return 0
