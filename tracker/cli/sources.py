"""`redline add`, `source`, `sources` and `import`: the sources redline checks, and
snapshot archives replayed into one.

Every `redline` command builds these verbs' parsers, so the handlers import the database
and what adds, edits and replays into sources when they run: start-up time."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.cli.common import (
    checked_source_id,
    human_interval,
    parse_every,
    print_json,
    url_errors,
)
from tracker.errors import UserError
from tracker.extract import KINDS
from tracker.normalise import redact_url
from tracker.run.config import Config, parse_interval
from tracker.tuning import TUNINGS
from tracker.words import plural

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from storage import Source


def add_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """This group's verbs, added to the parser by tracker/cli/main.py's `verb`."""
    add = verb("add", cmd_add, "track a URL (an item page, a day index, a feed, a listing, ...)")
    add.add_argument("url")
    _source_options(add)
    add.add_argument(
        "--every",
        help="how often to check this source (e.g. 1h); default: the daemon's --every, or for "
        "an item page, often while it is young and less as it ages",
    )
    add.add_argument(
        "--cron",
        metavar="LINE",
        help="check at these times instead: a crontab line in UTC, e.g. '*/30 6-22 * * *'",
    )
    source = verb("source", cmd_source, "change a source: edit, disable or enable it")
    actions = source.add_subparsers(dest="action", required=True, metavar="ACTION")
    edit = actions.add_parser(
        "edit",
        help="rename a source or change when it is checked",
        description="Change what is given; the rest stays. The same as PATCH /api/sources/ID.",
    )
    edit.add_argument("id", type=int, metavar="ID", help="the source (see `redline sources`)")
    edit.add_argument("--name", help="a new name ('' clears it)")
    edit.add_argument(
        "--site", metavar="NAME", help="group it with other sources ('' returns to its host)"
    )
    when = edit.add_mutually_exclusive_group()
    when.add_argument(
        "--every",
        help="check every D (e.g. 1h), replacing any cron line; 'default' returns to the "
        "daemon's default",
    )
    when.add_argument("--cron", metavar="LINE", help="check at these times (crontab line, UTC)")
    edit.add_argument(
        "--ignore",
        action="append",
        metavar="REGEX",
        help="noise patterns, replacing the source's (repeatable; --ignore '' clears them)",
    )
    for tuning in TUNINGS:
        edit.add_argument(
            tuning.flag,
            dest=tuning.option,
            metavar="VALUE",
            help=f"{tuning.meaning} ('default' returns to the default)",
        )
    for action, help_text in (
        ("disable", "stop checking a source (its history stays)"),
        ("enable", "check a disabled source again"),
    ):
        toggle = actions.add_parser(action, help=help_text, description=help_text)
        toggle.add_argument("id", type=int, metavar="ID", help="the source (see `redline sources`)")
    sources = verb("sources", cmd_sources, "list sources and their health")
    sources.add_argument("--json", action="store_true")
    replay = verb(
        "import", cmd_import, "replay a snapshot archive (git-scraped repository, folder) as checks"
    )
    archives = replay.add_subparsers(dest="archive", required=True, metavar="ARCHIVE")
    git = archives.add_parser("git", help="every commit that touched a file, oldest first")
    git.add_argument("repo", help="a git repository (a clone; nothing is checked out)")
    git.add_argument("--path", required=True, help="the file in the repository, e.g. data.json")
    git.add_argument("--since", type=_moment, help="only commits from this date/time (UTC)")
    git.add_argument("--until", type=_moment, help="only commits up to this date/time (UTC)")
    folder = archives.add_parser("dir", help="files in a folder, by a manifest or a pattern")
    folder.add_argument("folder")
    chosen = folder.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--manifest", help='a JSON file: {"snapshots": [{"file", "timestamp", "url"?}, ...]}'
    )
    chosen.add_argument(
        "--pattern",
        help="a glob such as '*.csv'; times from the file names if they all hold one, "
        "else from modification times",
    )
    for archive in (git, folder):
        archive.add_argument("--source", type=int, help="an existing source to replay into")
        archive.add_argument("--url", help="or a new source: the URL the snapshots are of")
        _source_options(archive)


def _source_options(parser: argparse.ArgumentParser) -> None:
    """What a new source is: its kind, name, listing field map and identity rules."""
    parser.add_argument("--kind", default="auto", help=f"one of {', '.join(KINDS)} (default auto)")
    parser.add_argument("--name", help="a name for the source, shown in feeds")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=PATH",
        help="listing: where a record's id, headline, summary, url, updated, tags, category or "
        "body is (dotted path into JSON, or CSV column); repeatable",
    )
    parser.add_argument("--items", metavar="PATH", help="listing: dotted path to the JSON list")
    parser.add_argument(
        "--id-pattern", metavar="REGEX", help="the item id inside its URL (group 1)"
    )
    parser.add_argument(
        "--ignore",
        action="append",
        metavar="REGEX",
        help="text that is noise on this source, left out when comparing versions (stored as "
        "seen); repeatable",
    )
    parser.add_argument(
        "--headline-test-window",
        type=float,
        metavar="HOURS",
        help="a headline back to one the item had within HOURS is a headline test, not an "
        "edit (24; 0: off)",
    )
    parser.add_argument(
        "--match-threshold",
        type=float,
        metavar="SCORE",
        help="fuzzy identity: how similar (0-1) a newcomer must be to a departed item (0.6)",
    )
    parser.add_argument(
        "--match-window",
        type=float,
        metavar="HOURS",
        help="fuzzy identity: how long after it left a listing an item may still be paired "
        "with a newcomer (12)",
    )
    parser.add_argument(
        "--site",
        metavar="NAME",
        help="the sources of one site share their items (default: the URL's host without www.)",
    )


def _source_settings(args: argparse.Namespace) -> dict[str, Any]:
    from tracker.extract.listing import parse_field_map

    return {
        "map": parse_field_map(args.map),
        "items": args.items,
        "id_pattern": args.id_pattern,
        "ignore": args.ignore or None,
        "headline_test_hours": args.headline_test_window,
        "match_threshold": args.match_threshold,
        "match_window_hours": args.match_window,
    }


def _moment(text: str) -> datetime:
    """--since/--until: a date or a date and time, read as UTC unless it says otherwise."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or time: {text!r} (e.g. 2022-02-23)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_add(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import transaction
    from tracker.run.sources import add_source

    every = parse_every(args.every) if args.every is not None else None
    options = _source_settings(args)
    with transaction(engine) as session, url_errors(args.url):
        source, added = add_source(
            session, args.url, args.kind, args.name, every, options, cron=args.cron, site=args.site
        )
        word = "added" if added else "already tracked"
        print(f"{word}: source {source.id} {redact_url(source.url)} (kind {source.kind})")
        if not added:
            _say_what_was_not_applied(args, source, every)
    return 0


def _say_what_was_not_applied(
    args: argparse.Namespace, source: Source, every: timedelta | None
) -> None:
    """Adding a tracked URL changes nothing: say so when the user asked for a change, and
    how to make it (the settings of a source are changed on purpose, never by a re-add)."""
    changes = []
    if args.name is not None and args.name != source.name:
        changes.append(f"--name {shlex.quote(args.name)}")
    if every is not None and int(every.total_seconds()) != source.interval_seconds:
        changes.append(f"--every {args.every}")
    if args.cron is not None and " ".join(args.cron.split()) != source.cron:
        changes.append(f"--cron {shlex.quote(args.cron)}")
    if args.ignore and args.ignore != (source.options or {}).get("ignore"):
        changes += [f"--ignore {shlex.quote(pattern)}" for pattern in args.ignore]
    if changes:
        given = " ".join(changes)
        print(
            f"redline: source {source.id} is already tracked, so {given} was not applied; "
            f"to change it: redline source edit {source.id} {given}",
            file=sys.stderr,
        )


def cmd_source(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    """`redline source edit|disable|enable ID`: tracker.run.sources.edit_source, as PATCH does."""
    from storage import transaction
    from tracker.run.sources import edit_source

    changes: dict[str, Any] = {}
    if args.action == "edit":
        if args.name is not None:
            changes["name"] = args.name
        if args.every is not None:
            default = args.every.strip().lower() == "default"
            changes["every"] = None if default else parse_interval(args.every)
        if args.cron is not None:
            changes["cron"] = args.cron
        if args.site is not None:
            changes["site"] = args.site
        if args.ignore is not None:
            changes["ignore"] = [pattern for pattern in args.ignore if pattern != ""]
        for tuning in TUNINGS:
            value = getattr(args, tuning.option)
            if value is not None:
                changes[tuning.option] = None if value.strip().lower() == "default" else value
        if not changes:
            flags = ", ".join(tuning.flag for tuning in TUNINGS)
            raise UserError(
                f"say what to change: --name, --site, --every, --cron, --ignore, {flags}"
            )
    else:
        changes["enabled"] = args.action == "enable"
    with transaction(engine) as session:
        source = edit_source(session, args.id, changes)
        print(_source_summary(source))
        if source.retired_at and source.enabled:
            print(f"  note: it was retired ({source.retired_reason}) and is not checked again")
    return 0


def _source_summary(source: Source) -> str:
    """One line: "source 3 https://... (kind feed): enabled, every 1h, name 'News'"."""
    if source.cron:
        when = f"cron '{source.cron}'"
    elif source.interval_seconds:
        when = f"every {human_interval(timedelta(seconds=source.interval_seconds))}"
    else:
        when = "the default schedule"
    name = f", name {source.name!r}" if source.name else ""
    state = "enabled" if source.enabled else "disabled"
    ignored = (source.options or {}).get("ignore")
    ignore = f", ignore {' '.join(shlex.quote(p) for p in ignored)}" if ignored else ""
    return (
        f"source {source.id} {redact_url(source.url)} (kind {source.kind}): "
        f"{state}, {when}{name}{ignore}"
    )


def cmd_import(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage.types import iso_z
    from tracker.fetch.archives import dir_snapshots, git_snapshots, manifest_snapshots
    from tracker.run.progress import import_reporter
    from tracker.run.replay import import_snapshots

    source_id = _import_target(args, engine)
    with import_reporter(sys.stdout) as reporter:  # the bar shows from the first snapshot
        if args.archive == "git":  # streamed: its length is known once `git log` has run
            snapshots: Any = git_snapshots(
                Path(args.repo), args.path, args.since, args.until, on_count=reporter.set_total
            )
            basis, what = "commit times (committer date, UTC)", f"{args.path} in {args.repo}"
        else:
            if args.manifest:
                snapshots, basis = manifest_snapshots(Path(args.folder), Path(args.manifest))
                what = args.manifest
            else:
                snapshots, basis = dir_snapshots(Path(args.folder), args.pattern)
                what = f"{args.pattern} in {args.folder}"
            reporter.set_total(len(snapshots))
        summary = import_snapshots(engine, source_id, snapshots, reporter.advance)
    window = f" ({iso_z(summary.first)} to {iso_z(summary.last)})" if summary.first else ""
    print(
        f"imported {what} into source {source_id}: {plural(summary.snapshots, 'snapshot')}"
        f"{window}, times from {basis}; {summary.recorded} recorded now, {summary.already} "
        f"already imported, {summary.errors} unreadable; "
        f"{plural(summary.versions, 'new version')}, {plural(summary.changes, 'change')}; "
        f"{summary.seconds:.1f} s "
        f"({summary.snapshots / max(summary.seconds, 1e-9):.1f} snapshots/s)"
    )
    for message in summary.error_messages[:10]:
        print(f"  unreadable: {message}")
    return 0


def _import_target(args: argparse.Namespace, engine: Engine) -> int:
    """The source to replay into: --source ID, or a new one for --url."""
    from storage import Source, transaction
    from tracker.run.sources import add_source

    with transaction(engine) as session:
        if args.source is not None:
            if args.url:
                raise UserError("give --source ID or --url URL, not both")
            if session.get(Source, checked_source_id(args.source)) is None:
                raise UserError(f"no source {args.source}")
            return int(args.source)
        if not args.url:
            raise UserError("say where to replay: --source ID, or --url URL for a new source")
        with url_errors(args.url):
            source, _ = add_source(
                session,
                args.url,
                args.kind,
                args.name,
                None,
                _source_settings(args),
                site=args.site,
            )
        assert source.id is not None
        return source.id


def cmd_sources(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import source_queries, transaction
    from storage.types import iso_z
    from tracker.run.status import source_health

    failing_after = config.daemon.failing_after
    with transaction(engine) as session:
        rows = [
            {
                "id": s.id,
                "url": redact_url(s.url),
                "kind": s.kind,
                "name": s.name,
                "site": s.site,
                "enabled": s.enabled,
                "interval_seconds": s.interval_seconds,
                "cron": s.cron,
                "last_checked_at": iso_z(s.last_checked_at),
                "next_check_at": iso_z(s.next_check_at),
                "consecutive_failures": s.consecutive_failures,
                "last_error": redact_url(s.last_error) if s.last_error else None,
                "retired_at": iso_z(s.retired_at),
                "retired_reason": s.retired_reason,
                "options": s.options,
                "partial_fields": s.partial_fields or [],
                "health": source_health(s, failing_after).state,
            }
            for s in source_queries.all_sources(session)
        ]
    if args.json:
        return print_json(rows)
    for row in rows:
        name = f"{row['name']}  " if row["name"] else ""
        paused = "" if row["enabled"] else "  (disabled)"
        print(f"{row['id']:>4}  {row['kind']:<9} {name}{row['url']}{paused}")
        last = row["last_checked_at"] or "never"
        if row["retired_at"]:  # never checked again: no next time to show
            print(f"      last check {last}, retired: {row['retired_reason'] or 'no reason given'}")
            continue
        upcoming = row["next_check_at"] or "now"
        state = _health(row)
        print(f"      last check {last}, next {upcoming}, {state}")
    if not rows:
        print("no sources yet: add one with `redline add URL`")
    return 0


def _health(row: dict[str, Any]) -> str:
    """The source's health (tracker.run.status.source_health) in words, with its last error."""
    failures, error = row["consecutive_failures"], row["last_error"]
    if row["health"] == "failing":
        return f"FAILING ({failures}x): {error}"
    if row["health"] == "erring":
        return f"ok, last check failed ({failures}x): {error}"
    if row["health"] == "disabled":
        return "disabled"
    return "ok"
