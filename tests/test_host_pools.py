"""One connection pool per host (tracker/fetch/host_pools.py): each host's requests go
through its own transport, and a host's transport is closed once it has been idle longer
than its connections live, never while a response is still open."""

from __future__ import annotations

import httpx
import pytest

from tracker.fetch.host_pools import SWEEP_SECONDS, HostPools

pytestmark = pytest.mark.one_database  # no database


class Made:
    """The transports a HostPools made: which requests each got, and whether it is closed."""

    def __init__(self) -> None:
        self.transports: list[Transport] = []

    def make(self) -> httpx.BaseTransport:
        made = Transport()
        self.transports.append(made)
        return made


class Transport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        return httpx.Response(200, stream=httpx.ByteStream(b"a body"))

    def close(self) -> None:
        self.closed = True


def test_each_host_has_its_own_transport() -> None:
    made = Made()
    with httpx.Client(transport=HostPools(made.make, idle_seconds=5)) as client:
        for url in ("http://a.example/1", "http://b.example/", "http://a.example/2"):
            assert client.get(url).content == b"a body"
        client.get("https://a.example/")  # another scheme (and port): another pool
        client.get("http://a.example:8080/")
    assert [t.hosts for t in made.transports] == [
        ["a.example", "a.example"],
        ["b.example"],
        ["a.example"],
        ["a.example"],
    ]
    assert all(t.closed for t in made.transports)  # closing the client closes them all


def test_an_idle_hosts_transport_is_closed_but_not_one_with_a_response_open() -> None:
    made, now = Made(), [0.0]
    pools = HostPools(made.make, idle_seconds=5, clock=lambda: now[0])
    client = httpx.Client(transport=pools)
    client.get("http://idle.example/")  # read whole: its response is closed
    with client.stream("GET", "http://open.example/") as response:
        now[0] = 10 + SWEEP_SECONDS  # both unused for longer than idle_seconds
        client.get("http://third.example/")  # a request sweeps
        idle, still_open, third = made.transports
        assert idle.closed and not still_open.closed and not third.closed
        assert pools.hosts() == 2
        assert response.read() == b"a body"
    now[0] += 10 + SWEEP_SECONDS  # the open one's response is closed now
    client.get("http://idle.example/")  # a new transport for it
    assert still_open.closed and third.closed and pools.hosts() == 1
    assert len(made.transports) == 4
    client.close()


def test_a_failed_request_leaves_nothing_in_flight() -> None:
    class Refusing(Transport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

    now = [0.0]
    made: list[Refusing] = []

    def make() -> Refusing:
        made.append(Refusing())
        return made[-1]

    pools = HostPools(make, idle_seconds=5, clock=lambda: now[0])
    with httpx.Client(transport=pools) as client:
        with pytest.raises(httpx.ConnectError):
            client.get("http://down.example/")
        now[0] = 10 + SWEEP_SECONDS
        with pytest.raises(httpx.ConnectError):
            client.get("http://other.example/")
        assert made[0].closed  # not held open by the failed request
