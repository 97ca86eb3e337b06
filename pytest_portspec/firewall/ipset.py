"""`ipset save` -> the members of each set, per family (pure).

    parse_ipset_save(text) -> {4: {"blocklist": SetDef, ...}, 6: {...}}

Read: hash:ip, hash:net, hash:ip,port, hash:net,port, hash:ip,port,ip, hash:ip,port,net,
hash:net,port,net, hash:net,net, bitmap:ip and bitmap:port (with `netmask`). A port entry
(`tcp:80`, `80`, `udp:1000-2000`) keeps its protocol in a 'proto' dimension of protocol numbers, as
compile.py reads it (bitmap:port stores no protocol: it matches any). `nomatch` entries are
exceptions the kernel applies most specific prefix first: read exactly for a set with one net
dimension, else the set is incomplete. list:set and sets of marks, interfaces or MAC addresses
are incomplete SetDefs (an undecided match). Timeouts, counters and comments are ignored. A line
that is not `create` or `add` as ipset prints them raises RulesetError naming the line.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pytest_portspec.errors import RulesetError
from pytest_portspec.firewall.intervals import EMPTY, Intervals
from pytest_portspec.firewall.ruleset import Family, SetDef
from pytest_portspec.firewall.values import (
    PROTOCOL_NUMBERS,
    ValueProblem,
    address_range,
    address_span,
    port_span,
    protocol,
)

SOURCE = "ipset save"
_PROTO_NUMBER = {name: int(number) for number, name in PROTOCOL_NUMBERS.items()}
_WITH_PORTS = {6, 17, 132, 136}  # tcp, udp, sctp, udplite; an icmp entry holds a type instead
_VALUED = {"family", "hashsize", "maxelem", "timeout", "netmask", "range", "size", "markmask", "bucketsize",
           "initval"}  # fmt: skip
Entry = tuple[tuple[Intervals, ...], bool]  # the values per dimension, nomatch


@dataclass
class _Set:
    name: str
    kind: str  # "hash:net,port"
    parts: tuple[str, ...]  # ip/net/port per comma of an entry; () for a type not read
    family: Family
    netmask: int | None = None
    entries: list[Entry] = field(default_factory=list)

    @property
    def families(self) -> tuple[Family, ...]:
        addresses = {"ip", "net"} & set(self.kind.partition(":")[2].split(","))  # read or not
        return (self.family,) if addresses else (4, 6)

    @property
    def layout(self) -> list[tuple[str, bool]]:
        """(dimension, whether it is a net) per dimension: a port part is protocol and port."""
        ports = [("port", False)] if self.kind.startswith("bitmap:") else [("proto", False), ("port", False)]
        return [d for p in self.parts for d in ([("addr", p == "net")] if p in ("ip", "net") else ports)]

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.layout)

    def add(self, entry: str, options: list[str]) -> None:
        if not self.parts:
            return  # members of a type the model does not read
        values = entry.split(",")
        if len(values) != len(self.parts):
            raise ValueProblem(f"{entry!r} is not an entry of a {self.kind} set")
        read: list[Intervals] = []
        for part, value in zip(self.parts, values, strict=True):
            read += [self._address(value)] if part in ("ip", "net") else self._port(value)
        self.entries.append((tuple(read), "nomatch" in options))

    def _address(self, text: str) -> Intervals:
        if self.netmask is not None and "/" not in text and "-" not in text:
            text = f"{text}/{self.netmask}"  # the set stores the network of each address
        span = address_span(text, self.family) if "/" in text else address_range(text, self.family)
        return Intervals.of(span)

    def _port(self, text: str) -> list[Intervals]:
        name, _, port = text.rpartition(":")
        if self.kind.startswith("bitmap:"):
            return [Intervals.of(port_span(port, "-"))]
        number = _PROTO_NUMBER.get(protocol(name or "tcp"), int(name) if name.isdigit() else None)
        if number is None:
            raise ValueProblem(f"unknown protocol {name!r}")
        return [
            Intervals.of((number, number)),
            Intervals.of(port_span(port, "-")) if number in _WITH_PORTS else EMPTY,
        ]

    def set_def(self) -> SetDef:
        if not self.parts:
            return SetDef(self.name, (), (), complete=False)
        if not any(nomatch for _, nomatch in self.entries):
            return SetDef(self.name, self.dims, tuple(values for values, _ in self.entries))
        nets = [i for i, (_, net) in enumerate(self.layout) if net]
        if len(nets) != 1:
            return SetDef(self.name, self.dims, (), complete=False)
        return SetDef(self.name, self.dims, _most_specific_first(self.entries, nets[0]))


def _most_specific_first(entries: list[Entry], at: int) -> tuple[tuple[Intervals, ...], ...]:
    """For each value of the other dimensions, the addresses whose most specific entry is not
    nomatch: the entries applied from the widest prefix to the narrowest."""
    regions: dict[tuple[Intervals, ...], Intervals] = {}
    for values, nomatch in sorted(entries, key=lambda e: -e[0][at].size()):
        key = values[:at] + values[at + 1 :]
        found = regions.get(key, EMPTY)
        regions[key] = found - values[at] if nomatch else found | values[at]
    return tuple((*key[:at], region, *key[at:]) for key, region in regions.items() if region)


def _create(name: str, kind: str, options: list[str]) -> _Set:
    valued = {k: v for k, v in zip(options, [*options[1:], ""], strict=True) if k in _VALUED}
    method, _, spec = kind.partition(":")
    parts = tuple(spec.split(","))
    readable = (method == "hash" and set(parts) <= {"ip", "net", "port"}) or (
        method == "bitmap" and parts in (("ip",), ("port",)))  # fmt: skip
    family: Family = 6 if valued.get("family") == "inet6" else 4
    netmask = valued.get("netmask")
    if netmask is not None and not netmask.isdigit():
        raise ValueProblem(f"bad netmask {netmask!r}")
    return _Set(name, kind, parts if readable else (), family, int(netmask) if netmask else None)


def parse_ipset_save(text: str) -> dict[Family, dict[str, SetDef]]:
    sets: dict[str, _Set] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
            if len(words) >= 3 and words[0] == "create":
                sets[words[1]] = _create(words[1], words[2], words[3:])
            elif len(words) >= 3 and words[0] == "add" and words[1] in sets:
                sets[words[1]].add(words[2], words[3:])
            else:
                raise ValueProblem("expected `create NAME TYPE ...` or `add NAME ENTRY ...` of a created set")
        except ValueError as exc:  # ValueProblem, or shlex's unclosed quote
            raise RulesetError(SOURCE, f"line {number}", f"{exc}: {line[:120]!r}") from None
    found: dict[Family, dict[str, SetDef]] = {}
    for one in sets.values():
        made = one.set_def()
        for family in one.families:
            found.setdefault(family, {})[one.name] = made
    return found
