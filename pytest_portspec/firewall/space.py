"""The space of new flows one question is about, and boxes in it (pure).

A `Space` is one family, direction and protocol on one device: which remote addresses can
send (or be sent to), the device's own addresses, ports, and the device's interfaces. A `Box`
is a product of one set per dimension — (source address, destination address, source port,
destination port, interface) as the packet carries them — and a region is a list of disjoint
boxes. Rule matches, the evaluator's regions and every question a check asks are boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_portspec.firewall.intervals import EMPTY, Intervals
from pytest_portspec.firewall.ruleset import Family
from pytest_portspec.firewall.values import FAMILY_MAX, PORTS, address_span

Direction = Literal["in", "out"]
L4 = Literal["tcp", "udp"]
SRC, DST, SPORT, DPORT, IFACE = range(5)
Box = tuple[Intervals, Intervals, Intervals, Intervals, Intervals]

# addresses that are never the remote end of a flow on a wire (the kernel drops them as martian
# sources), and never a destination the device sends a flow to
NOT_REMOTE = {
    4: ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32"),
    6: ("::/128", "::1/128", "ff00::/8"),
}
LOOPBACK = {4: "127.0.0.0/8", 6: "::1/128"}
OTHER_INTERFACE = "(other)"  # stands for the interfaces not named, when the device's list is unknown


@dataclass(frozen=True)
class Space:
    family: Family
    direction: Direction
    proto: L4
    interfaces: tuple[str, ...]  # index -> name; the flow crosses one of them
    remote: Intervals  # addresses at the other end
    local: Intervals  # the device's own addresses (all unicast ones when not known)
    local_known: bool = True
    # the remote addresses by the interface the device routes them through (index; None: an
    # interface not in the list); None: routes not known. Reverse-path filters are decided by it.
    routes: tuple[tuple[Intervals, int | None], ...] | None = None

    @property
    def interfaces_known(self) -> bool:
        return OTHER_INTERFACE not in self.interfaces

    def all(self) -> Box:
        src, dst = (self.remote, self.local) if self.direction == "in" else (self.local, self.remote)
        return (src, dst, PORTS, PORTS, Intervals.of((0, len(self.interfaces) - 1)))

    def dim_universe(self, dim: int) -> Intervals:
        return self.all()[dim]

    def remote_dim(self) -> int:
        return SRC if self.direction == "in" else DST

    def local_dim(self) -> int:
        return DST if self.direction == "in" else SRC

    def iface_indexes(self, names: tuple[str, ...] | list[str]) -> Intervals:
        return Intervals.merged((i, i) for i, n in enumerate(self.interfaces) if n in names)


def make_space(
    family: Family,
    direction: Direction,
    proto: L4,
    interfaces: tuple[str, ...],
    own_addresses: tuple[str, ...] | None,
    *,
    loopback: bool = False,
) -> Space:
    """The flows from (or to) every address that can be at the other end of a wire, over every
    non-loopback interface (`loopback`: only the loopback interface and addresses)."""
    everything = Intervals.of((0, FAMILY_MAX[family]))
    own = (
        Intervals.merged(address_span(a, family) for a in own_addresses if (":" in a) == (family == 6))
        if own_addresses is not None
        else None
    )
    if loopback:
        lo = Intervals.of(address_span(LOOPBACK[family], family))
        return Space(family, direction, proto, ("lo",), lo, lo & (own or lo), own is not None)
    names = tuple(n for n in interfaces if n != "lo") or (OTHER_INTERFACE,)
    never = Intervals.merged(address_span(a, family) for a in NOT_REMOTE[family])
    unicast = everything - never
    remote = unicast - own if own is not None else unicast
    local = (
        (own or EMPTY) - Intervals.of(address_span(LOOPBACK[family], family)) if own is not None else unicast
    )
    return Space(family, direction, proto, names, remote, local, own is not None)


def intersect(a: Box, b: Box) -> Box | None:
    out = []
    for dim in (3, 0, 4, 2, 1):  # ports first: the dimension rules most often restrict
        found = a[dim] & b[dim]
        if not found:
            return None
        out.append(found)
    return (out[1], out[4], out[3], out[0], out[2])


def subtract(a: Box, b: Box) -> list[Box]:
    """a minus b, as disjoint boxes (at most one per dimension where b does not cover a)."""
    if intersect(a, b) is None:
        return [a]
    out: list[Box] = []
    kept = list(a)
    for dim in range(5):
        outside = a[dim] - b[dim]
        if outside:
            piece = list(kept)
            piece[dim] = outside
            out.append((piece[0], piece[1], piece[2], piece[3], piece[4]))
        kept[dim] = a[dim] & b[dim]
    return out


def subtract_all(a: Box, cuts: list[Box]) -> list[Box]:
    left = [a]
    for cut in cuts:
        left = [piece for box in left for piece in subtract(box, cut)]
        if not left:
            break
    return left


def disjoint(boxes: list[Box]) -> list[Box]:
    """The same region, as boxes that do not overlap."""
    out: list[Box] = []
    for box in boxes:
        out += subtract_all(box, out)
    return out


def with_dim(box: Box, dim: int, values: Intervals) -> Box:
    parts = list(box)
    parts[dim] = values
    return (parts[0], parts[1], parts[2], parts[3], parts[4])
