"""Per-host limits: slots reserved at claim time, a minimum delay between requests."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from tracker.fetch.politeness import HostGate, host_of


def test_hosts_are_told_apart_by_name() -> None:
    assert host_of("https://News.Example.org:8443/a") == "news.example.org"
    assert host_of("http://127.0.0.1:8000/") != host_of("http://localhost:8000/")


def test_a_host_gets_at_most_per_host_slots() -> None:
    gate = HostGate(per_host=2, delay=timedelta(0))
    assert gate.reserve("http://a.example/1") and gate.reserve("http://a.example/2")
    assert not gate.reserve("http://a.example/3")
    assert gate.reserve("http://b.example/1")  # another host is not held up
    gate.release("http://a.example/1")
    assert gate.in_flight("http://a.example/") == 1
    assert gate.reserve("http://a.example/3")


def test_requests_to_one_host_start_at_least_the_delay_apart() -> None:
    delay = timedelta(seconds=0.15)
    gate = HostGate(per_host=4, delay=delay)
    starts: dict[str, list[float]] = {"a": [], "b": []}
    lock = threading.Lock()

    def fetch(host: str) -> None:
        with gate.spacing(f"http://{host}.example/page"), lock:
            starts[host].append(time.monotonic())

    threads = [threading.Thread(target=fetch, args=(h,)) for h in "aaab"]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    a = sorted(starts["a"])
    gaps = [later - earlier for earlier, later in zip(a, a[1:], strict=False)]
    assert len(a) == 3 and all(gap >= delay.total_seconds() * 0.99 for gap in gaps), gaps
    # The other host went at once, not behind host a's queue.
    assert starts["b"][0] - began < delay.total_seconds()
