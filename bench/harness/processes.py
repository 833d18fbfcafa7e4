"""The processes a benchmark starts: a clean environment, a free port and waiting for a
server to listen on it, stopping, and their CPU time and memory from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def clean_env() -> dict[str, str]:
    """This process's environment without redline's variables (REDLINE_*): a benchmark's
    redline reads only the settings the benchmark gives it."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REDLINE_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int,
    process: subprocess.Popen,
    log: Path,
    name: str = "the server",
    address: str = "127.0.0.1",
    limit: float = 60.0,
    every: float = 0.1,
) -> None:
    """Until the process listens on address:port; exit with its log if it ends first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited at start:\n{log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection((address, port), 0.2):
            return
        time.sleep(every)
    raise SystemExit(f"{name} did not start listening within {limit:g} s")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    """Send the signal, wait up to `timeout` seconds for the process to end, else kill it;
    its exit status."""
    process.send_signal(sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@contextlib.contextmanager
def serving(
    command: Callable[[int], list[str]], cwd: Path | None = None
) -> Iterator[tuple[int, int]]:
    """Run command(port) for a free port until it listens: yields (port, pid); SIGTERM on exit."""
    port = free_port()
    env = clean_env()
    env.pop("WEB_CONCURRENCY", None)
    with tempfile.TemporaryDirectory(prefix="redline-serve-") as tmp:
        log = Path(tmp) / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command(port),
                cwd=cwd or tmp,  # in tmp, no redline.toml or redline.db of ours is picked up
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, process, log)
            yield port, process.pid
        finally:
            status = stop(process, signal.SIGTERM, timeout=20)
            if status not in (0, -signal.SIGTERM):
                print(f"{command(port)[0]} exited with {status}:\n{log.read_text()}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time so far of the process and its children (the workers of
    `--workers N`), all their threads."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):  # a process that just ended
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if stat.parent.name == str(pid) or fields[1] == str(pid):  # itself, or ppid
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def settle(pid: int, limit: float = 60.0) -> None:
    """Wait until the server is idle (under 5 % of a core for 0.5 s): when wrk stops, the
    requests it left unanswered are still being worked off, and would slow the next run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.025:
            return


def rss_bytes(pid: int) -> int:
    """VmRSS of the process and of all its descendants (0 once it is gone)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
                break
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            total += sum(rss_bytes(int(child)) for child in children)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total
