"""`redline run` and `serve`: the scheduler daemon and the HTTP service, and where they
listen.

Every `redline` command builds these verbs' parsers, so the handlers import the database,
the daemon and the web service when they run: start-up time."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker import __version__
from tracker.cli.common import DEFAULT_EVERY, human_interval, parse_every
from tracker.cli.notify import links_url
from tracker.errors import UserError
from tracker.run.config import Config, parse_duration
from tracker.words import plural

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def add_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """This group's verbs, added to the parser by tracker/cli/main.py's `verb`."""
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


DEFAULT_TICK = "30s"


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument(
        "--public-url", help="the service's address as readers see it, for absolute links"
    )


def cmd_run(args: argparse.Namespace, engine: Engine, config: Config) -> int:
    from storage import source_queries, transaction
    from tracker.run.daemon import Daemon, exit_now, run_daemon
    from tracker.run.sources import add_source

    every = (
        parse_every(args.every)
        if args.every is not None
        else config.every or parse_every(DEFAULT_EVERY)
    )
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
        count = len(source_queries.all_sources(session))
    where = engine.url.render_as_string(hide_password=True)
    print(
        f"redline {__version__}: checking {plural(count, 'source')} (every {human_interval(every)} "
        f"unless set per source); database {where}. Ctrl-C to stop.",
        file=sys.stderr,
        flush=True,
    )
    notify = config.notifications
    links = links_url(config, getattr(args, "public_url", None))
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
            public_url=public_url(args.public_url, config, listener.host, listener.port),
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


def listen_address(host: str | None, port: int | None, config: Config) -> tuple[str, int]:
    """Where `redline serve` listens: --host/--port, else [serve] host/port, else 127.0.0.1:8000."""
    host = host or str(config.serve.get("host", "127.0.0.1"))
    port = port or int(str(config.serve.get("port", 8000)))
    return host, port


def public_url(given: str | None, config: Config, host: str, port: int) -> str:
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
