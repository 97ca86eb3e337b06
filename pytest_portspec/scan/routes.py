"""Which of a device's addresses the tester may scan (pure but for reading /proc).

    scannable(address, routes=None) -> None (scan it) or one sentence why not
    read_routes() -> the tester's routes, from /proc/net/route and /proc/net/ipv6_route
    parse_ipv4_routes(text), parse_ipv6_routes(text) -> the routes a /proc text lists

A device lists every address it has; only some of them are the device as the tester sees it.
Loopback and link-local addresses are never scanned (the tester's own loopback, or whatever
machine on the tester's link happens to have that address). Any other address is scanned only
when the tester's main routing table has a route to it more specific than the default route: a
private address the tester reaches only through its default gateway may be another machine on
another network, and scanning that would be both wrong evidence and a scan of a stranger.

The address the run connects to (SSH, the lab) is always scanned: the caller decides that
(plan_requests in run.py), whatever the routes say, since the tester reaches the device there.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

IPV4_ROUTES = Path("/proc/net/route")
IPV6_ROUTES = Path("/proc/net/ipv6_route")
RTF_UP = 0x0001
RTF_REJECT = 0x0200  # an unreachable / prohibit / blackhole route: it reaches nothing
RTF_LOCAL = 0x80000000  # IPv6: the local table's routes to the tester's own addresses

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Route:
    network: Network
    interface: str


def parse_ipv4_routes(text: str, byteorder: Literal["little", "big"] | None = None) -> list[Route]:
    """The usable routes of a /proc/net/route text (the main table). Its addresses are the
    kernel's 32-bit values printed in host byte order, hence `byteorder` (this machine's)."""
    order: Literal["little", "big"] = byteorder or ("little" if sys.byteorder == "little" else "big")
    routes = []
    for line in text.splitlines()[1:]:  # the first line names the columns
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            flags = int(fields[3], 16)
            destination = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, order))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, order))
            network = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
        except ValueError:  # a line this parser does not know: no route, so nothing scanned by it
            continue
        if flags & RTF_UP and not flags & RTF_REJECT:
            routes.append(Route(network, fields[0]))
    return routes


def parse_ipv6_routes(text: str) -> list[Route]:
    """The usable routes of a /proc/net/ipv6_route text: destination, prefix length, ..., flags,
    interface; the local table's routes to the tester's own addresses are left out."""
    routes = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            flags = int(fields[8], 16)
            destination = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            network = ipaddress.IPv6Network(f"{destination}/{int(fields[1], 16)}", strict=False)
        except ValueError:
            continue
        if flags & RTF_UP and not flags & (RTF_REJECT | RTF_LOCAL):
            routes.append(Route(network, fields[9]))
    return routes


def read_routes() -> list[Route]:
    """The tester's routes; a table it cannot read (not Linux, no IPv6) has none."""
    routes: list[Route] = []
    for path, parse in ((IPV4_ROUTES, parse_ipv4_routes), (IPV6_ROUTES, parse_ipv6_routes)):
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        routes += parse(text)
    return routes


def scannable(address: str, routes: list[Route] | None = None) -> str | None:
    """None when the tester may scan `address`; else one sentence why not."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: a scoped address
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    why = _never(ip)
    if why:
        return f"{address} is {why}: never scanned"
    table = read_routes() if routes is None else routes
    best = max(
        (r.network.prefixlen for r in table if r.network.version == ip.version and ip in r.network),
        default=None,
    )
    if best is None:
        return f"the tester has no route to {address}"
    if best == 0:
        return (
            f"the tester reaches {address} only through its default route: "
            "it may be another machine on another network"
        )
    return None


def _never(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """What kind of address is never scanned, or ""."""
    if ip.is_loopback:
        return "a loopback address (the tester's own)"
    if ip.is_link_local:
        return "a link-local address (any machine on the tester's link may have it)"
    if ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "not a unicast address"
    return ""
