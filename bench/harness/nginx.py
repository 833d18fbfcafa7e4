"""A throwaway nginx (Debian's) serving a directory of static pages to a benchmark.

nginx answers with ETag and Last-Modified taken from each file's modification time and
answers conditional GETs with 304, as a news site's static pages would. It runs in the
foreground under our control, with its own configuration, logs and temp files in a
temporary directory, on an unused port of 127.0.0.1 and any other loopback addresses given
(so one server can stand for several sites).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.harness.peers import require_tool
from bench.harness.processes import free_port, stop, wait_for_port

_CONFIG = """
worker_processes {workers};
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
{access_log}
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html; application/json json; application/atom+xml atom; }}
    default_type text/html;
    charset utf-8;
    keepalive_requests 100000;
    server {{
{listen}
        root {root};
        etag on;
        if_modified_since {if_modified_since};
    }}
}}
"""


def nginx_version() -> str:
    nginx = require_tool("nginx", "nginx-light")
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().removeprefix("nginx version: ")


@contextlib.contextmanager
def serve_directory(
    root: Path,
    addresses: tuple[str, ...] = ("127.0.0.1",),
    workers: int = 1,
    access_log: Path | None = None,
    if_modified_since: str = "exact",
) -> Iterator[int]:
    """Serve `root` on every address at one port; yields the port, stops nginx on exit.

    access_log: a file to which nginx appends a line per request, "STATUS CONNECTION
    REQUESTS-ON-IT METHOD HOST URI" (default: none).

    if_modified_since: nginx's directive of that name. "before" answers 304 when the file
    is not newer than the If-Modified-Since date, as RFC 9110 reads it; "exact" (nginx's
    default) only when the date equals the file's Last-Modified. nginx tests
    If-Modified-Since before If-None-Match, so under "exact" a client that sends its own
    last-check time there gets 200 even when its ETag matches.
    """
    nginx = require_tool("nginx", "nginx-light")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="redline-nginx-") as tmp:
        listen = "\n".join(f"        listen {address}:{port};" for address in addresses)
        # As root, nginx's workers would switch to "nobody"; keep them as the caller.
        user = "user root root;" if os.geteuid() == 0 else ""
        config = Path(tmp) / "nginx.conf"
        log = "    access_log off;"
        if access_log is not None:
            log = (
                "    log_format status '$status $connection $connection_requests "
                "$request_method $host $request_uri';\n"
                f"    access_log {access_log.resolve()} status;"
            )
        config.write_text(
            _CONFIG.format(
                workers=workers,
                tmp=tmp,
                user=user,
                listen=listen,
                root=root.resolve(),
                access_log=log,
                if_modified_since=if_modified_since,
            )
        )
        process = subprocess.Popen([nginx, "-c", str(config), "-p", tmp])
        try:
            error_log = Path(tmp) / "error.log"
            wait_for_port(port, process, error_log, "nginx", addresses[0], limit=10, every=0.05)
            yield port
        finally:
            stop(process, signal.SIGQUIT, timeout=10)  # graceful: finish open requests
