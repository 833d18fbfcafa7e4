"""Which addresses redline may fetch from, enforced where connections are made.

A source URL is chosen by whoever adds it, and any page may redirect anywhere, so a
fetch could otherwise reach this machine (127.0.0.1, ::1), the local network
(10.0.0.0/8, 192.168.0.0/16, fc00::/7, ...) or a cloud metadata service
(169.254.169.254). Only public addresses are fetched unless the configuration allows
more: `[fetch] allow_private = true` (everything), or `allow_networks` (these
networks), plus the REDLINE_ALLOW_NETWORKS variable (the test suite allows loopback
with it).

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

import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from tracker.errors import FetchError, UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ENV_ALLOW = "REDLINE_ALLOW_NETWORKS"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # a public IPv6 face for any IPv4 address
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


class AddressRefused(FetchError):
    """The host resolves only to addresses the policy refuses."""


def parse_networks(values: Iterable[object], where: str) -> tuple[IPNetwork, ...]:
    """Networks ("127.0.0.0/8", "::1", "10.1.2.3/32") from configuration; a bad one names itself."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise UserError(
                f"{where}: {value!r} is not a network (examples: 127.0.0.0/8, 10.0.0.5, ::1)"
            ) from None
    return tuple(networks)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses are always allowed; others only as configured."""

    allow_private: bool = False  # allow every address
    allow_networks: tuple[IPNetwork, ...] = ()

    def refusal(self, address: IPAddress) -> str | None:
        """Why this address may not be fetched from ("a loopback address"), or None."""
        if self.allow_private:
            return None
        for meant in _meanings(address):
            if any(meant.version == net.version and meant in net for net in self.allow_networks):
                continue
            reason = _special(meant)
            if reason:
                return reason if meant == address else f"{reason} ({meant} inside {address})"
        return None

    def with_networks(self, networks: Iterable[IPNetwork]) -> AddressPolicy:
        return AddressPolicy(self.allow_private, (*self.allow_networks, *networks))


def _meanings(address: IPAddress) -> list[IPAddress]:
    """The address, and the IPv4 address it stands for if it embeds one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:  # ::ffff:127.0.0.1 is 127.0.0.1
            return [address.ipv4_mapped]
        if address.sixtofour:
            return [address, address.sixtofour]
        if address in _NAT64:  # how IPv6-only networks reach IPv4 sites: judge the site
            return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return [address]


def _special(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "an unspecified address (it means this machine)"
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared carrier-grade NAT address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or not address.is_global:
        return "a private network address"
    return None


_configured: AddressPolicy | None = None


def configure(policy: AddressPolicy | None) -> None:
    """Set this process's policy (from redline.toml [fetch]); None: the default."""
    global _configured
    _configured = policy


def current_policy() -> AddressPolicy:
    """The configured policy plus the networks REDLINE_ALLOW_NETWORKS names."""
    policy = _configured or AddressPolicy()
    extra = os.environ.get(ENV_ALLOW, "").replace(",", " ").split()
    return policy.with_networks(parse_networks(extra, ENV_ALLOW)) if extra else policy


def _literal(host: str) -> IPAddress | None:
    """The address a host names without any lookup ("127.0.0.1", "[::1]", "2130706433")."""
    host = host.strip("[]")
    try:
        return _canonical(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:  # the old numeric spellings (127.1, 0x7f.0.0.1, 2130706433) that resolvers accept
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return _canonical(ipaddress.ip_address(infos[0][4][0])) if infos else None


def _canonical(address: IPAddress) -> IPAddress:
    # ::ffff:a.b.c.d is a.b.c.d: connect to (and report) the address it means
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def check_url_host(url: str, policy: AddressPolicy | None = None) -> None:
    """Refuse, when adding a source, a URL whose host is a literal refused address.

    Host names are not looked up here (the answer may change): the fetch checks them.
    """
    host = urlsplit(url).hostname or ""
    address = _literal(host)
    if address is None:
        return
    reason = (policy or current_policy()).refusal(address)
    if reason:
        raise UserError(f"refused {url}: {address} is {reason}; {_how_to_allow(address)}")


def _how_to_allow(address: IPAddress) -> str:
    network = ipaddress.ip_network(address)
    return (
        "redline fetches only public addresses unless allowed: set "
        f'[fetch] allow_networks = ["{network}"] or allow_private = true in redline.toml'
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name has, in the resolver's order, without repeats."""
    found: dict[IPAddress, None] = {}
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        found[_canonical(ipaddress.ip_address(sockaddr[0]))] = None
    return list(found)


def _resolve_within(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    literal = _literal(host)
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
    verb = "is" if _literal(host) is not None else "resolves to"
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
            raise AddressRefused(f"{_why_refused(host, refused, reason)}; {_how_to_allow(refused)}")
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


def guarded_transport(policy: AddressPolicy, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose connections all go through GuardedBackend."""
    transport = httpx.HTTPTransport(limits=limits)
    # httpx has no setting for the network backend, so its connection pool is made
    # again, the same way, around ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport
