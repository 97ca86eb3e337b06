"""nft JSON expressions -> conditions (pure): `key_conds(left, op, right, scope)` reads one match
(or one verdict-map element) for one family's pass (`nft_sets.named_set`: the document's sets).

Read exactly: ip/ip6 saddr/daddr; tcp/udp/udplite/sctp/dccp/th sport/dport; meta l4proto, ip
protocol, ip6 nexthdr; meta iifname/oifname/iif/oif ('eth*'); meta nfproto/protocol; meta/ct mark
(with a mask); meta pkttype; ct state/direction/status; tcp flags; fib saddr|daddr type — against
literals, ranges, prefixes, anonymous sets, `<`/`>` on ports, concatenations and named sets. A
header field of a known protocol still carries its protocol (`icmp type` never matches a TCP flow)
and `ip saddr` never matches an IPv6 packet; anything else is Unknown with the expression's JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_portspec.firewall import ruleset as ir
from pytest_portspec.firewall.intervals import Intervals, Span
from pytest_portspec.firewall.values import PROTOCOL_NUMBERS, ValueProblem, address_span, protocol

Json = Any  # a decoded JSON value
PROTO_NUMBER = {name: int(number) for number, name in PROTOCOL_NUMBERS.items()}
_IP: dict[str, ir.Family] = {"ip": 4, "ip6": 6}
_FAMILY_NAMES: dict[str, ir.Family] = {"ipv4": 4, "ip": 4, "ipv6": 6, "ip6": 6}
_HEADERS = {"icmp": "icmp", "icmpv6": "ipv6-icmp", "esp": "esp", "ah": "ah", "comp": "comp", "igmp": "igmp"}
SET_KINDS = {"addr", "port", "proto"}
_META: dict[str, tuple[str, str]] = {
    "iifname": ("iface", "in"), "iif": ("iface", "in"), "oifname": ("iface", "out"), "oif": ("iface", "out"),
    "l4proto": ("proto", ""), "nfproto": ("nfproto", ""), "protocol": ("nfproto", ""), "mark": ("mark", ""),
    "pkttype": ("pkttype", ""),
}  # fmt: skip
_RPF = (["saddr"], ["saddr", "iif"], ["saddr", "mark", "iif"], ["saddr", "mark"])  # mark: 0 for a new flow
_CT = {"state": "ctstate", "direction": "ctdir", "status": "ctstatus", "mark": "mark"}


class Unsupported(Exception):
    """A well-formed expression this model does not read: the match becomes Unknown."""


@dataclass(frozen=True)
class Field:
    """What a match's left side reads. kind: addr port proto iface nfproto mark pkttype ctstate
    ctdir ctstatus tcpflags fibtype, or other (a header field not read); side: src/dst, in/out."""

    kind: str
    side: str = ""
    family: ir.Family | None = None  # an ip/ip6 header field: the other family's packets never match
    deps: tuple[ir.Cond, ...] = ()  # `tcp dport` implies the protocol
    mask: Json = None  # `meta mark & 0xff`, `tcp flags & (syn | ack)`


@dataclass(frozen=True)
class NamedSet:
    name: str
    dims: tuple[str, ...] | None  # addr/port/proto per dimension; None: a type no SetDef holds
    family: ir.Family | None  # of its addresses
    elems: tuple[Json, ...]  # a map's are [key, value] pairs
    dynamic: bool  # rules add to it (`add @s`, `update @s`, a meter)
    definition: ir.SetDef | None  # addresses, ports, protocols (or tuples of them); None: another type


@dataclass
class Scope:
    family: ir.Family  # the pass: an inet table is read once per family
    table: str  # "inet filter"
    sets: dict[str, NamedSet]
    place: str = ""  # "input handle 7": names the anonymous sets a rule makes
    anonymous: dict[str, ir.SetDef] = field(default_factory=dict)


def single(expr: Json) -> tuple[str, Json]:
    if not isinstance(expr, dict) or len(expr) != 1:
        raise ValueProblem(f"expected an object with one key, found {short(expr)}")
    return next(iter(expr.items()))


def short(expr: Json, limit: int = 160) -> str:
    text = json.dumps(expr, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unwrap(item: Json) -> Json:
    """`{"elem": {"val": x, "timeout": 60}}` -> x."""
    return item["elem"].get("val") if isinstance(item, dict) and isinstance(item.get("elem"), dict) else item


def elements(right: Json) -> list[Json]:
    """The values a right side stands for: an anonymous set's elements, or the one value."""
    items = right["set"] if isinstance(right, dict) and isinstance(right.get("set"), list) else [right]
    return [unwrap(i) for i in items]


def field_of(expr: Json) -> Field | None:
    key, value = next(iter(expr.items())) if isinstance(expr, dict) and len(expr) == 1 else ("", None)
    if key == "&" and isinstance(value, list) and len(value) == 2:
        inner = field_of(value[0])
        return replace(inner, mask=value[1]) if inner and inner.kind in ("mark", "tcpflags") else None
    d = value if isinstance(value, dict) else {}
    if key == "payload":
        return _payload(d.get("protocol"), d.get("field"))
    if key == "meta" and d.get("key") in _META:
        return Field(*_META[d["key"]])
    if key == "ct" and "dir" not in d and d.get("key") in _CT:
        return Field(_CT[d["key"]])
    if key == "fib" and d.get("result") == "type" and d.get("flags") in (["daddr"], ["saddr"]):
        return Field("fibtype", "dst" if d["flags"] == ["daddr"] else "src")
    if key == "fib" and d.get("result") == "oif" and d.get("flags") in _RPF:  # reverse-path filter
        return Field("rpf", "strict" if "iif" in d["flags"] else "loose")
    return None


def _payload(proto: Json, name: Json) -> Field | None:
    side = {"saddr": "src", "daddr": "dst", "sport": "src", "dport": "dst"}.get(str(name), "")
    if proto in _IP:
        kind = "addr" if side else "proto" if name in ("protocol", "nexthdr") else "other"
        return Field(kind, side, _IP[proto])
    if proto in ("tcp", "udp", "udplite", "sctp", "dccp", "th"):
        deps = (ir.Proto(frozenset({proto})),) if proto != "th" else ()
        return Field("port" if side else "tcpflags" if name == "flags" else "other", side, deps=deps)
    return Field("other", deps=(ir.Proto(frozenset({_HEADERS[proto]})),)) if proto in _HEADERS else None


def key_conds(left: Json, op: str, right: Json, scope: Scope) -> list[ir.Cond]:
    """The conditions of `left op right` in one family's pass (`ip saddr` in the IPv6 pass: never)."""
    parts = left.get("concat") if isinstance(left, dict) else None
    found = [field_of(e) for e in parts] if isinstance(parts, list) else [field_of(left)]
    absent = [f.family for f in found if f is not None and f.family not in (None, scope.family)]
    if absent:
        return [ir.NfProto(absent[0])]  # that header is not in this family's packets
    deps = [d for f in found if f is not None for d in f.deps]
    flds = [f for f in found if f is not None and f.kind != "other"]
    try:
        if len(flds) < len(found):
            raise Unsupported
        if isinstance(right, str) and right.startswith("@"):
            return deps + _named(flds, op, right[1:], scope)
        return deps + (_compare(flds[0], op, right) if parts is None else _concat(flds, op, right, scope))
    except Unsupported:
        return [*deps, ir.Unknown(short({"match": {"op": op, "left": left, "right": right}}))]


def _compare(fld: Field, op: str, right: Json) -> list[ir.Cond]:
    if op in ("<", ">", "<=", ">="):
        return [_ordered(fld, op, right)]
    if op not in ("==", "!=", "in"):
        raise ValueProblem(f"unknown operator {op!r}")
    if fld.kind in ("ctstate", "ctstatus", "tcpflags"):
        return [_flags(fld, op, right)]
    negate, items, src = op == "!=", elements(right), fld.side == "src"
    if fld.kind in ("addr", "port"):
        values = Intervals.merged(dim_span(fld.kind, i, fld.family) for i in items)
        if fld.kind == "addr":
            return [ir.Addr("src" if src else "dst", values, negate)]
        return [ir.Ports("sport" if src else "dport", values, negate)]
    if fld.kind == "proto":
        return [ir.Proto(frozenset(protocol(_scalar(i)) for i in items), negate)]
    if fld.kind == "iface" and all(isinstance(i, str) and not i.endswith("\\*") for i in items):
        return [ir.Iface("in" if fld.side == "in" else "out", tuple(items), negate)]
    if fld.kind == "mark" and len(items) == 1 and isinstance(items[0], int):
        return [ir.Mark(items[0], fld.mask if isinstance(fld.mask, int) else 0xFFFFFFFF, negate)]
    if fld.kind == "rpf" and len(items) == 1 and isinstance(items[0], bool):  # `oif missing` / `exists`
        return [ir.Rpf(strict=fld.side == "strict", invert=(not items[0]) != negate)]
    if fld.kind == "fibtype":
        types = frozenset(_scalar(i).upper() for i in items)
        return [ir.AddrType("src" if src else "dst", types, negate, by_route=True)]
    if fld.kind == "nfproto":
        families = {_FAMILY_NAMES.get(_scalar(i), 0) for i in items} - {0}
        if len(families) == 1:
            return [ir.NfProto(4 if 4 in families else 6, negate)]
        return [_decided((len(families) == 2) != negate, right)]
    wanted = {"pkttype": "host", "ctdir": "original"}.get(fld.kind)  # what a new flow's first packet is
    if wanted is None:
        raise Unsupported
    return [_decided((wanted in items) != negate, right)]


def _decided(matches: bool, what: Json) -> ir.OnlyProto:
    return ir.OnlyProto(frozenset({"*"}) if matches else frozenset(), short(what))


def _scalar(item: Json) -> str:
    if isinstance(item, bool) or not isinstance(item, str | int):
        raise Unsupported
    return str(item)


def _ordered(fld: Field, op: str, right: Json) -> ir.Cond:
    if fld.kind != "port" or isinstance(right, bool) or not isinstance(right, int):
        raise Unsupported
    span = {"<": (0, right - 1), "<=": (0, right), ">": (right + 1, 65535), ">=": (right, 65535)}[op]
    return ir.Ports("sport" if fld.side == "src" else "dport", Intervals.of(span))


def _bits(value: Json) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, dict) and isinstance(value.get("|"), list):  # `syn | ack`
        value = value["|"]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise Unsupported


def _flags(fld: Field, op: str, right: Json) -> ir.Cond:
    """ct state (CtState), ct status and tcp flags of a new flow's first packet: state new, flags
    SYN, no status bit (dnat neither: a flow a DNAT rule translated is decided there, `forward`).
    `in` tests for any of the bits; `==`/`!=` compare exactly (as nft's bytecode does)."""
    alternatives = [_bits(e) for e in elements(right)]
    exact = op != "in" or (isinstance(right, dict) and "set" in right)
    if fld.kind == "ctstate" and fld.mask is None:  # a packet is in exactly one state
        states = [a for a in alternatives if len(a) == 1 or not exact]
        return ir.CtState(frozenset(s.upper() for a in states for s in a), op == "!=")
    if fld.kind == "ctstatus" and any("snat" in a for a in alternatives):
        raise Unsupported  # a masquerade before a later postrouting chain sets it
    packet = frozenset({"tcpflags": {"syn"}, "ctstate": {"new"}}.get(fld.kind, set()))
    if fld.mask is not None:
        packet &= _bits(fld.mask)
    matches = any((packet == a) if exact else bool(packet & a) for a in alternatives)
    protos = frozenset({"tcp"} if fld.kind == "tcpflags" else {"*"})
    return ir.OnlyProto(protos if matches != (op == "!=") else frozenset(), short(right))


def dim_span(kind: str, item: Json, family: ir.Family | None) -> Span:
    """One value (or range, prefix) of an address, port or protocol as (first, last)."""
    if isinstance(item, dict) and "range" in item:
        pair = item["range"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueProblem(f"bad range {short(item)}")
        return dim_span(kind, pair[0], family)[0], dim_span(kind, pair[1], family)[1]
    if kind == "addr" and family is not None and item != "*":
        if isinstance(item, dict) and isinstance(item.get("prefix"), dict):
            return address_span(f"{item['prefix'].get('addr')}/{item['prefix'].get('len')}", family)
        if isinstance(item, str):
            return address_span(item, family)
    elif kind == "port" and isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 65535:
        return item, item
    elif kind == "proto" and isinstance(item, int | str) and not isinstance(item, bool):
        number = item if isinstance(item, int) else PROTO_NUMBER.get(protocol(item))
        if number is not None:
            return number, number
    raise Unsupported


def _sides(flds: list[Field]) -> tuple[str, ...]:
    return tuple(f.side for f in flds if f.kind != "proto")  # compile.py reads src/dst for ports too


def _concat(flds: list[Field], op: str, right: Json, scope: Scope) -> list[ir.Cond]:
    items = elements(right)
    if len(items) == 1 and op != "!=":  # one tuple: each part must match
        pairs = zip(flds, _parts(items[0], len(flds)), strict=True)
        return [c for f, v in pairs for c in _compare(f, "==", v)]
    dims = tuple(f.kind for f in flds)
    if op not in ("==", "!=") or not set(dims) <= SET_KINDS:
        raise Unsupported
    family = next((f.family for f in flds if f.family is not None), None)
    key = f"{scope.table} {scope.place} anonymous set {len(scope.anonymous) + 1}"
    scope.anonymous[key] = ir.SetDef(key, dims, tuple(member(dims, i, family) for i in items))
    return [ir.SetRef(key, _sides(flds), op == "!=")]


def _parts(item: Json, count: int) -> list[Json]:
    parts = item["concat"] if isinstance(item, dict) and "concat" in item else [item] if count == 1 else None
    if not isinstance(parts, list) or len(parts) != count:
        raise ValueProblem(f"expected {count} values joined by '.', found {short(item)}")
    return parts


def member(dims: tuple[str, ...], item: Json, family: ir.Family | None) -> tuple[Intervals, ...]:
    parts = _parts(unwrap(item), len(dims))
    return tuple(Intervals.of(dim_span(d, p, family)) for d, p in zip(dims, parts, strict=True))


def _named(flds: list[Field], op: str, name: str, scope: Scope) -> list[ir.Cond]:
    found = scope.sets.get(name)
    if found is None:
        raise ValueProblem(f"set @{name} is not in table {scope.table}")
    if op not in ("==", "!=", "in"):
        raise Unsupported
    if found.dims == tuple(f.kind for f in flds):
        return [ir.SetRef(f"{scope.table} @{name}", _sides(flds), op == "!=")]
    if len(flds) == 1 and not found.dynamic:  # a type no SetDef holds (ifname, ...): its elements
        return _compare(flds[0], op, {"set": list(found.elems)})
    raise Unsupported
