"""The `redline` command: add sources, check them, read items, diffs and feeds, run the daemon.

User errors end with a one-line message on stderr and exit status 2, never a traceback.

Every command builds the whole parser (tracker/cli/*.py's add_verbs), so the modules that
do a command's work, the database's among them, are imported inside its function, when
it runs: start-up time (`redline --help` and `--version` need none of them).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn

from tracker import __version__
from tracker.cli import identity, notify, reading, service, sources
from tracker.cli.common import DEFAULT_EVERY, parse_every, print_json
from tracker.errors import RedlineError
from tracker.fetch import addresses
from tracker.logs import configure_logging
from tracker.normalise import redact_url
from tracker.run.config import Config, load_config
from tracker.words import plural

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.run.check import CheckResult
    from tracker.run.progress import Reporter


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # --help, --version and bad arguments end here
    if _nothing_to_check(args):
        return 0
    from sqlalchemy.exc import SQLAlchemyError

    from storage import (
        PoolSettings,
        StorageError,
        database_url,
        ensure_intact,
        ensure_schema,
        make_engine,
        transaction,
    )

    configure_logging("INFO" if args.verbose else "WARNING", libraries=args.verbose)
    # Alembic narrates every migration at INFO; `db upgrade` prints its own summary.
    logging.getLogger("alembic").setLevel(logging.INFO if args.verbose else logging.WARNING)
    engine: Engine | None = None
    try:
        config_path = args.config or os.environ.get("REDLINE_CONFIG")
        config = load_config(config_path) if config_path else Config()
        addresses.configure(config.fetch)  # which addresses may be fetched ([fetch])
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
        if config_path and args.command in NOTIFY_SYNC_COMMANDS and _notify_to_sync(config, engine):
            from tracker.notify.subscriptions import sync_config

            with transaction(engine) as session:
                sync_config(session, config.notify or [])
        with _fewer_collections():
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
    finally:
        # Its connections are closed when the command ends, not when the process does:
        # main() may be called in a process that goes on (the tests call it so).
        if engine is not None:
            engine.dispose()


# The cyclic garbage collector's first threshold while a command runs (Python's default
# is 700 allocations). An import or a round keeps a listing's records, the source's index
# and the ORM's session alive (about 140,000 objects), and at the default every snapshot
# or so promoted enough short-lived objects to trigger a full collection walking all of
# them: a py-spy profile of replaying 100 snapshots of a 5,000-item listing put 4.5 s of
# its 38 s in 65 full collections. Collecting every 50,000 allocations cuts that to 0.4 s
# (most short-lived objects die by reference counting first) at the same peak memory.
COLLECT_EVERY = 50_000


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the block with the collector's first threshold at COLLECT_EVERY, put back
    after: main() may run in a process that goes on (the tests call it so)."""
    before = gc.get_threshold()
    gc.set_threshold(COLLECT_EVERY, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


# Commands that write to the database (the others only read it); `source` edits one.
WRITING_COMMANDS = frozenset({"add", "check", "run", "serve", "import", "source", "notify"})
# Commands that make the database's subscriptions what redline.toml's [[notify]] say.
NOTIFY_SYNC_COMMANDS = frozenset({"check", "run", "notify"})


def _nothing_to_check(args: argparse.Namespace) -> bool:
    """`redline check` with nothing to do (a cron job's usual run), answered from the
    standard library's sqlite3 before SQLAlchemy is imported (storage/idle.py), and said
    as the full path says it. False: the full path runs (another database, something due
    or to send, archive requests, [[notify]] tables to store, -v, a setting to check)."""
    if args.command != "check" or args.all or args.verbose:
        return False
    from storage import idle

    try:
        parse_every(args.every)
        config_path = args.config or os.environ.get("REDLINE_CONFIG")
        config = load_config(config_path) if config_path else Config()
    except RedlineError:
        return False  # the full path says what is wrong
    if config.archive.enabled or config.notify:
        return False
    if os.environ.get("REDLINE_DB_POOL_SIZE") or os.environ.get("REDLINE_DB_MAX_OVERFLOW"):
        return False  # the full path reads them (and refuses a bad one)
    path = idle.sqlite_file(idle.database_url(args.db, config.db))
    # A configuration file without [[notify]] tables removes the subscriptions made from
    # one (_notify_to_sync): only with none stored is there nothing to do.
    if path is None or not idle.nothing_to_do(path, from_config_counts=bool(config_path)):
        return False
    from tracker.run.progress import choose_reporter

    with choose_reporter(sys.stdout) as reporter:
        reporter.start(0)
        reporter.finish([])
    return True


def _notify_to_sync(config: Config, engine: Engine) -> bool:
    """Whether the database's subscriptions from redline.toml may differ from its
    [[notify]] tables: it has some, or the database holds some (a file without them
    removes those; with neither, nothing is read through the ORM or written)."""
    from storage import due

    if config.notify is None:
        return False
    return bool(config.notify) or due.any_from_config(engine)


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

    check = verb("check", cmd_check, "check due sources once now and summarise what changed")
    check.add_argument("--all", action="store_true", help="check every enabled source, due or not")
    check.add_argument(
        "--every", default=DEFAULT_EVERY, help="interval until the next check (default 15m)"
    )

    status = verb(
        "status", cmd_status, "how the service is doing: due, late, in-flight, failing, activity"
    )
    status.add_argument("--json", action="store_true")

    sources.add_verbs(verb)
    reading.add_verbs(verb)
    identity.add_verbs(verb)
    notify.add_verbs(verb)

    db = verb(
        "db",
        cmd_db,
        "the database schema: show its revision, upgrade it, or judge every stored edit "
        "again (rejudge: class, score and reasons, after an upgrade from minor/substantive)",
    )
    db.add_argument(
        "action", choices=("status", "upgrade", "rejudge"), help="status, upgrade or rejudge"
    )

    service.add_verbs(verb)
    return parser


def cmd_check(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import due, utcnow
    from tracker.run.progress import choose_reporter, round_size

    every = parse_every(args.every)
    # Nothing due, held or waiting to be sent (the usual answer to a check from cron):
    # one read with SQLAlchemy Core, and the ORM is not even imported (storage/due.py).
    idle = not args.all and due.nothing_to_do(engine, utcnow())
    # The sources other workers hold: the round leaves them alone.
    held_elsewhere = None if idle else _leased_elsewhere(engine, args.all)
    # A bar on a terminal, a line per source otherwise (tracker/run/progress.py).
    with choose_reporter(sys.stdout) as reporter:
        size = 0 if idle else round_size(engine, all_sources=args.all)
        reporter.start(size)
        # Nothing to check: the round's machinery, fetching, reading pages and recording,
        # is not imported either.
        results = _check_round(engine, args.all, every, config, reporter) if size else []
        reporter.finish(results)
    if held_elsewhere:
        print(held_elsewhere)
    if not idle:
        _send_notifications(engine, config)
    if config.archive.enabled:  # [archive] is off unless enabled
        _archive_versions(engine, config)
    return 0


def _check_round(
    engine: Engine, all_sources: bool, every: timedelta, config: Config, reporter: Reporter
) -> list[CheckResult]:
    """One round over the sources due (or all), checked as the daemon checks them:
    [daemon] concurrency, per_host and host_delay."""
    from tracker.run.rounds import check_round
    from tracker.run.schedule import Policy

    return check_round(
        engine,
        all_sources=all_sources,
        policy=Policy.from_settings(config.daemon, every),
        on_result=reporter.advance,
        settings=config.daemon,
        archive=config.archive.enabled,
    )


def _send_notifications(engine: Engine, config: Config) -> None:
    """After a round, what it has to tell subscribers (the daemon does this every second)."""
    from sqlmodel import Session

    from tracker.notify import outbox

    with Session(engine) as session:  # a read: no write lock
        if not outbox.any_pending(session):
            return  # nothing to send: the sending code is not imported
    from tracker.notify.sender import send_due

    done = send_due(engine, config.notifications, "redline-check", notify.links_url(config))
    if done is not None and (done.sent or done.failed or done.dead):
        print(
            f"notifications: {done.sent} sent, {done.failed} to be tried again, "
            f"{done.dead} given up"
        )


def _archive_versions(engine: Engine, config: Config) -> None:
    """After a round, ask the Wayback Machine to save the new versions of item pages, for
    a while at most ([archive]; the daemon does this every few seconds)."""
    from tracker.run.archive_links import archive_due

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
    from storage.types import iso_z

    now = utcnow()
    with Session(engine) as session:  # a read: no write lock
        holders = leases.holders(session, None if all_sources else now, now)
    if not holders:
        return None
    count = sum(holder.sources for holder in holders)
    how_many = "1 source" if count == 1 else f"{count} sources"
    by_whom = ", ".join(
        f"{holder.sources} by {holder.worker} until {iso_z(holder.until.replace(microsecond=0))}"
        for holder in holders
    )
    return (
        f"{how_many} not checked: leased by other workers ({by_whom}); a worker that "
        "was stopped or killed keeps its leases until they expire"
    )


def cmd_status(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import utcnow
    from tracker.run import status

    report = status.gather(engine, utcnow(), failing_after=config.daemon.failing_after)
    if args.json:
        return print_json(status.as_json(report))
    sys.stdout.write(status.render_text(report))
    return 0


# The revision from which items belong to sites (storage migration 0006).
SITES_REVISION = "0006"
# Revisions that shrink rows in place, and what they shrink (0014 only SQLite's times:
# PostgreSQL's were 8 bytes already).
COMPACTING = {"0014": "times", "0015": "hashes", "0016": "diffs"}


def _merge_site_duplicates(engine: Engine) -> None:
    """Items that sources of one site recorded apart under one alias become one item."""
    from storage import transaction, utcnow
    from tracker.record.merge import merge_site_duplicates

    with transaction(engine) as session:
        merged = merge_site_duplicates(session, utcnow())
    if merged:
        print(f"  {plural(merged, 'item')} merged into another of its site (see their Identity)")


def _compact_store_hint(engine: Engine, before: str, after: str) -> str | None:
    """After the COMPACTING revisions the rows shrank in place: the file gives the space
    back only when the database is rebuilt. None if the upgrade crossed none of them."""
    import shlex

    sqlite = engine.dialect.name == "sqlite"
    shrunk = [
        what
        for revision, what in COMPACTING.items()
        if before < revision <= after and (sqlite or revision != "0014")
    ]
    if not shrunk:
        return None
    things = " and ".join([", ".join(shrunk[:-1]), shrunk[-1]] if len(shrunk) > 1 else shrunk)
    if not sqlite:
        return f"{things} take less space now; VACUUM FULL gives it back to the file system"
    vacuum = f"sqlite3 {shlex.quote(engine.url.database or '')} VACUUM"
    return (
        f"{things} take less space now; `{vacuum}` (with no redline running) gives "
        "it back to the file system"
    )


def cmd_db(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import ensure_schema, schema_state, transaction, upgrade

    where = engine.url.render_as_string(hide_password=True)
    if args.action == "upgrade":
        before, after = upgrade(engine)
        if before == after:
            print(f"{where}: schema already at revision {after} (the newest)")
        else:
            print(f"{where}: schema upgraded from {before or 'empty'} to revision {after}")
        if before is not None and before < SITES_REVISION <= after:
            _merge_site_duplicates(engine)
        hint = _compact_store_hint(engine, before, after) if before is not None else None
        if hint:
            print(f"  {hint}")
        return 0
    if args.action == "rejudge":
        from tracker.record import history

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


if __name__ == "__main__":
    sys.exit(main())
