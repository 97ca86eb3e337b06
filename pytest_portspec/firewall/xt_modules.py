"""The `-m` match modules of iptables rules -> conditions (pure): how many values each option
takes (ARITY), and one reader per understood module (READERS). See matches.py for the list."""

from __future__ import annotations

from collections.abc import Callable

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.ruleset import (
    Addr,
    AddrSide,
    AddrType,
    Cond,
    CtState,
    Family,
    Mark,
    OnlyProto,
    Ports,
    PortSide,
    Proto,
    Rate,
    Rpf,
    SetRef,
    Unknown,
)
from pytest_portspec.firewall.values import (
    ValueProblem,
    address_range,
    addresses,
    port_list,
    port_span,
    protocol,
)

Option = tuple[bool, str, list[str]]
# how many values each option of a module takes (None: the module is understood, see READERS)
ARITY: dict[str, dict[str, int]] = {
    "tcp": {"--dport": 1, "--destination-port": 1, "--sport": 1, "--source-port": 1, "--tcp-flags": 2,
            "--syn": 0},
    "udp": {"--dport": 1, "--destination-port": 1, "--sport": 1, "--source-port": 1},
    "multiport": {"--dports": 1, "--destination-ports": 1, "--sports": 1, "--source-ports": 1, "--ports": 1},
    "conntrack": {f"--ct{k}": 1 for k in ("state", "proto", "origsrc", "origdst", "replsrc", "repldst",
                  "origsrcport", "origdstport", "replsrcport", "repldstport", "status", "expire", "dir")},
    "state": {"--state": 1},
    "limit": {"--limit": 1, "--limit-burst": 1},
    "hashlimit": {"--hashlimit-upto": 1, "--hashlimit-above": 1, "--hashlimit": 1, "--hashlimit-burst": 1,
                  "--hashlimit-mode": 1, "--hashlimit-srcmask": 1, "--hashlimit-dstmask": 1,
                  "--hashlimit-name": 1, "--hashlimit-htable-size": 1, "--hashlimit-htable-max": 1,
                  "--hashlimit-htable-expire": 1, "--hashlimit-htable-gcinterval": 1},
    "recent": {"--set": 0, "--rcheck": 0, "--update": 0, "--remove": 0, "--seconds": 1, "--reap": 0,
               "--hitcount": 1, "--rttl": 0, "--name": 1, "--mask": 1, "--rsource": 0, "--rdest": 0},
    "connlimit": {"--connlimit-upto": 1, "--connlimit-above": 1, "--connlimit-mask": 1,
                  "--connlimit-saddr": 0, "--connlimit-daddr": 0},
    "addrtype": {"--src-type": 1, "--dst-type": 1, "--limit-iface-in": 0, "--limit-iface-out": 0},
    "comment": {"--comment": 1},
    "iprange": {"--src-range": 1, "--dst-range": 1},
    "set": {"--match-set": 2, "--return-nomatch": 0, "--update-counters": 0, "--update-subcounters": 0},
    "icmp": {"--icmp-type": 1},
    "icmp6": {"--icmpv6-type": 1},
    "mark": {"--mark": 1},
    "connmark": {"--mark": 1},
    "rpfilter": {"--loose": 0, "--validmark": 0, "--accept-local": 0, "--invert": 0},
    "pkttype": {"--pkt-type": 1},
    "rt": {"--rt-type": 1, "--rt-segsleft": 1, "--rt-len": 1, "--rt-0-res": 0, "--rt-0-addrs": 1,
           "--rt-0-not-strict": 0},
    "frag": {"--fragid": 1, "--fraglen": 1, "--fragres": 0, "--fragfirst": 0, "--fragmore": 0,
             "--fraglast": 0},
    "esp": {"--espspi": 1},
    "ah": {"--ahspi": 1, "--ahlen": 1, "--ahres": 0},
}  # fmt: skip


ModuleReader = Callable[[list[Option], Family, str], list[Cond]]


_PORT_SIDES: dict[str, PortSide] = {
    "--dport": "dport",
    "--destination-port": "dport",
    "--sport": "sport",
    "--source-port": "sport",
}


def _ports_module(options: list[Option], family: Family, text: str) -> list[Cond]:
    conds: list[Cond] = []
    for negate, option, values in options:
        if option in _PORT_SIDES:
            conds.append(Ports(_PORT_SIDES[option], Intervals.of(port_span(values[0])), negate))
        elif option == "--syn":
            conds.append(OnlyProto(frozenset() if negate else frozenset({"tcp"}), text))
        elif option == "--tcp-flags":
            conds.append(OnlyProto(frozenset({"tcp"}) if _syn_matches(values, negate) else frozenset(), text))
    return conds


def _syn_matches(values: list[str], negate: bool) -> bool:
    """Whether a new connection's SYN (flags: SYN only) satisfies `--tcp-flags MASK COMP`."""
    names = {"SYN", "ACK", "FIN", "RST", "URG", "PSH", "ECE", "CWR"}

    def flags(text: str) -> set[str]:
        found = set(names) if text == "ALL" else set() if text == "NONE" else set(text.split(","))
        if not found <= names:
            raise ValueProblem(f"unknown TCP flags {text!r}")
        return found

    mask, comp = flags(values[0]), flags(values[1])
    return ((mask & {"SYN"}) == comp) != negate


def _multiport(options: list[Option], family: Family, text: str) -> list[Cond]:
    side = {"--dports": "dport", "--destination-ports": "dport", "--sports": "sport",
            "--source-ports": "sport", "--ports": "either"}  # fmt: skip
    return [Ports(side[o], port_list(v[0]), n) for n, o, v in options]  # type: ignore[arg-type]


def _states(options: list[Option], family: Family, text: str) -> list[Cond]:
    conds: list[Cond] = []
    for negate, option, values in options:
        value = values[0]
        if option in ("--ctstate", "--state"):
            conds.append(CtState(frozenset(value.upper().split(",")), negate))
        elif option == "--ctproto":
            conds.append(Proto(frozenset({protocol(value)}), negate))
        elif option in ("--ctorigsrc", "--ctrepldst"):  # no NAT yet on a new flow: reply = swapped
            conds.append(Addr("src", addresses([value], family), negate))
        elif option in ("--ctorigdst", "--ctreplsrc"):
            conds.append(Addr("dst", addresses([value], family), negate))
        elif option in ("--ctorigsrcport", "--ctrepldstport"):
            conds.append(Ports("sport", Intervals.of(port_span(value)), negate))
        elif option in ("--ctorigdstport", "--ctreplsrcport"):
            conds.append(Ports("dport", Intervals.of(port_span(value)), negate))
        elif option == "--ctdir":
            original = (value.upper() == "ORIGINAL") != negate
            conds.append(OnlyProto(frozenset({"*"}) if original else frozenset(), text))
        else:
            conds.append(Unknown(text))
    return conds


def _rate(options: list[Option], family: Family, text: str) -> list[Cond]:
    names = {o for _, o, _ in options}
    if "--limit" in names or "--limit-burst" in names or not names:
        return [Rate("limit", at_low_rate=True)]
    if names & {"--hashlimit-upto", "--hashlimit"}:
        return [Rate("hashlimit", at_low_rate=True)]
    if "--hashlimit-above" in names:
        return [Rate("hashlimit", at_low_rate=False)]
    if "--connlimit-upto" in names:
        return [Rate("connlimit", at_low_rate=True)]
    if "--connlimit-above" in names:
        return [Rate("connlimit", at_low_rate=False)]
    checks = [n for n, o, _ in options if o in ("--rcheck", "--update", "--remove")]
    if checks:  # a quiet source is not in the list (or under the hit count)
        return [Rate("recent", at_low_rate=checks[0])]
    if "--set" in names:
        return []  # adds the source to a list and always matches
    return [Unknown(text)]


def _addrtype(options: list[Option], family: Family, text: str) -> list[Cond]:
    found: list[Cond] = []
    for negate, option, values in options:
        if option in ("--src-type", "--dst-type"):
            side: AddrSide = "src" if option == "--src-type" else "dst"
            found.append(AddrType(side, frozenset(values[0].upper().split(",")), negate))
    return found


def _iprange(options: list[Option], family: Family, text: str) -> list[Cond]:
    return [
        Addr("src" if o == "--src-range" else "dst", Intervals.of(address_range(v[0], family)), n)
        for n, o, v in options
    ]


def _set(options: list[Option], family: Family, text: str) -> list[Cond]:
    found: list[Cond] = []
    for negate, option, values in options:
        if option == "--match-set":
            found.append(SetRef(values[0], tuple(values[1].split(",")), negate))
        elif option == "--return-nomatch":
            found.append(Unknown(text))
    return found


def _icmp(options: list[Option], family: Family, text: str) -> list[Cond]:
    return [OnlyProto(frozenset({"icmp" if family == 4 else "ipv6-icmp"}), text)]


def _mark(options: list[Option], family: Family, text: str) -> list[Cond]:
    negate, _, values = options[0] if options else (False, "", ["0"])
    value, _, mask = values[0].partition("/")
    try:
        return [Mark(int(value, 0), int(mask, 0) if mask else 0xFFFFFFFF, negate)]
    except ValueError:
        raise ValueProblem(f"bad mark {values[0]!r}") from None


def _pkttype(options: list[Option], family: Family, text: str) -> list[Cond]:
    negate, _, values = options[0]
    unicast = (values[0].lower() in ("unicast", "host")) != negate  # the flows asked about are unicast
    return [OnlyProto(frozenset({"*"}) if unicast else frozenset(), text)]


def _never(options: list[Option], family: Family, text: str) -> list[Cond]:
    """Extension headers a new flow's first packet does not carry (rt, frag), or esp/ah fields."""
    return [OnlyProto(frozenset(), text)]


def _always(options: list[Option], family: Family, text: str) -> list[Cond]:
    return []


def _rpfilter(options: list[Option], family: Family, text: str) -> list[Cond]:
    names = {o for _, o, _ in options}
    return [Rpf(strict="--loose" not in names, invert="--invert" in names)]


READERS: dict[str, ModuleReader] = {
    "rpfilter": _rpfilter,
    "tcp": _ports_module,
    "udp": _ports_module,
    "multiport": _multiport,
    "conntrack": _states,
    "state": _states,
    "limit": _rate,
    "hashlimit": _rate,
    "recent": _rate,
    "connlimit": _rate,
    "addrtype": _addrtype,
    "comment": _always,
    "iprange": _iprange,
    "set": _set,
    "icmp": _icmp,
    "icmp6": _icmp,
    "mark": _mark,
    "connmark": _mark,
    "pkttype": _pkttype,
    "rt": _never,
    "frag": _never,
    "esp": lambda o, f, t: [OnlyProto(frozenset({"esp"}), t)],
    "ah": lambda o, f, t: [OnlyProto(frozenset({"ah"}), t)],
}
