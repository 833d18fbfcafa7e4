"""The address policy (tracker/fetch/addresses.py), enforced where connections are made.

How: httpx hands every new connection to an httpcore "network backend" with the host
name and port. GuardedBackend resolves the name once, checks each address, and
connects to a checked address itself, so there is no second DNS lookup an attacker
could answer differently (DNS rebinding). Because it sits below the HTTP layer, it
sees every connection: the first request and every redirect hop alike. TLS still
verifies the certificate for the host name (httpcore passes it as SNI), and the Host
header comes from the URL, so nothing else changes. Environment proxies are not used
(make_client passes its own transport): a proxy would do the resolving out of our
sight.

The same streams carry a fetch's total deadline (deadline()): every read, write and
connect waits at most until then, so a server dripping a byte at a time cannot hold a
fetch longer than allowed, even while we are waiting for data.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from tracker.errors import FetchError
from tracker.fetch.addresses import (
    AddressPolicy,
    IPAddress,
    canonical,
    how_to_allow,
    literal_address,
)


class AddressRefused(FetchError):
    """The host resolves only to addresses the policy refuses."""


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name has, in the resolver's order, without repeats."""
    found: dict[IPAddress, None] = {}
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        found[canonical(ipaddress.ip_address(sockaddr[0]))] = None
    return list(found)


def _resolve_within(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    # getaddrinfo has no timeout of its own: wait for it in a thread, at most `timeout`.
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome["addresses"] = resolve(host, port)  # the module's, so tests can stand in
        except (OSError, UnicodeError, ValueError) as error:
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    if not done.wait(timeout):
        raise httpcore.ConnectTimeout(f"looking up {host} took too long")
    if "error" in outcome:
        detail = getattr(outcome["error"], "strerror", None) or outcome["error"]
        raise httpcore.ConnectError(f"could not find the address of {host} ({detail})")
    if not outcome["addresses"]:
        raise httpcore.ConnectError(f"could not find the address of {host}")
    return outcome["addresses"]


@dataclass
class Deadline:
    """The moment a fetch must be over by; cut_short: the last wait ended because of it."""

    seconds: float
    at: float = field(init=False)
    cut_short: bool = False

    def __post_init__(self) -> None:
        self.at = time.monotonic() + self.seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def clip(self, timeout: float | None, error: type[Exception]) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            self.cut_short = True
            raise error(f"the fetch took longer than {self.seconds:g} s")
        self.cut_short = timeout is None or remaining <= timeout
        return remaining if self.cut_short else timeout  # type: ignore[return-value]


_deadline: ContextVar[Deadline | None] = ContextVar("redline_fetch_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Within this block (in this thread), network waits end by `seconds` from now."""
    state = Deadline(seconds)
    token = _deadline.set(state)
    try:
        yield state
    finally:
        _deadline.reset(token)


def _clip(timeout: float | None, error: type[Exception]) -> float | None:
    state = _deadline.get()
    return timeout if state is None else state.clip(timeout, error)


class GuardedStream(httpcore.NetworkStream):
    """A connection whose every wait also ends at the fetch's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clip(timeout, httpcore.ConnectTimeout)
        return GuardedStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _why_refused(host: str, address: IPAddress, reason: str) -> str:
    """ "127.0.0.1 is a loopback address", "localhost resolves to 127.0.0.1, a loopback
    address", "2130706433 is 127.0.0.1, a loopback address": the address named once when
    the host is that address as written."""
    if host.strip("[]") == str(address):
        return f"{host} is {reason}"
    verb = "is" if literal_address(host) is not None else "resolves to"
    return f"{host} {verb} {address}, {reason}"


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, refuse what the policy refuses, connect to a checked address."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve_within(host, port, _clip(timeout, httpcore.ConnectTimeout))
        allowed = [a for a in addresses if self.policy.refusal(a) is None]
        if not allowed:
            refused = addresses[0]
            reason = self.policy.refusal(refused) or "refused"
            raise AddressRefused(f"{_why_refused(host, refused, reason)}; {how_to_allow(refused)}")
        failure: Exception | None = None
        for address in allowed:  # like socket.create_connection: the next address on failure
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    _clip(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except httpcore.ConnectError as error:
                failure = error
                continue
            return GuardedStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise AddressRefused("redline does not fetch through local sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The TLS settings and trusted certificates every client of the process uses: made
    once, as loading the certificates takes ~20 ms, and a client was made per round."""
    return httpx.create_ssl_context()


def guarded_transport(policy: AddressPolicy, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose connections all go through GuardedBackend."""
    context = shared_ssl_context()
    transport = httpx.HTTPTransport(verify=context, limits=limits)
    # httpx has no setting for the network backend, so its connection pool is made
    # again, the same way, around ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport
