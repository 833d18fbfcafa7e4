"""Which addresses redline may fetch from: the policy, and this process's setting of it.

A source URL is chosen by whoever adds it, and any page may redirect anywhere, so a
fetch could otherwise reach this machine (127.0.0.1, ::1), the local network
(10.0.0.0/8, 192.168.0.0/16, fc00::/7, ...) or a cloud metadata service
(169.254.169.254). Only public addresses are fetched unless the configuration allows
more: `[fetch] allow_private = true` (everything), or `allow_networks` (these
networks), plus the REDLINE_ALLOW_NETWORKS variable (the test suite allows loopback
with it).

This module only decides (and needs no HTTP library, so reading the configuration stays
cheap); tracker/fetch/netguard.py enforces the decision where connections are made.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tracker.errors import UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ENV_ALLOW = "REDLINE_ALLOW_NETWORKS"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # a public IPv6 face for any IPv4 address
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


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


def literal_address(host: str) -> IPAddress | None:
    """The address a host names without any lookup ("127.0.0.1", "[::1]", "2130706433")."""
    host = host.strip("[]")
    try:
        return canonical(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:  # the old numeric spellings (127.1, 0x7f.0.0.1, 2130706433) that resolvers accept
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return canonical(ipaddress.ip_address(infos[0][4][0])) if infos else None


def canonical(address: IPAddress) -> IPAddress:
    """::ffff:a.b.c.d is a.b.c.d: the address to connect to (and report)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def check_url_host(url: str, policy: AddressPolicy | None = None) -> None:
    """Refuse, when adding a source, a URL whose host is a literal refused address.

    Host names are not looked up here (the answer may change): the fetch checks them.
    """
    host = urlsplit(url).hostname or ""
    address = literal_address(host)
    if address is None:
        return
    reason = (policy or current_policy()).refusal(address)
    if reason:
        raise UserError(f"refused {url}: {address} is {reason}; {how_to_allow(address)}")


def how_to_allow(address: IPAddress) -> str:
    """What to put in redline.toml to allow fetching from this address."""
    network = ipaddress.ip_network(address)
    return (
        "redline fetches only public addresses unless allowed: set "
        f'[fetch] allow_networks = ["{network}"] or allow_private = true in redline.toml'
    )
