"""One rule's conditions -> the boxes of a space it matches (pure).

    compile_rule(rule, space, ruleset) -> Compiled(boxes, fork)

`boxes` is the region the rule matches (empty: never, e.g. `-p udp` in a TCP space). `fork`
says the match is not decided by the flow alone: ("rate", matches_for_a_quiet_source) for
limit/recent/..., ("unknown", why) for what the model cannot read (an Unknown condition, an
ipset whose members were not captured, a mark when rules set marks).
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.ruleset import (
    Addr,
    AddrType,
    Cond,
    CtState,
    Iface,
    Mark,
    NfProto,
    OnlyProto,
    Ports,
    Proto,
    Rate,
    Rpf,
    Rule,
    Ruleset,
    SetRef,
    Unknown,
)
from pytest_portspec.firewall.space import (
    DPORT,
    DST,
    IFACE,
    SPORT,
    SRC,
    Box,
    Space,
    disjoint,
    intersect,
    subtract_all,
    with_dim,
)

_PROTO_NUMBER = {"tcp": 6, "udp": 17}


@dataclass(frozen=True)
class Compiled:
    boxes: tuple[Box, ...]  # disjoint
    fork: tuple[str, bool | str] | None = None  # ("rate", at_low_rate) | ("unknown", why)


class _Never(Exception):
    pass


def compile_rule(rule: Rule, space: Space, ruleset: Ruleset) -> Compiled:
    boxes: list[Box] = [space.all()]
    unknown: list[str] = []
    rates: list[bool] = []
    try:
        for cond in rule.conds:
            boxes = _apply(cond, boxes, space, ruleset, unknown, rates)
            if not boxes:
                raise _Never
    except _Never:
        return Compiled(())
    fork: tuple[str, bool | str] | None = None
    if unknown:
        fork = ("unknown", "; ".join(dict.fromkeys(unknown)))
    elif rates:
        fork = ("rate", all(rates))
    return Compiled(tuple(disjoint(boxes)), fork)


def _restrict(boxes: list[Box], dim: int, values: Intervals) -> list[Box]:
    out = []
    for box in boxes:
        cut = box[dim] & values
        if cut:
            out.append(with_dim(box, dim, cut))
    return out


def _whole(boxes: list[Box], matches: bool) -> list[Box]:
    if not matches:
        raise _Never
    return boxes


def _apply(
    cond: Cond, boxes: list[Box], space: Space, ruleset: Ruleset, unknown: list[str], rates: list[bool]
) -> list[Box]:
    if isinstance(cond, Addr):
        dim = SRC if cond.side == "src" else DST
        values = space.dim_universe(dim) - cond.values if cond.negate else cond.values
        return _restrict(boxes, dim, values)
    if isinstance(cond, Ports):
        return _ports(cond, boxes, space)
    if isinstance(cond, Iface):
        return _iface(cond, boxes, space, unknown)
    if isinstance(cond, Proto):
        return _whole(boxes, ((space.proto in cond.names) != cond.negate))
    if isinstance(cond, CtState):
        return _whole(boxes, ("NEW" in cond.states) != cond.negate)  # a new flow's first packet
    if isinstance(cond, AddrType):
        return _addrtype(cond, boxes, space, unknown)
    if isinstance(cond, SetRef):
        return _set(cond, boxes, space, ruleset, unknown)
    if isinstance(cond, Rate):
        rates.append(cond.at_low_rate)
        return boxes
    if isinstance(cond, Mark):
        if ruleset.sets_marks:
            unknown.append("a mark match, and rules of this ruleset set marks")
            return boxes
        return _whole(boxes, ((0 & cond.mask) == cond.value) != cond.negate)  # no rule sets one: 0
    if isinstance(cond, OnlyProto):
        return _whole(boxes, "*" in cond.protos or space.proto in cond.protos)
    if isinstance(cond, NfProto):
        return _whole(boxes, (cond.family == space.family) != cond.negate)
    if isinstance(cond, Rpf):
        return _rpf(cond, boxes, space, unknown)
    if isinstance(cond, Unknown):
        unknown.append(cond.what)
        return boxes
    raise TypeError(f"unhandled condition {cond!r}")


def _rpf(cond: Rpf, boxes: list[Box], space: Space, unknown: list[str]) -> list[Box]:
    """The flows whose source has a route back (through the interface they came in on: strict)."""
    if space.routes is None or space.direction != "in":
        unknown.append("a reverse-path filter (the device's routes are not known)")
        return boxes
    passing: list[Box] = []
    for addresses, index in space.routes:
        if cond.strict and index is None:
            continue  # routed through an interface the flows of this space do not cross
        box = with_dim(space.all(), SRC, addresses)
        passing.append(
            with_dim(box, IFACE, Intervals.of((index, index))) if cond.strict and index is not None else box
        )
    if not cond.invert:
        return [b for b in (intersect(box, p) for box in boxes for p in passing) if b is not None]
    return [piece for box in boxes for piece in subtract_all(box, passing)]


def _ports(cond: Ports, boxes: list[Box], space: Space) -> list[Box]:
    everything = space.dim_universe(DPORT)
    outside = everything - cond.values
    if cond.side in ("sport", "dport"):
        dim = SPORT if cond.side == "sport" else DPORT
        return _restrict(boxes, dim, outside if cond.negate else cond.values)
    if cond.negate:  # neither port in the list
        return _restrict(_restrict(boxes, SPORT, outside), DPORT, outside)
    return _restrict(boxes, SPORT, cond.values) + _restrict(
        _restrict(boxes, SPORT, outside), DPORT, cond.values
    )


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.endswith(("+", "*")):
        return name.startswith(pattern[:-1])
    return pattern == name


def _iface(cond: Iface, boxes: list[Box], space: Space, unknown: list[str]) -> list[Box]:
    crossing = "in" if space.direction == "in" else "out"
    if cond.side != crossing:  # `-o` on an incoming flow: it has no output interface yet ("")
        return _whole(boxes, any(_pattern_matches(p, "") for p in cond.patterns) != cond.negate)
    if not space.interfaces_known and any(p.endswith(("+", "*")) for p in cond.patterns):
        unknown.append(
            f"interface pattern {', '.join(cond.patterns)} (the device's interfaces are not known)"
        )
        return boxes
    names = [n for n in space.interfaces if any(_pattern_matches(p, n) for p in cond.patterns)]
    chosen = space.iface_indexes(names)
    if cond.negate:
        chosen = space.dim_universe(IFACE) - chosen
    return _restrict(boxes, IFACE, chosen)


_DECIDED_TYPES = {"LOCAL", "UNICAST", "MULTICAST", "BROADCAST", "ANYCAST", "UNSPEC"}


def _addrtype(cond: AddrType, boxes: list[Box], space: Space, unknown: list[str]) -> list[Box]:
    if not cond.types <= _DECIDED_TYPES:
        unknown.append(f"addrtype {','.join(sorted(cond.types))} (a route type)")
        return boxes
    local_side = (cond.side == "dst") == (space.direction == "in")
    by_class = space.family == 6 and not cond.by_route
    matches = _addrtype6(cond.types, local_side) if by_class else _addrtype4(cond.types, local_side)
    return _whole(boxes, matches != cond.negate)


def _addrtype4(types: frozenset[str], local_side: bool) -> bool:
    """The route type of the address (iptables' IPv4 addrtype, nft's fib in both families): the
    device's own addresses are LOCAL, the other end of a flow is UNICAST."""
    return ("LOCAL" if local_side else "UNICAST") in types


def _addrtype6(types: frozenset[str], local_side: bool) -> bool:
    """IPv6, as the kernel's match_type6 decides it: MULTICAST, UNICAST and UNSPEC by the address's
    class (every address of the space is a unicast one, the device's own too), then LOCAL/ANYCAST by
    the route (local for the device's own addresses)."""
    if "MULTICAST" in types or "UNSPEC" in types:
        return False
    if types & {"LOCAL", "ANYCAST"}:
        return local_side and "LOCAL" in types
    return True  # UNICAST only


def _set(cond: SetRef, boxes: list[Box], space: Space, ruleset: Ruleset, unknown: list[str]) -> list[Box]:
    found = ruleset.sets.get(cond.name)
    if found is None or not found.complete or found.dynamic:
        why = "not captured" if found is None or not found.complete else "changed by rules as traffic comes"
        unknown.append(f"set {cond.name} (its members are {why})")
        return boxes
    if len(cond.sides) < len([d for d in found.dims if d != "proto"]):
        unknown.append(f"set {cond.name} matched on {len(cond.sides)} of its dimensions")
        return boxes
    region: list[Box] = []
    for member in found.members:
        member_boxes = list(boxes)
        sides = iter(cond.sides)
        for dim_kind, values in zip(found.dims, member, strict=True):
            if dim_kind == "proto":
                if _PROTO_NUMBER[space.proto] not in values:
                    member_boxes = []
                continue
            side = next(sides)
            if dim_kind == "addr":
                member_boxes = _restrict(member_boxes, SRC if side == "src" else DST, values)
            else:
                member_boxes = _restrict(member_boxes, SPORT if side == "src" else DPORT, values)
        region += member_boxes
    if not cond.negate:
        return disjoint(region)
    out: list[Box] = []
    for box in boxes:
        out += subtract_all(box, [c for c in region if intersect(box, c) is not None])
    return out
