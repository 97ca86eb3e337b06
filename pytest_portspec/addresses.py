"""Validation of host names, IP addresses and networks (netaddr does the address work)."""

from __future__ import annotations

import re
from typing import Literal

import netaddr

AddressKind = Literal["host", "ip", "cidr"]

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


def is_hostname(text: str) -> bool:
    """RFC 1123 host name; a name made only of numbers is not one (it is a bad address)."""
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253 or not name.isascii():  # re.IGNORECASE lets 'K' (U+212A) match [a-z]
        return False
    labels = name.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return not all(label.isdigit() for label in labels)


def is_ip(text: str) -> bool:
    if not text.isascii():  # netaddr encodes its input: a non-UTF-8 byte of argv would raise
        return False
    return bool(netaddr.valid_ipv4(text) or netaddr.valid_ipv6(text))


_SCOPE = re.compile(r"[A-Za-z0-9_.@-]{1,15}")  # an interface name (IFNAMSIZ) or index


def split_scope(text: str) -> tuple[str, str | None]:
    """'fe80::1%eth0' -> ('fe80::1', 'eth0'); an address without a zone -> (address, None)."""
    address, sep, zone = text.partition("%")
    return (address, zone) if sep else (text, None)


def is_scoped_ip(text: str) -> bool:
    """An IPv6 address with a zone ('fe80::1%eth0', as resolv.conf and ntp.conf may name a
    link-local server): valid wherever a device connects to it, not an address a rule can name."""
    address, zone = split_scope(text)
    return zone is not None and bool(netaddr.valid_ipv6(address)) and bool(_SCOPE.fullmatch(zone))


def check_ip(text: str) -> str:
    """Return the address in canonical form or raise ValueError with the reason."""
    if not is_ip(text):
        raise ValueError(f"invalid IP address {text!r}")
    return str(netaddr.IPAddress(text))


def check_cidr(text: str) -> str:
    """Return the network in canonical form or raise ValueError with the reason."""
    address, _, prefix = text.partition("/")
    if not is_ip(address) or not prefix.isdigit():
        raise ValueError(f"invalid network {text!r}: expected ADDRESS/PREFIX")
    try:
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError) as exc:
        raise ValueError(f"invalid network {text!r}: {exc}") from None
    if network.ip != network.network:
        raise ValueError(f"invalid network {text!r}: host bits are set (did you mean {network.cidr}?)")
    return str(network.cidr)


def classify(text: str) -> tuple[AddressKind, str]:
    """Sort a destination written as text into host name, IP or CIDR; ValueError if none."""
    if "/" in text:
        return "cidr", check_cidr(text)
    if ":" in text or re.fullmatch(r"[0-9.]+", text):
        return "ip", check_ip(text)
    if is_hostname(text):
        return "host", text.rstrip(".").lower()
    raise ValueError(f"invalid host name {text!r} (RFC 1123: letters, digits, '-' and dots)")


# Address blocks reserved for documentation (RFC 5737, RFC 3849): an example's address, never a
# real device's. A device host in one of them is a copied example, refused before any connection.
_DOCUMENTATION = netaddr.IPSet(["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"])


def is_documentation_address(text: str) -> bool:
    """192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 or 2001:db8::/32 (an IPv4-mapped one too)."""
    if not is_ip(text):
        return False
    address = netaddr.IPAddress(text)
    if address.is_ipv4_mapped():
        address = address.ipv4()
    return address in _DOCUMENTATION
