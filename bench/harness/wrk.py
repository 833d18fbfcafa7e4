"""wrk (Debian's), the HTTP load generator: its command line, a run, and what it printed."""

from __future__ import annotations

import re
import subprocess

from bench.harness.peers import require_tool

THREADS = 2  # wrk's threads (-t2), or one per connection when there are fewer

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_options(connections: int, seconds: int, *more: str) -> list[str]:
    """wrk's options for `connections` connections during `seconds`, then `more`."""
    threads = min(THREADS, connections)
    return [f"-t{threads}", f"-c{connections}", f"-d{seconds}s", *more]


def run_wrk(arguments: list[str]) -> str:
    """`wrk ARGUMENTS` to its end: what it printed (exit with it when wrk fails)."""
    wrk = require_tool("wrk", "wrk")
    out = subprocess.run([wrk, *arguments], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


def wrk_version() -> str:
    """E.g. "wrk 4.1.0"."""
    wrk = require_tool("wrk", "wrk")
    return subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.split(" [")[0]


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def _found(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output, re.M)
    if match is None:
        raise SystemExit(f"unexpected wrk output (no {pattern!r}):\n{output}")
    return match


def requests_per_s(output: str) -> float:
    return float(_found(r"^Requests/sec:\s+([\d.]+)", output).group(1))


def parse_wrk(output: str) -> tuple[float, float, float, int, int, int]:
    """(requests/s, p50 ms, p99 ms, requests, errors, timeouts) from `wrk --latency` output."""
    rate = requests_per_s(output)
    p50 = to_ms(_found(r"^\s+50%\s+(\S+)", output).group(1))
    p99 = to_ms(_found(r"^\s+99%\s+(\S+)", output).group(1))
    requests = int(_found(r"^\s+(\d+) requests in", output).group(1))
    errors = timeouts = 0
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets:
        connect, read, write, timeouts = (int(n) for n in sockets.groups())
        errors += connect + read + write
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        errors += int(bad.group(1))
    return rate, p50, p99, requests, errors, timeouts
