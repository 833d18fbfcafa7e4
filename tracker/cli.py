"""The `redline` command: add sources, check them, read items, diffs and feeds, run the daemon.

User errors end with a one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage import (
    MAX_ID,
    PoolSettings,
    Source,
    StorageError,
    database_url,
    ensure_intact,
    ensure_schema,
    make_engine,
    queries,
    schema_state,
    transaction,
    upgrade,
)
from storage.types import iso_z
from tracker import __version__, cli_identity, cli_notify, history, netguard, render
from tracker.cli_lookup import find_item, url_errors
from tracker.config import Config, load_config, parse_duration, parse_interval
from tracker.errors import RedlineError, UserError
from tracker.extract import KINDS
from tracker.logs import configure_logging
from tracker.normalise import canonical_url, redact_url
from tracker.tuning import TUNINGS
from tracker.words import plural

DEFAULT_EVERY = "15m"
DEFAULT_TICK = "30s"
DIFF_FORMATS = ("color", "text", "html", "side-by-side", "json", "patch")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("INFO" if args.verbose else "WARNING", libraries=args.verbose)
    # Alembic narrates every migration at INFO; `db upgrade` prints its own summary.
    logging.getLogger("alembic").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        config_path = args.config or os.environ.get("REDLINE_CONFIG")
        config = load_config(config_path) if config_path else Config()
        netguard.configure(config.fetch)  # which addresses may be fetched ([fetch])
        if args.command == "run":  # the daemon logs one line per check, as configured
            level = "DEBUG" if args.verbose else config.daemon.log_level
            configure_logging(level, config.daemon.log_format, libraries=args.verbose)
        pool = PoolSettings.from_env(config.pool_size, config.max_overflow)
        engine = make_engine(database_url(args.db, config.db), pool)
        if _writes(args):
            ensure_intact(engine)  # a damaged SQLite file is not written to
        if args.command != "db":
            # An empty database is created; one of another schema version is refused.
            ensure_schema(engine)
        if config_path and config.notify is not None and args.command in NOTIFY_SYNC_COMMANDS:
            from tracker.notify.subscriptions import sync_config

            with transaction(engine) as session:
                sync_config(session, config.notify)
        return int(args.handler(args, engine, config) or 0)
    except (RedlineError, StorageError) as error:
        # The message may quote a URL as typed, credentials and all.
        print(f"redline: {redact_url(str(error))}", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        print(
            f"redline: database error: {error.__class__.__name__}: {error.orig or error}",
            file=sys.stderr,
        )
        return 1
    except BrokenPipeError:  # `redline feed | head`
        return 0
    except KeyboardInterrupt:  # Ctrl-C: the command's with/finally blocks ran on the way here
        print("redline: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it


# Commands that write to the database (the others only read it); `source` edits one.
WRITING_COMMANDS = frozenset({"add", "check", "run", "serve", "import", "source", "notify"})
# Commands that make the database's subscriptions what redline.toml's [[notify]] say.
NOTIFY_SYNC_COMMANDS = frozenset({"check", "run", "notify"})


def _writes(args: argparse.Namespace) -> bool:
    return args.command in WRITING_COMMANDS or (
        args.command == "db" and args.action in ("upgrade", "rejudge")
    )


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but a mistake in the arguments is one line, as every other bad
    input is (argparse prints its usage block first), naming the help that has the rest."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"redline: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="redline", description="Track edited news items.")
    parser.add_argument("--version", action="version", version=f"redline {__version__}")
    parser.add_argument(
        "--db", help="database URL (env REDLINE_DB; default sqlite:///./redline.db)"
    )
    parser.add_argument("--config", help="a redline.toml (env REDLINE_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def verb(
        name: str, handler: Callable[..., int | None], help_text: str
    ) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

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

    check = verb("check", cmd_check, "check due sources once now and summarise what changed")
    check.add_argument("--all", action="store_true", help="check every enabled source, due or not")
    check.add_argument(
        "--every", default=DEFAULT_EVERY, help="interval until the next check (default 15m)"
    )

    sources = verb("sources", cmd_sources, "list sources and their health")
    sources.add_argument("--json", action="store_true")

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

    status = verb(
        "status", cmd_status, "how the service is doing: due, late, in-flight, failing, activity"
    )
    status.add_argument("--json", action="store_true")

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

    cli_identity.add_verbs(verb)
    cli_notify.add_verbs(verb)

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

    run = verb("run", cmd_run, "the scheduler daemon: check sources as they fall due until stopped")
    run.add_argument(
        "--config",
        default=argparse.SUPPRESS,  # keeps a --config given before the verb
        help="a redline.toml whose sources are added before starting",
    )
    run.add_argument("--every", help="default interval between checks of a source (default 15m)")
    run.add_argument(
        "--tick", default=DEFAULT_TICK, help="how often to look for due sources (default 30s)"
    )
    run.add_argument(
        "--worker",
        metavar="NAME",
        help="this worker's name in leases and logs (default HOST:PID:run)",
    )
    run.add_argument("--serve", action="store_true", help="also serve HTTP (as `redline serve`)")
    _serve_options(run)

    serve = verb("serve", cmd_serve, "the HTTP service: feeds, JSON API and history pages")
    _serve_options(serve)
    serve.add_argument(
        "--workers", help="server processes taking turns on the address (default 1; 1-64)"
    )

    db = verb(
        "db",
        cmd_db,
        "the database schema: show its revision, upgrade it, or judge every stored edit "
        "again (rejudge: class, score and reasons, after an upgrade from minor/substantive)",
    )
    db.add_argument(
        "action", choices=("status", "upgrade", "rejudge"), help="status, upgrade or rejudge"
    )

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
    return parser


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


def _every(text: str) -> timedelta:
    """--every: a check interval in the allowed range, or a UserError naming the option."""
    try:
        return parse_interval(text)
    except UserError as error:
        raise UserError(f"--every: {error}") from None


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument(
        "--public-url", help="the service's address as readers see it, for absolute links"
    )


def cmd_add(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from tracker.sources import add_source

    every = _every(args.every) if args.every is not None else None
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
    """`redline source edit|disable|enable ID`: tracker.sources.edit_source, as PATCH does."""
    from tracker.sources import edit_source

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
        when = f"every {_human(timedelta(seconds=source.interval_seconds))}"
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
    from tracker.archives import dir_snapshots, git_snapshots, manifest_snapshots
    from tracker.progress import import_reporter
    from tracker.replay import import_snapshots

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
    from storage import Source
    from tracker.sources import add_source

    with transaction(engine) as session:
        if args.source is not None:
            if args.url:
                raise UserError("give --source ID or --url URL, not both")
            if session.get(Source, _source_id(args.source)) is None:
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


def cmd_check(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from tracker.check import check_round
    from tracker.progress import choose_reporter, round_size
    from tracker.schedule import Policy

    policy = Policy.from_settings(config.daemon, _every(args.every))
    held_elsewhere = _leased_elsewhere(engine, args.all)  # the round leaves these alone
    # A bar on a terminal, a line per source otherwise (tracker/progress.py); checks run
    # as the daemon's do: [daemon] concurrency, per_host and host_delay.
    with choose_reporter(sys.stdout) as reporter:
        reporter.start(round_size(engine, all_sources=args.all))
        results = check_round(
            engine,
            all_sources=args.all,
            policy=policy,
            on_result=reporter.advance,
            settings=config.daemon,
            archive=config.archive.enabled,
        )
        reporter.finish(results)
    if held_elsewhere:
        print(held_elsewhere)
    _send_notifications(engine, config)
    _archive_versions(engine, config)
    return 0


def _send_notifications(engine: Engine, config: Config) -> None:
    """After a round, what it has to tell subscribers (the daemon does this every second)."""
    from tracker.notify.sender import send_due

    done = send_due(engine, config.notifications, "redline-check", cli_notify.links_url(config))
    if done is not None and (done.sent or done.failed or done.dead):
        print(
            f"notifications: {done.sent} sent, {done.failed} to be tried again, "
            f"{done.dead} given up"
        )


def _archive_versions(engine: Engine, config: Config) -> None:
    """After a round, ask the Wayback Machine to save the new versions of item pages, for
    a while at most ([archive]; the daemon does this every few seconds)."""
    from tracker.archive_links import archive_due

    done = archive_due(engine, config.archive)
    if done is not None and (done.archived or done.waiting or done.failed or done.given_up):
        print(
            f"archive: {done.archived} archived, {done.waiting + done.failed} to be asked "
            f"again, {done.given_up} given up"
        )


def _leased_elsewhere(engine: Engine, all_sources: bool) -> str | None:
    """Why a round leaves sources out: other workers hold them (a daemon checking them,
    or a `redline check` that was killed, whose leases last until they expire)."""
    from sqlmodel import Session

    from storage import leases, utcnow

    now = utcnow()
    with Session(engine) as session:  # a read: no write lock
        holders = leases.holders(session, None if all_sources else now, now)
    if not holders:
        return None
    count = sum(holder.sources for holder in holders)
    sources = "1 source" if count == 1 else f"{count} sources"
    by_whom = ", ".join(
        f"{holder.sources} by {holder.worker} until {iso_z(holder.until.replace(microsecond=0))}"
        for holder in holders
    )
    return (
        f"{sources} not checked: leased by other workers ({by_whom}); a worker that "
        "was stopped or killed keeps its leases until they expire"
    )


def cmd_sources(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from tracker.status import source_health

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
            for s in queries.all_sources(session)
        ]
    if args.json:
        return _print_json(rows)
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
    """The source's health (tracker.status.source_health) in words, with its last error."""
    failures, error = row["consecutive_failures"], row["last_error"]
    if row["health"] == "failing":
        return f"FAILING ({failures}x): {error}"
    if row["health"] == "erring":
        return f"ok, last check failed ({failures}x): {error}"
    if row["health"] == "disabled":
        return "disabled"
    return "ok"


def cmd_status(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import utcnow
    from tracker import status

    report = status.gather(engine, utcnow(), failing_after=config.daemon.failing_after)
    if args.json:
        return _print_json(status.as_json(report))
    sys.stdout.write(status.render_text(report))
    return 0


def cmd_items(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    with transaction(engine) as session:
        rows = [
            {"id": i.id, "url": i.url, "headline": i.headline, "versions": i.version_count}
            for i in queries.all_items(session)
        ]
    if args.json:
        return _print_json(rows)
    for row in rows:
        print(f"{row['id']:>5}  v{row['versions']:<3} {row['headline']}\n       {row['url']}")
    return 0


def cmd_history(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    with transaction(engine) as session:
        item = find_item(session, args.item)
        document = history.history_document(session, item)
    if args.kind:
        document["versions"] = [v for v in document["versions"] if _kept(args.kind, v["change"])]
    if args.json:
        return _print_json(document)
    print(f"item {item.id}: {item.headline}\n  url: {item.url}")
    if item.removed_at:
        print(f"  removed from its listing at {iso_z(item.removed_at)}")
    for url in document["item"]["urls"]:
        if url != canonical_url(item.url or ""):
            print(f"  also: {url}")
    for v in document["versions"]:
        when = v["reported_at"] or v["observed_at"]
        print(
            f"\nv{v['n']}  {when}  {v['origin']}  {_change_line(v['change'])}\n    {v['headline']}"
        )
        for reason in (v["change"] or {}).get("reasons") or []:
            print(f"    - {reason}")
    return 0


HISTORY_KINDS = ("editorial", "substantive", "rewording", "style", "minor")
# `redline feed --kind`: the feeds' ?kind= values (feeds.atom.KINDS; a test keeps them equal).
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
    from tracker import export

    if [args.item is not None, args.source is not None, args.all].count(True) != 1:
        raise UserError("say what to export: one of ITEM, --source ID or --all")
    source_id = _source_id(args.source) if args.source is not None else None
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
    with transaction(engine) as session:
        item = find_item(session, args.item)
        versions = queries.versions_of(session, item.id)
        new = history.pick_version(versions, args.to_ref)
        old = history.pick_version(versions, args.from_ref, before=new)
        field_ops = history.readable_diff(history.diff_versions(old, new))
    fmt = args.format or ("color" if _colour_terminal() else "text")
    if fmt == "json":
        fields = {name: [[op, text] for op, text in ops] for name, ops in field_ops.items()}
        return _print_json({"from": old.n, "to": new.n, "fields": fields})
    sys.stdout.write(render.render_diff_document(item.id or 0, old, new, field_ops, fmt))
    return 0


def _colour_terminal() -> bool:
    """Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org)."""
    return (
        sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    )


def cmd_feed(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from feeds import atom
    from feeds.settings import ServiceSettings

    if not 1 <= args.limit <= atom.MAX_PAGE_SIZE:
        raise UserError(
            f"--limit is the entries per page, from 1 to {atom.MAX_PAGE_SIZE}, not {args.limit}"
        )
    settings = ServiceSettings.from_env(
        public_url=_public_url(args.public_url, config, *_listen_address(None, None, config)),
        tag_authority=args.authority or config.tag_authority,
    )
    feed_config = atom.FeedConfig(
        authority=settings.tag_authority,
        public_url=settings.public_url,
        page_size=atom.bounded_limit(args.limit),
    )
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".atom", ".xml"):
        with transaction(engine) as session, _write_errors(out):
            written = atom.write_static(session, feed_config, out, args.kind)
        print(
            f"wrote {plural(len(written), 'feed page')} to {out}/ "
            f"(publish it as {feed_config.base}/feeds/)",
            file=sys.stderr,
        )
        return 0
    with transaction(engine) as session:
        query = atom.FeedQuery(kind=args.kind, limit=args.limit)
        document = atom.build_feed(session, feed_config, query)
    if out is not None:
        with _write_errors(out):
            out.write_bytes(document)
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(document)
    return 0


def cmd_run(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from tracker.daemon import Daemon, exit_now, run_daemon
    from tracker.sources import add_source

    every = _every(args.every) if args.every is not None else config.every or _every(DEFAULT_EVERY)
    tick = parse_duration(args.tick)
    # Bound before the banner: a port in use ends here, before anything says it runs.
    listener = _listen(args, config) if args.serve else None
    with transaction(engine) as session:
        for entry in config.sources:
            add_source(
                session,
                entry.url,
                entry.kind,
                entry.name,
                entry.every,
                entry.options,
                entry.cron,
                site=entry.site,
            )
        count = len(queries.all_sources(session))
    where = engine.url.render_as_string(hide_password=True)
    print(
        f"redline {__version__}: checking {plural(count, 'source')} (every {_human(every)} "
        f"unless set per source); database {where}. Ctrl-C to stop.",
        file=sys.stderr,
        flush=True,
    )
    notify = config.notifications
    links = cli_notify.links_url(config, getattr(args, "public_url", None))
    if listener is None:
        abandoned = run_daemon(
            engine, every, tick, None, config.daemon, args.worker, notify, links, config.archive
        )
    else:
        daemon = Daemon(
            engine, every, tick, config.daemon, args.worker, notify, links, config.archive
        )
        daemon.start()
        try:  # uvicorn handles SIGTERM / Ctrl-C; the daemon stops when it returns
            _serve(listener, args, engine, config, workers=1)
        finally:
            abandoned = daemon.stop()
    if abandoned:  # their fetches are still running; nothing of theirs will be recorded
        exit_now(0)
    return 0


def cmd_serve(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    given = args.workers if args.workers is not None else config.serve.get("workers", 1)
    workers = _workers(given)  # refused before the address is bound
    _serve(_listen(args, config), args, engine, config, workers)
    return 0


@dataclass
class Listener:
    """The HTTP service's socket, bound and listening, and its address."""

    sock: socket.socket
    host: str
    port: int

    @property
    def url(self) -> str:
        return (
            f"http://[{self.host}]:{self.port}"
            if ":" in self.host
            else f"http://{self.host}:{self.port}"
        )


def _listen(args: argparse.Namespace, config: Config) -> Listener:
    """Bind the service's address now, so a bad port or one in use is a one-line error
    before anything is printed as if serving."""
    host = args.host or str(config.serve.get("host", "127.0.0.1"))
    port = _port(args.port if args.port is not None else config.serve.get("port", 8000))
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family)
    except OSError as error:  # in use, not an address of this machine, unknown host
        system = isinstance(error.errno, int) and error.errno > 0  # not a lookup failure
        reason = os.strerror(error.errno) if system else error.strerror or str(error)
        raise UserError(f"cannot listen on http://{host}:{port}: {reason}") from None
    return Listener(sock, host, port)


def _port(value: object) -> int:
    return _whole_number(value, "a port", 1, 65535)


def _whole_number(value: object, what: str, low: int, high: int) -> int:
    """A whole number from low to high, written in digits (an option or a config value);
    anything else a one-line UserError naming `what` it should be."""
    text = str(value).strip()
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(high))
    number = int(text) if digits else low - 1
    if not low <= number <= high:
        raise UserError(f"not {what}: {text!r} ({low} to {high})")
    return number


def _serve(
    listener: Listener, args: argparse.Namespace, engine: Engine, config: Config, workers: int
) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from feeds.app import WORKER_ENV, create_app
    from feeds.settings import ServiceSettings
    from storage.db import PoolSettings

    serve = config.serve
    with listener.sock:
        settings = ServiceSettings.from_env(
            public_url=_public_url(args.public_url, config, listener.host, listener.port),
            tag_authority=config.tag_authority,
            api_token=serve.get("token"),
            failing_after=config.daemon.failing_after,
            notify_per_minute=config.notifications.per_minute,
        )
        proxy = _proxy_options(serve.get("forwarded_allow_ips"))  # refused before we start
        public = settings.public_url.rstrip("/")
        print(f"redline {__version__}: serving on {listener.url}", file=sys.stderr)
        print(f"feed of edits: {public}/feeds/edits.atom", file=sys.stderr, flush=True)
        # uvicorn shuts down gracefully on SIGTERM / Ctrl-C, then raises the signal again
        # for the handler that was there before it; with this one, that ends in status 0.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda _signum, _frame: None)
        if workers == 1:
            app = create_app(engine, settings)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **proxy))
            server.run(sockets=[listener.sock])
            return
        # Each worker is a new process: it builds its own app (feeds.app.worker_app) from
        # what this one was given, and they take turns accepting on the one socket.
        os.environ[WORKER_ENV] = json.dumps(
            {
                "db": engine.url.render_as_string(hide_password=False),
                "pool": dataclasses.asdict(PoolSettings.from_env()),
                "settings": dataclasses.asdict(settings),
            }
        )
        config = uvicorn.Config(
            "feeds.app:worker_app", factory=True, workers=workers, log_level="warning", **proxy
        )
        Multiprocess(config, sockets=[listener.sock]).run()


def _workers(value: object) -> int:
    """--workers / [serve] workers: 1 to 64 server processes."""
    return _whole_number(value, "a number of workers", 1, 64)


def _listen_address(host: str | None, port: int | None, config: Config) -> tuple[str, int]:
    """Where `redline serve` listens: --host/--port, else [serve] host/port, else 127.0.0.1:8000."""
    host = host or str(config.serve.get("host", "127.0.0.1"))
    port = port or int(str(config.serve.get("port", 8000)))
    return host, port


def _public_url(given: str | None, config: Config, host: str, port: int) -> str:
    """Where readers reach the service, for absolute links (`serve` and `feed` agree):
    --public-url, [serve] public_url, REDLINE_PUBLIC_URL, else the address it listens on."""
    configured = given or config.serve.get("public_url") or os.environ.get("REDLINE_PUBLIC_URL")
    if configured:
        return str(configured)
    if host in ("0.0.0.0", "::", ""):  # every interface: this machine's loopback works
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _proxy_options(trusted: object) -> dict[str, Any]:
    """uvicorn's options for X-Forwarded-For/-Proto: believed only from the proxies listed
    in [serve] forwarded_allow_ips. uvicorn's own default trusts 127.0.0.1, which lets
    anyone who reaches the service through a local proxy pick their address (and so
    get round the per-address write limit)."""
    if isinstance(trusted, str):  # "127.0.0.1, 10.0.0.2", as uvicorn's own option
        trusted = [part.strip() for part in trusted.split(",") if part.strip()]
    if trusted is None or trusted == []:
        return {"proxy_headers": False}
    if not isinstance(trusted, list) or not all(isinstance(ip, str) and ip for ip in trusted):
        raise UserError(
            '[serve] forwarded_allow_ips is a list of proxy addresses, like ["127.0.0.1"]'
        )
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


# The revision from which items belong to sites (storage migration 0006).
SITES_REVISION = "0006"


def _merge_site_duplicates(engine: Engine) -> None:
    """Items that sources of one site recorded apart under one alias become one item."""
    from storage import utcnow
    from tracker.merge import merge_site_duplicates

    with transaction(engine) as session:
        merged = merge_site_duplicates(session, utcnow())
    if merged:
        print(f"  {plural(merged, 'item')} merged into another of its site (see their Identity)")


def cmd_db(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    where = engine.url.render_as_string(hide_password=True)
    if args.action == "upgrade":
        before, after = upgrade(engine)
        if before == after:
            print(f"{where}: schema already at revision {after} (the newest)")
        else:
            print(f"{where}: schema upgraded from {before or 'empty'} to revision {after}")
        if before is not None and before < SITES_REVISION <= after:
            _merge_site_duplicates(engine)
        return 0
    if args.action == "rejudge":
        ensure_schema(engine)
        with transaction(engine) as session:
            changed = history.rejudge(session)
        print(f"{where}: {plural(changed, 'edit')} judged differently now")
        return 0
    state = schema_state(engine)
    if state.up_to_date:
        print(f"{where}: schema at revision {state.current} (the newest)")
    elif state.empty:
        print(f"{where}: empty; `redline db upgrade` (or any other command) creates it")
    elif not state.known:
        print(f"{where}: schema at revision {state.current}, newer than this redline")
        return 1
    else:
        print(
            f"{where}: schema at revision {state.current}, {state.head} available: "
            "run `redline db upgrade`"
        )
        return 1
    return 0


def _source_id(source_id: int) -> int:
    """--source ID, if a row could have it (else no such source: PostgreSQL's ids are
    32-bit, and SQLite refuses to bind ids above 64 bits)."""
    if not 1 <= source_id <= MAX_ID:
        raise UserError(f"no source {source_id}")
    return source_id


@contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """An output file or folder that cannot be written, as a UserError naming it."""
    try:
        yield
    except OSError as error:
        where = error.filename or path
        missing = Path(where).parent
        reason = (
            f"the folder {missing} does not exist"
            if isinstance(error, FileNotFoundError) and not missing.is_dir()
            else error.strerror
        )
        raise UserError(f"cannot write {where}: {reason}") from None


def _human(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _print_json(document: Any) -> int:
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
