"""Reading the values rules are written with: addresses, port lists, protocols (pure)."""

from __future__ import annotations

import functools

import netaddr

from pytest_portspec.firewall.intervals import Intervals, Span
from pytest_portspec.firewall.ruleset import Family

FAMILY_MAX = {4: 2**32 - 1, 6: 2**128 - 1}
PORTS = Intervals.of((0, 65535))

# /etc/protocols numbers iptables may print instead of names (and nft's `meta l4proto`)
PROTOCOL_NUMBERS = {
    "1": "icmp",
    "2": "igmp",
    "4": "ipencap",
    "6": "tcp",
    "17": "udp",
    "41": "ipv6",
    "47": "gre",
    "50": "esp",
    "51": "ah",
    "58": "ipv6-icmp",
    "89": "ospf",
    "103": "pim",
    "112": "vrrp",
    "132": "sctp",
    "136": "udplite",
}
PROTOCOL_ALIASES = {"icmpv6": "ipv6-icmp", "icmp6": "ipv6-icmp", "ipv6icmp": "ipv6-icmp"}


class ValueProblem(ValueError):
    """A value in a rule that cannot be read (the caller adds where it is)."""


def protocol(text: str) -> str:
    name = text.lower()
    name = PROTOCOL_NUMBERS.get(name, name)
    return PROTOCOL_ALIASES.get(name, name)


class MaskTooSparse(ValueProblem):
    """A non-contiguous netmask whose address set has too many pieces to hold exactly."""


MAX_MASK_PIECES = 1 << 16  # beyond this the match is undecided


def masked(text: str, family: Family) -> Intervals:
    """'192.168.0.2/255.255.0.2' (a netmask with holes, as iptables-save prints it back): every
    address a with a & mask == address & mask, as intervals."""
    address, _, mask = text.partition("/")
    try:
        value, bits = int(netaddr.IPAddress(address, family)), int(netaddr.IPAddress(mask, family))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValueProblem(f"bad address {text!r}") from None
    width = 32 if family == 4 else 128
    low = (bits & -bits).bit_length() - 1 if bits else width  # the mask's free low bits form one run
    holes = [b for b in range(low, width) if not bits >> b & 1]
    if 2 ** len(holes) > MAX_MASK_PIECES:
        raise MaskTooSparse(f"a netmask with {len(holes)} holes")
    base = value & bits
    spans = []
    for n in range(2 ** len(holes)):
        start = base | sum(1 << b for i, b in enumerate(holes) if n >> i & 1)
        spans.append((start, start + (1 << low) - 1))
    return Intervals.merged(spans)


@functools.lru_cache(maxsize=4096)  # the same few addresses and networks are read again and again
def address_span(text: str, family: Family) -> Span:
    """'10.0.0.0/8', '10.1.2.3', '10.0.0.0/255.0.0.0', 'fe80::/10' -> (first, last) as integers."""
    try:
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValueProblem(f"bad address {text!r}") from None
    if network.version != family:
        raise ValueProblem(f"address {text!r} is not IPv{family}")
    return int(network.first), int(network.last)


def address_range(text: str, family: Family) -> Span:
    """'10.0.0.1-10.0.0.9' (iprange) -> (first, last)."""
    lo, sep, hi = text.partition("-")
    if not sep:
        return address_span(text, family)
    first, last = address_span(lo, family)[0], address_span(hi, family)[0]
    if first > last:
        raise ValueProblem(f"address range {text!r} ends before it starts")
    return first, last


def addresses(texts: list[str], family: Family) -> Intervals:
    found = Intervals()
    for text in texts:
        try:
            found = found | Intervals.of(address_span(text, family))
        except ValueProblem:
            if "/" not in text or not ("." in text.partition("/")[2] or ":" in text.partition("/")[2]):
                raise
            found = found | masked(text, family)
    return found


def port_span(text: str, sep: str = ":") -> Span:
    """'22', '1024:65535', ':1023', '1024:' (iptables) or '1024-65535' (nft, multiport) -> span."""
    lo, found, hi = text.partition(sep)
    if not found:
        lo = hi = text
    try:
        first = int(lo) if lo else 0
        last = int(hi) if hi else 65535
    except ValueError:
        raise ValueProblem(f"bad port {text!r}") from None
    if not 0 <= first <= last <= 65535:
        raise ValueProblem(f"bad port range {text!r}")
    return first, last


def port_list(text: str) -> Intervals:
    """multiport's '22,80,1024:2048'."""
    return Intervals.merged(port_span(part) for part in text.split(",") if part)


def format_address(value: int, family: Family) -> str:
    return str(netaddr.IPAddress(value, family))


def format_addresses(values: Intervals, family: Family, limit: int = 6) -> str:
    """Intervals of addresses as CIDRs a reviewer reads: 'Anywhere', '10.0.0.0/8, 192.0.2.7'."""
    if not values:
        return "nobody"
    cidrs: list[str] = []
    for lo, hi in values:
        for cidr in netaddr.iprange_to_cidrs(netaddr.IPAddress(lo, family), netaddr.IPAddress(hi, family)):
            full = 32 if family == 4 else 128
            cidrs.append(str(cidr.ip) if cidr.prefixlen == full else str(cidr))
            if len(cidrs) > limit:
                return ", ".join(cidrs[:limit]) + f", … ({values.size()} addresses)"
    return ", ".join(cidrs)


def format_ports(values: Intervals, limit: int = 8) -> str:
    parts = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in values]
    if len(parts) > limit:
        return ", ".join(parts[:limit]) + f", … ({len(parts)} ranges)"
    return ", ".join(parts)
