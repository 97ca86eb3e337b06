"""One packet through the kernel model: its verdict and the rules that decided it (pure).

    explain(ruleset, PacketQuery(direction="in", proto="tcp", src="10.1.2.3", dst="198.18.1.2",
                                 dport=502, sport=None, iface=None)) -> [Decided]

A field left out (no source port, no interface) is every value of it: the answer then lists
one verdict per part that is decided differently ("from source port 53: accept; other source
ports: drop"). The destination of an inbound packet (the source of an outbound one) is the
device's own address by definition.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_portspec.firewall.evaluate import Decided, TooComplex, clip, evaluate
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import Route, with_routes
from pytest_portspec.firewall.ruleset import Family, Iface, Ruleset
from pytest_portspec.firewall.space import (
    DPORT,
    L4,
    OTHER_INTERFACE,
    SPORT,
    Direction,
    Space,
)
from pytest_portspec.firewall.values import PORTS, address_span


@dataclass(frozen=True)
class PacketQuery:
    direction: Direction
    proto: L4
    src: str
    dst: str
    dport: int
    sport: int | None = None
    iface: str | None = None

    @property
    def family(self) -> Family:
        return 6 if ":" in self.src else 4


def named_interfaces(ruleset: Ruleset) -> tuple[str, ...]:
    """The interface names rules spell out (wildcards aside), for a ruleset read without its device."""
    names = {
        p
        for chain in ruleset.chains.values()
        for rule in chain.rules
        for cond in rule.conds
        if isinstance(cond, Iface)
        for p in cond.patterns
        if not p.endswith(("+", "*")) and p
    }
    return tuple(sorted(names))


def packet_space(
    ruleset: Ruleset,
    packet: PacketQuery,
    interfaces: tuple[str, ...] | None = None,
    routes: tuple[Route, ...] | None = None,
) -> Space:
    family = packet.family
    src = Intervals.of(address_span(packet.src, family))
    dst = Intervals.of(address_span(packet.dst, family))
    if packet.iface is not None:
        names: tuple[str, ...] = (packet.iface,)
    else:
        names = tuple(n for n in (interfaces or named_interfaces(ruleset)) if n != "lo") + (
            () if interfaces else (OTHER_INTERFACE,)
        )
    remote, local = (src, dst) if packet.direction == "in" else (dst, src)
    return with_routes(Space(family, packet.direction, packet.proto, names, remote, local), routes)


def explain(
    ruleset: Ruleset,
    packet: PacketQuery,
    interfaces: tuple[str, ...] | None = None,
    routes: tuple[Route, ...] | None = None,
) -> list[Decided]:
    """The decided parts of the packet's space (one part when every field is given). Raises
    ValueError for a packet whose addresses are not of one family or whose ports are not 0-65535."""
    if (":" in packet.dst) != (packet.family == 6):
        raise ValueError(f"source {packet.src} and destination {packet.dst} are not of one family")
    for port in (packet.dport, packet.sport):
        if port is not None and not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not 0-65535")
    space = packet_space(ruleset, packet, interfaces, routes)
    query = list(space.all())
    query[DPORT] = Intervals.of((packet.dport, packet.dport))
    query[SPORT] = Intervals.of((packet.sport, packet.sport)) if packet.sport is not None else PORTS
    box = (query[0], query[1], query[2], query[3], query[4])
    try:
        decided = evaluate(ruleset, space)
    except TooComplex as exc:
        raise ValueError(str(exc)) from None
    return clip(decided, box)
