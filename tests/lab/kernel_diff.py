"""The kernel model against the real kernel: random rule sets on an emulated appliance, real packets.

Pieces of tests/lab/test_kernel_differential.py:

- `generate(seed, index)`: one reproducible rule set: ufw commands (defaults, allow/deny/reject/limit
  with ports, ranges, lists, sources, own addresses, interfaces, source ports, outbound, IPv6,
  prepend, logging), raw iptables/ip6tables commands around ufw's chains (inserted above, between
  and after them, user chains with RETURN/jump/goto, multiport, iprange, `!`, conntrack, addrtype,
  policies, halves of the address space, rules that add up, raw/mangle/security tables, OUTPUT, a
  few the model cannot decide) and, once `pytest_portspec.firewall.nftables` exists, native
  nftables tables (sets, maps, user chains, fib, netdev ingress); then the packets to send: one
  aimed at each rule (inside and outside its networks, at its ports) and random ones.
- `Bench`: one lab appliance with two extra links (eth7, ens8) to a probe namespace of this test,
  an agent (kernel_agent.py) in each, the rule set applied through ufw's own frontend, iptables and
  nft inside the appliance's namespaces, the kernel's state captured with the plugin's own snapshot
  commands (`pytest_portspec.snapshot`), and the packets sent.
- `run_rule_set`: `explain()` of each packet against what the kernel did with it.

What a packet meets is made to depend on the firewall alone: neighbours are fixed entries on both
sides (a rule set that drops ICMPv6 would otherwise stop IPv6 neighbour discovery), ICMP errors
are not rate limited in the appliance, its connection tracking and `recent` lists are emptied
before each rule set, every OUTPUT rule is for NEW connections only (answers always get out), and
a TCP probe reports what became of its SYN (a rule may answer the connection's next packets).

Network safety: every address below is in 198.18.0.0/15 or 2001:2::/48 (checked on import and
for every packet), on links this module creates between namespaces it creates (the probe
namespace) or the lab creates (the appliance); neither forwards and nothing routes to the host.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import json
import os
import random
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_portspec.errors import LabError
from pytest_portspec.firewall.evaluate import Decided
from pytest_portspec.firewall.model import KernelModel, sources_from_texts
from pytest_portspec.firewall.packet import PacketQuery, explain
from pytest_portspec.lab.appliance import UFW_DRIVER
from pytest_portspec.lab.fixture import Appliance, LabSession
from pytest_portspec.snapshot import (
    KERNEL_SECTIONS,
    NOT_LOADED,
    SECTIONS,
    _script,
    kernel_texts,
    parse_sections,
)

AGENT = Path(__file__).with_name("kernel_agent.py")
SAFE = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:2::/48"))
# native nftables rules only once the model reads them (PORTSPEC_KERNEL_DIFF_NFT=0 leaves them out)
NFT_READER = importlib.util.find_spec("pytest_portspec.firewall.nftables") is not None and os.environ.get(
    "PORTSPEC_KERNEL_DIFF_NFT", "1"
) not in ("0", "no")

Proto = Literal["tcp", "udp"]
Direction = Literal["in", "out"]


def safe(address: str) -> str:
    """Every address a packet of this test carries is one of the lab's benchmarking addresses."""
    ip = ipaddress.ip_address(address)
    if not any(ip in net for net in SAFE):
        raise ValueError(f"{address} is outside 198.18.0.0/15 and 2001:2::/48")
    return address


@dataclass(frozen=True)
class Link:
    probe_end: str  # the link's end in the probe namespace
    iface: str  # its end in the appliance
    own4: str
    own6: str
    sources4: tuple[str, ...]  # remote addresses in the probe namespace; the first ones on the link's prefix
    sources6: tuple[str, ...]
    routed: tuple[str, ...]  # networks of the off-link sources, routed over this link by the appliance

    def own(self, version: int) -> str:
        return self.own6 if version == 6 else self.own4

    def sources(self, version: int) -> tuple[str, ...]:
        return self.sources6 if version == 6 else self.sources4


LINKS = (
    Link(
        "kdpa",
        "eth7",
        "198.18.240.1",
        "2001:2:0:f0::1",
        ("198.18.240.2", "198.18.240.66", "198.18.240.130", "198.18.240.200", "198.18.244.9", "198.19.125.9"),
        ("2001:2:0:f0::2", "2001:2:0:f0:8000::66", "2001:2:0:f4::9"),
        ("198.18.244.0/24", "198.19.125.0/24", "2001:2:0:f4::/64"),
    ),
    Link(
        "kdpb",
        "ens8",
        "198.18.241.1",
        "2001:2:0:f1::1",
        ("198.18.241.2", "198.18.241.77", "198.18.241.190", "198.18.245.9", "198.19.126.9"),
        ("2001:2:0:f1::2", "2001:2:0:f1:8000::77", "2001:2:0:f5::9"),
        ("198.18.245.0/24", "198.19.126.0/24", "2001:2:0:f5::/64"),
    ),
)
ON_LINK = {"198.18.240": "/24", "198.18.241": "/24", "2001:2:0:f0:": "/64", "2001:2:0:f1:": "/64"}
for _link in LINKS:
    for _address in (_link.own4, _link.own6, *_link.sources4, *_link.sources6):
        safe(_address)
    for _net in _link.routed:
        assert any(
            ipaddress.ip_network(_net).subnet_of(n)  # type: ignore[arg-type]
            for n in SAFE
            if n.version == (6 if ":" in _net else 4)
        )

# every probed port has a listener in the appliance (TCP, UDP over IPv4 and IPv6)
POOL = (53, 67, 68, 80, 123, 137, 443, 445, 1000, 5353, 5999, 6000, 6001, 6050, 6099, 6100, 6101,
        7000, 7001, 7002, 7003, 7004, 7005, 7006, 7007, 7008, 8080, 9000)  # fmt: skip
RANGES = ("6000:6100", "7000:7004", "7003:7008", "1000:6000", "53:123", "5999:6001", "7000:9000", "6050:7002")
FIXED_SPORTS = (53, 67, 123, 1000, 40000)
V4_NETS = (
    "198.18.240.0/24", "198.18.240.0/25", "198.18.240.128/25", "198.18.240.64/26", "198.18.240.192/26",
    "198.18.241.0/24", "198.18.241.0/25", "198.18.241.128/25", "198.18.240.0/23", "198.18.244.0/22",
    "198.18.0.0/16", "198.19.0.0/16", "198.18.0.0/15", "198.19.125.9", "198.18.240.66", "198.18.241.77/32",
    "0.0.0.0/1", "128.0.0.0/1", "198.18.128.0/17", "198.19.126.0/24",
)  # fmt: skip
V6_NETS = (
    "2001:2:0:f0::/64", "2001:2:0:f0::/65", "2001:2:0:f0:8000::/65", "2001:2:0:f1::/64",
    "2001:2:0:f1:8000::/65", "2001:2:0:f4::/63", "2001:2::/48", "2001:2:0:f0::/60", "2001:2:0:f0::2",
    "::/1", "8000::/1", "2001:2:0:f5::9/128",
)  # fmt: skip
V4_RANGES = ("198.18.240.50-198.18.240.150", "198.18.240.0-198.18.241.100", "198.18.241.150-198.19.126.9",
             "198.18.244.9-198.19.125.9")  # fmt: skip
V6_RANGES = (
    "2001:2:0:f0::1-2001:2:0:f0::ffff",
    "2001:2:0:f0::-2001:2:0:f4::",
    "2001:2:0:f1:8000::-2001:2:0:f5::9",
)
HALVES = {4: ("0.0.0.0/1", "128.0.0.0/1"), 6: ("::/1", "8000::/1")}
PAIRS = {
    4: (HALVES[4], ("198.18.240.0/25", "198.18.240.128/25"), ("198.18.0.0/16", "198.19.0.0/16")),
    6: (HALVES[6], ("2001:2:0:f0::/65", "2001:2:0:f0:8000::/65")),
}
UFW_IFACES = ("eth7", "ens8", "eth+", "ens+", "eth0")
IPT_IFACES = ("eth7", "ens8", "eth+", "ens+")


@dataclass(frozen=True)
class Probe:
    ident: int
    direction: Direction
    proto: Proto
    src: str
    dst: str
    sport: int | None  # a fixed source port; None: an ephemeral one (the agent reports it)
    dport: int
    iface: str

    @property
    def version(self) -> int:
        return 6 if ":" in self.src else 4

    def describe(self, sport: int | None = None) -> str:
        port = sport if sport is not None else self.sport
        src = f"[{self.src}]" if self.version == 6 else self.src
        dst = f"[{self.dst}]" if self.version == 6 else self.dst
        way = "in on" if self.direction == "in" else "out on"
        return f"{self.proto} {src}:{port or 'ephemeral'} -> {dst}:{self.dport} ({way} {self.iface})"


@dataclass
class RuleSet:
    index: int
    seed: str
    ipv6: bool  # IPV6= of /etc/default/ufw
    ufw_enabled: bool
    ufw: list[list[str]]
    shell: list[str]  # iptables / ip6tables commands, in order
    nft: list[str]  # lines of one `nft -f` file
    probes: list[Probe] = field(default_factory=list)

    def listing(self) -> str:
        lines = [f"rule set {self.index} (seed {self.seed!r}): IPV6={'yes' if self.ipv6 else 'no'}"]
        lines += ["  ufw " + " ".join(_quote(w) for w in c) for c in self.ufw]
        lines.append("  ufw --force enable" if self.ufw_enabled else "  (ufw left disabled)")
        lines += [f"  {c}" for c in self.shell]
        lines += [f"  nft {line}" for line in self.nft]
        return "\n".join(lines)


def _quote(word: str) -> str:
    return word if re.fullmatch(r"[\w.:/,+@%=-]+", word) else repr(word)


# ------------------------------------------------------------------------------------------
# rule sets


class _Gen:
    def __init__(self, seed: str, index: int) -> None:
        self.rng = random.Random(f"{seed}/{index}")
        self.ports: set[int] = set()  # ports the rules name (probed more often)
        self.limited: set[int] = set()  # ports behind ufw's `limit` (a source may hit them 5 times in 30 s)
        self.chains = 0

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: tuple[Any, ...] | list[Any]) -> Any:
        return self.rng.choice(list(items))

    def port(self) -> int:
        port = int(self.pick(POOL))
        self.ports.add(port)
        return port

    def port_range(self) -> str:
        text = str(self.pick(RANGES))
        lo, hi = (int(p) for p in text.split(":"))
        self.ports |= {p for p in POOL if lo - 1 <= p <= hi + 1}
        return text

    def port_list(self) -> str:
        items = [str(self.port()) for _ in range(self.rng.randint(1, 3))]
        if self.chance(0.4):
            items.append(self.port_range())
        return ",".join(dict.fromkeys(items))

    def ports_arg(self) -> tuple[str, bool]:
        """A port argument and whether it needs a protocol (ranges and lists do)."""
        roll = self.rng.random()
        if roll < 0.55:
            return str(self.port()), False
        if roll < 0.8:
            return self.port_range(), True
        return self.port_list(), True

    def net(self, version: int) -> str:
        return str(self.pick(V6_NETS if version == 6 else V4_NETS))

    def own(self, version: int) -> str:
        link: Link = self.pick(LINKS)
        return link.own(version)


def generate(seed: str, index: int) -> RuleSet:
    g = _Gen(seed, index)
    ipv6 = g.chance(0.88)
    enabled = g.chance(0.92)
    rules = RuleSet(index, seed, ipv6, enabled, [], [], [])
    rules.ufw.append(["default", g.pick(("deny",) * 5 + ("allow", "allow", "reject", "reject")), "incoming"])
    rules.ufw.append(["default", g.pick(("allow",) * 6 + ("deny", "deny", "reject")), "outgoing"])
    for _ in range(g.rng.randint(2, 11)):
        rules.ufw.append(_ufw_rule(g, ipv6))
    if g.chance(0.1):
        rules.ufw.append(["logging", g.pick(("off", "low", "medium", "high", "full"))])
    counts: dict[tuple[int, str, str], int] = {}
    for version in (4, 6):
        base = 6 if enabled and (version == 4 or ipv6) else 0
        counts[(version, "filter", "INPUT")] = base + (1 if version == 6 and enabled and not ipv6 else 0)
        counts[(version, "filter", "OUTPUT")] = base + (1 if version == 6 and enabled and not ipv6 else 0)
    for _ in range(g.rng.choice((0, 1, 2, 3, 3, 4, 5, 6, 8))):
        _raw_rules(g, rules, counts)
    if enabled and not ipv6:
        # ufw with IPV6=no drops every IPv6 packet, replies too: an accepting rule above must let its
        # connection's answers out, or a connection could not tell what happened to its SYN
        rules.shell.append("ip6tables -I OUTPUT 1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    if NFT_READER and g.chance(0.4):
        _nft_rules(g, rules)
    rules.probes = _probes(g, rules)
    return rules


def _ufw_rule(g: _Gen, ipv6: bool) -> list[str]:
    action = g.pick(("allow",) * 4 + ("deny",) * 3 + ("reject",) * 2)
    version = 6 if ipv6 and g.chance(0.35) else 4
    proto = g.pick(("tcp", "udp", "tcp", None))
    kind = g.pick(("simple",) * 4 + ("from", "from-port", "from-port", "to-own", "on", "on", "sport",
                   "out", "out-to", "limit", "prepend", "to-any-own"))  # fmt: skip
    if kind == "simple":
        port, needs = g.ports_arg()
        proto = proto or ("tcp" if needs else None)
        return [action, f"{port}/{proto}" if proto else port]
    if kind == "from":
        return [action, "from", g.net(version)]
    if kind == "prepend":
        rule = ["prepend", action, "from", g.net(version)]
        if g.chance(0.5):
            rule += ["to", "any", "port", str(g.port())]
        return rule
    if kind == "to-any-own":
        return [action, "to", g.own(version)]
    if kind == "limit":
        limited = g.port()
        g.limited.add(limited)
        limit_from = ["from", g.net(version)] if g.chance(0.3) else []
        return ["limit", "proto", "tcp", *limit_from, "to", "any", "port", str(limited)]
    port, needs = g.ports_arg()
    proto = proto or ("tcp" if needs else None)
    with_proto = ["proto", proto] if proto else []
    source: str
    if kind == "from-port":
        return [action, *with_proto, "from", g.net(version), "to", "any", "port", port]
    if kind == "to-own":
        source = g.net(version) if g.chance(0.4) else "any"
        return [action, *with_proto, "from", source, "to", g.own(version), "port", port]
    if kind == "on":
        iface = g.pick(UFW_IFACES)
        if g.chance(0.25):
            return [action, "in", "on", iface]
        on_from = ["from", g.net(version)] if g.chance(0.3) else []
        return [action, "in", "on", iface, *with_proto, *on_from, "to", "any", "port", port]
    if kind == "sport":
        sport = g.pick(("53", "123", "1000", "1024:65535", "53,67"))
        if sport in ("1024:65535", "53,67") and not proto:
            proto = "udp"
            with_proto = ["proto", "udp"]
        source = g.net(version) if g.chance(0.4) else "any"
        dest = ["to", "any", "port", port] if g.chance(0.6) else ["to", "any"]
        return [action, *with_proto, "from", source, "port", sport, *dest]
    if kind == "out":
        return [action, "out", f"{port}/{proto}" if proto else port]
    # out-to
    on = ["on", g.pick(("eth7", "ens8", "ens+"))] if g.chance(0.35) else []
    return [action, "out", *on, *with_proto, "to", g.net(version), "port", port]


def _matches(g: _Gen, version: int, chain: str, table: str = "filter") -> tuple[list[str], str | None]:
    """Random conditions of an iptables rule: (words, protocol)."""
    words: list[str] = []
    proto = g.pick(("tcp", "udp", "tcp", None))
    inbound = chain in ("INPUT", "PREROUTING") or chain.startswith(("KD", "ufw"))
    if proto:
        words += ["-p", proto]
        roll = g.rng.random()
        if roll < 0.42:
            words += ["--dport", str(g.port())]
        elif roll < 0.56:
            words += ["--dport", g.port_range()]
        elif roll < 0.7:
            words += ["-m", "multiport", "--dports", g.port_list()]
        elif roll < 0.75:
            words += ["-m", "multiport", "--ports", f"{g.pick(FIXED_SPORTS)},{g.port()}"]  # either end
        elif roll < 0.85:
            words += ["--sport", g.pick(("53", "1024:65535", "123", "0:1023"))]
        if proto == "tcp" and g.chance(0.1):
            words += g.pick((["--syn"], ["--tcp-flags", "SYN,ACK", "SYN"], ["!", "--syn"]))
    elif g.chance(0.1):
        words += ["!", "-p", g.pick(("tcp", "udp"))]
    remote = "-s" if inbound else "-d"
    roll = g.rng.random()
    if roll < 0.3:
        words += [remote, g.net(version)]
    elif roll < 0.4:
        words += ["!", remote, g.net(version)]
    elif roll < 0.5:
        side = "--src-range" if inbound else "--dst-range"
        neg = ["!"] if g.chance(0.3) else []
        words += ["-m", "iprange", *neg, side, g.pick(V6_RANGES if version == 6 else V4_RANGES)]
    if g.chance(0.15):
        words += (
            ["!", "-d", g.own(version)]
            if inbound and g.chance(0.3)
            else ["-d" if inbound else "-s", g.own(version)]
        )
    if g.chance(0.25):
        flag = "-i" if inbound else "-o"
        if chain == "OUTPUT" or chain == "POSTROUTING":
            flag = "-o"
        words += (["!"] if g.chance(0.25) else []) + [flag, g.pick(IPT_IFACES)]
    if table != "raw" and g.chance(0.25):
        words += g.pick((["-m", "conntrack", "--ctstate", "NEW"], ["-m", "state", "--state", "NEW"],
                         ["-m", "conntrack", "--ctstate", "NEW,ESTABLISHED"]))  # fmt: skip
    if g.chance(0.15):
        side, neg, kind = g.pick((("--dst-type", [], "LOCAL"), ("--src-type", [], "LOCAL"),
                                  ("--src-type", ["!"], "LOCAL"), ("--dst-type", [], "UNICAST")))  # fmt: skip
        words += ["-m", "addrtype", *neg, side, kind]
    if g.chance(0.08):
        words += ["-m", "comment", "--comment", '"kernel diff"']
    if g.chance(0.04):
        words += ["-m", "pkttype", "--pkt-type", g.pick(("unicast", "broadcast"))]
    return words, proto


def _target(g: _Gen, version: int, proto: str | None, accept: float = 0.4) -> list[str]:
    roll = g.rng.random()
    if roll < accept:
        return ["-j", "ACCEPT"]
    if roll < accept + (1 - accept) * 0.55:
        return ["-j", "DROP"]
    options: list[list[str]] = [[]] + ([["--reject-with", "tcp-reset"]] if proto == "tcp" else [])
    options.append(["--reject-with", "icmp6-adm-prohibited" if version == 6 else "icmp-host-prohibited"])
    return ["-j", "REJECT", *g.pick(options)]


def _where(
    g: _Gen, counts: dict[tuple[int, str, str], int], version: int, chain: str, table: str = "filter"
) -> list[str]:
    key = (version, table, chain)
    count = counts.get(key, 0)
    roll = g.rng.random()
    counts[key] = count + 1
    if roll < 0.45 or count == 0:
        return ["-I", chain] if roll < 0.3 or count == 0 else ["-I", chain, "1"]
    if roll < 0.7:
        return ["-A", chain]
    return ["-I", chain, str(g.rng.randint(1, count + 1))]


def _raw_rules(g: _Gen, rules: RuleSet, counts: dict[tuple[int, str, str], int]) -> None:
    version = 6 if g.chance(0.35) else 4
    tool = "ip6tables" if version == 6 else "iptables"
    ufw6 = "ufw6" if version == 6 else "ufw"
    ufw_chains = rules.ufw_enabled and (version == 4 or rules.ipv6)
    kind = g.pick(("input",) * 6 + ("ufw-chain", "policy", "half", "add-up", "add-up", "user-chain",
                   "user-chain", "output", "output", "tables", "tables", "odd"))  # fmt: skip
    if kind == "ufw-chain" and not ufw_chains:
        kind = "input"
    out = rules.shell
    if kind == "input":
        words, proto = _matches(g, version, "INPUT")
        out.append(
            " ".join([tool, *_where(g, counts, version, "INPUT"), *words, *_target(g, version, proto)])
        )
    elif kind == "ufw-chain":
        chain = g.pick((f"{ufw6}-user-input", f"{ufw6}-before-input", f"{ufw6}-after-input"))
        words, proto = _matches(g, version, chain)
        out.append(" ".join([tool, "-I", chain, "1", *words, *_target(g, version, proto)]))
    elif kind == "policy":
        out.append(f"{tool} -P INPUT {g.pick(('ACCEPT', 'ACCEPT', 'DROP'))}")
    elif kind == "half":
        half = g.pick(HALVES[version])
        words = ["-p", g.pick(("tcp", "udp")), "--dport", str(g.port())] if g.chance(0.5) else []
        target = g.pick((["-j", "DROP"], ["-j", "REJECT"]))
        out.append(" ".join([tool, *_where(g, counts, version, "INPUT"), "-s", half, *words, *target]))
    elif kind == "add-up":
        proto = g.pick(("tcp", "udp"))
        port = str(g.port()) if g.chance(0.7) else g.port_range()
        target = _target(g, version, proto, accept=0.6)
        where = ["-I", "INPUT", "1"] if g.chance(0.7) else ["-A", "INPUT"]
        for part in g.pick(PAIRS[version]):
            out.append(" ".join([tool, *where, "-s", part, "-p", proto, "--dport", port, *target]))
        counts[(version, "filter", "INPUT")] += 2
    elif kind == "user-chain":
        g.chains += 1
        name = f"KD{g.chains}"
        out.append(f"{tool} -N {name}")
        for _ in range(g.rng.randint(1, 4)):
            roll = g.rng.random()
            if roll < 0.3:
                out.append(f"{tool} -A {name} -s {g.net(version)} -j RETURN")
            elif roll < 0.4 and g.chains > 1:
                previous = f"KD{g.rng.randint(1, g.chains - 1)}"
                if f"{tool} -N {previous}" in out:
                    out.append(f"{tool} -A {name} -p {g.pick(('tcp', 'udp'))} -j {previous}")
            else:
                words, proto = _matches(g, version, name)
                out.append(" ".join([tool, "-A", name, *words, *_target(g, version, proto)]))
        jump = g.pick(("-j", "-j", "-g"))
        words, _ = _matches(g, version, "INPUT") if g.chance(0.6) else ([], None)
        out.append(" ".join([tool, *_where(g, counts, version, "INPUT"), *words, jump, name]))
    elif kind == "output":
        words, proto = _matches(g, version, "OUTPUT")
        # NEW only: the answers of inbound connections (and REJECT's own answers) must get out
        state = ["-m", "conntrack", "--ctstate", "NEW"] if "NEW" not in words else []
        target = _target(g, version, proto, accept=0.25)
        out.append(" ".join([tool, *_where(g, counts, version, "OUTPUT"), *words, *state, *target]))
    elif kind == "tables":
        table, chain = g.pick(
            (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("mangle", "INPUT"), ("mangle", "OUTPUT"),
             ("security", "INPUT"))
        )  # fmt: skip
        words, proto = _matches(g, version, chain, table)
        if chain == "OUTPUT" and "NEW" not in words:
            words += ["-m", "conntrack", "--ctstate", "NEW"]
        target = g.pick((["-j", "DROP"], ["-j", "DROP"], ["-j", "ACCEPT"]))
        out.append(" ".join([tool, "-t", table, *_where(g, counts, version, chain, table), *words, *target]))
    else:  # what the model cannot decide (unknown), or decides for a quiet source (rates)
        port = str(g.port())
        choice = g.rng.randint(0, 4)
        if choice == 0:
            out.append(
                f"{tool} -I INPUT -p tcp --dport {port} -m statistic --mode random --probability 0.5 -j DROP"
            )
        elif choice == 1:
            out.append(f"{tool} -t mangle -I PREROUTING -p udp --dport {port} -j MARK --set-mark 7")
            out.append(f"{tool} -I INPUT -m mark --mark 7 -j DROP")
        elif choice == 2:
            out.append(
                f"{tool} -I INPUT -p tcp --dport {port} -m limit --limit 1000/sec --limit-burst 2000 "
                "-j ACCEPT"
            )
        elif choice == 3:
            out.append(
                f"{tool} -I INPUT -p udp --dport {port} -m hashlimit --hashlimit-upto 1000/sec "
                f"--hashlimit-burst 2000 --hashlimit-name kd{version}{port} -j ACCEPT"
            )
        else:
            out.append(f"{tool} -I OUTPUT -p tcp --dport {port} -m owner --uid-owner 4242 -j DROP")
        counts[(version, "filter", "OUTPUT" if choice == 4 else "INPUT")] += 1


def _nft_rules(g: _Gen, rules: RuleSet) -> None:
    """A native table (inet, ip or ip6) with a hooked input chain (sometimes policy drop), named sets,
    a verdict map, a user chain, an output chain; sometimes a netdev ingress chain on one link."""
    lines = rules.nft
    family = g.pick(("inet", "inet", "ip", "ip6"))
    table = f"{family} kdiff"
    versions = (4, 6) if family == "inet" else (4,) if family == "ip" else (6,)
    lines.append(f"add table {table}")
    names: dict[str, str] = {}  # kind -> "@name" of the table's sets
    if g.chance(0.4):
        version = g.pick(versions)
        kind = "ipv6_addr" if version == 6 else "ipv4_addr"
        lines.append(f"add set {table} nets {{ type {kind}; flags interval; auto-merge; }}")
        nets = sorted({g.net(version) for _ in range(g.rng.randint(1, 3))})
        lines.append(f"add element {table} nets {{ {', '.join(nets)} }}")
        names[f"nets{version}"] = "@nets"
    if g.chance(0.3):
        lines.append(f"add set {table} ports {{ type inet_service; flags interval; auto-merge; }}")
        ports = sorted({str(g.port()) for _ in range(2)} | {g.port_range().replace(":", "-")})
        lines.append(f"add element {table} ports {{ {', '.join(ports)} }}")
        names["ports"] = "@ports"
    if g.chance(0.2) and 4 in versions:
        lines.append(f"add set {table} pairs {{ type ipv4_addr . inet_service; flags interval; }}")
        pairs = {f"{g.net(4)} . {port}" for port in {g.port() for _ in range(2)}}  # no two overlap
        lines.append(f"add element {table} pairs {{ {', '.join(sorted(pairs))} }}")
        names["pairs"] = "@pairs"
    if g.chance(0.2):
        lines.append(f"add map {table} verdicts {{ type inet_service : verdict; }}")
        items = {g.port(): g.pick(("accept", "drop", "drop")) for _ in range(3)}
        lines.append(
            f"add element {table} verdicts {{ {', '.join(f'{p} : {v}' for p, v in items.items())} }}"
        )
        names["vmap"] = "@verdicts"
    priority = g.pick((-10, -10, 10, -200, "filter - 5", "filter + 5"))
    policy = "drop" if g.chance(0.25) else "accept"
    lines.append(
        f"add chain {table} input {{ type filter hook input priority {priority}; policy {policy}; }}"
    )
    if policy == "drop":
        lines.append(f"add rule {table} input ct state established,related accept")
        lines.append(f"add rule {table} input iifname lo accept")
    accept = 0.6 if policy == "drop" else 0.25
    if g.chance(0.3):
        lines.append(f"add chain {table} sub")
        for _ in range(g.rng.randint(1, 3)):
            lines.append(f"add rule {table} sub " + _nft_rule(g, "in", versions, names, accept, sub=True))
        entry = _nft_rule(g, "in", versions, {}, 0, verdict=g.pick(("jump sub", "jump sub", "goto sub")))
        lines.append(f"add rule {table} input {entry}")
    for _ in range(g.rng.randint(1, 5)):
        lines.append(f"add rule {table} input " + _nft_rule(g, "in", versions, names, accept))
    if g.chance(0.4):
        lines.append(f"add chain {table} output {{ type filter hook output priority 0; policy accept; }}")
        for _ in range(g.rng.randint(1, 3)):
            lines.append(f"add rule {table} output ct state new " + _nft_rule(g, "out", versions, {}, 0.2))
    if g.chance(0.1):
        link = g.pick(LINKS)
        lines.append("add table netdev kdiffdev")
        lines.append(
            f'add chain netdev kdiffdev ingress {{ type filter hook ingress device "{link.iface}" '
            "priority 0; policy accept; }"
        )
        version = g.pick((4, 6))
        lines.append(
            f"add rule netdev kdiffdev ingress {'ip6' if version == 6 else 'ip'} saddr {g.net(version)} "
            f"{g.pick(('tcp', 'udp'))} dport {g.port()} drop"
        )


def _nft_rule(
    g: _Gen,
    direction: Direction,
    versions: tuple[int, ...],
    names: dict[str, str],
    accept: float,
    sub: bool = False,
    verdict: str = "",
) -> str:
    parts: list[str] = []
    version = g.pick((*versions, 0)) if len(versions) > 1 else versions[0] if g.chance(0.8) else 0
    side = "saddr" if direction == "in" else "daddr"
    proto = g.pick(("tcp", "udp", None))
    if version:
        fam = "ip6" if version == 6 else "ip"
        neg = "!= " if g.chance(0.2) else ""
        roll = g.rng.random()
        if f"nets{version}" in names and roll < 0.35:
            parts.append(f"{fam} {side} {neg}{names[f'nets{version}']}")
        elif "pairs" in names and version == 4 and direction == "in" and roll < 0.5:
            proto = proto or "tcp"
            parts.append(f"ip saddr . {proto} dport @pairs")
        elif roll < 0.65:
            nets = {g.net(version) for _ in range(2)}
            parts.append(f"{fam} {side} {neg}{{ {', '.join(sorted(nets))} }}")
        else:
            parts.append(f"{fam} {side} {neg}{g.net(version)}")
    elif len(versions) > 1 and g.chance(0.2):
        parts.append(f"meta nfproto {g.pick(('ipv4', 'ipv6'))}")
    if proto and not any("@pairs" in p for p in parts):
        roll = g.rng.random()
        if "ports" in names and roll < 0.2:
            parts.append(f"{proto} dport @ports")
        elif roll < 0.5:
            parts.append(f"{proto} dport {'!= ' if g.chance(0.15) else ''}{g.port()}")
        elif roll < 0.7:
            lo, hi = g.port_range().split(":")
            parts.append(f"{proto} dport {lo}-{hi}")
        elif roll < 0.8:
            parts.append(f"meta l4proto {proto} th dport {g.port()}")
        elif roll < 0.9:
            ports = sorted({g.port() for _ in range(3)})
            parts.append(f"{proto} dport {{ {', '.join(map(str, ports))} }}")
        else:
            parts.append(f"{proto} dport < {g.pick((1024, 6000, 7003))}")
        if g.chance(0.1):
            parts.append(f"{proto} sport 53")
    if g.chance(0.2):
        word = "iifname" if direction == "in" else "oifname"
        names_ = g.pick(('"eth7"', '"ens8"', '"ens*"', '{ "eth7", "ens8" }'))
        parts.append(f"{word} {names_}")
    if direction == "in" and g.chance(0.12):
        parts.append(g.pick(("fib daddr type local", "fib daddr type != local", "fib daddr type unicast",
                             "fib saddr type unicast", "fib saddr type local")))  # fmt: skip
    if direction == "in" and g.chance(0.1):
        parts.append("ct state new")
    if verdict:
        return " ".join([*parts, verdict])
    if "vmap" in names and proto and direction == "in" and g.chance(0.3):
        return " ".join([*parts, f"{proto} dport vmap {names['vmap']}"])
    if sub and g.chance(0.25):
        return " ".join([*parts, "return"])
    if g.chance(accept):
        verdict = "accept"
    else:
        rejects = ["reject"] + (["reject with tcp reset"] if proto == "tcp" else [])
        rejects.append("reject with icmpx type admin-prohibited" if len(versions) > 1 else "reject")
        verdict = g.pick(("drop", "drop", *rejects))
    return " ".join([*parts, verdict])


@dataclass
class _Hint:
    """What one rule is about, read back from its text: a packet aimed at it (and near its edges)."""

    direction: Direction = "in"
    proto: str | None = None
    ports: str | None = None  # "7000", "6000:6100", "53,6000:6100", nft "6000-6100"
    sport: str | None = None
    nets: tuple[str, ...] = ()  # the remote end's networks or iprange ranges
    own: str | None = None
    iface: str | None = None


def _hints(rules: RuleSet) -> list[_Hint]:
    hints = []
    for argv in rules.ufw:
        if argv[0] in ("default", "logging"):
            continue
        hint = _Hint(direction="out" if "out" in argv else "in")
        for i, word in enumerate(argv[:-1]):
            value = argv[i + 1]
            if word == "proto":
                hint.proto = value
            elif word == "on":
                hint.iface = value
            elif word == "from" and value != "any":
                hint.nets = (value,)
            elif word == "to" and value != "any":
                if any(value in (link.own4, link.own6) for link in LINKS):
                    hint.own = value
                else:
                    hint.nets = (value,)
            elif word == "port":
                if argv[i - 2] == "from":
                    hint.sport = value
                else:
                    hint.ports = value
        last = argv[-1]
        if re.fullmatch(r"[\d:,]+(/(tcp|udp))?", last) and argv[-2] in ("allow", "deny", "reject", "out"):
            hint.ports, _, proto = last.partition("/")
            hint.proto = proto or None
        hints.append(hint)
    for command in rules.shell:
        words = command.split()
        chain = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-I", "-A")), "")
        if not chain:
            continue  # -N, -P
        hint = _Hint(direction="out" if chain in ("OUTPUT", "POSTROUTING") else "in")
        remote_side = ("-s", "--src-range") if hint.direction == "in" else ("-d", "--dst-range")
        for i, word in enumerate(words[:-1]):
            value = words[i + 1]
            if word == "-p":
                hint.proto = value
            elif word in ("--dport", "--dports"):
                hint.ports = value
            elif word == "--sport":
                hint.sport = value
            elif word in remote_side:
                if not any(value in (link.own4, link.own6) for link in LINKS):
                    hint.nets = (value,)
            elif word in ("-d", "-s"):
                hint.own = value
            elif word in ("-i", "-o"):
                hint.iface = value
        hints.append(hint)
    for line in rules.nft:
        hint = _Hint(direction="out" if " output " in line else "in")
        if line.startswith("add element"):
            for item in line.partition("{")[2].strip("} ").split(","):
                for part in item.split(" . ") if " : " not in item else [item.split(" : ")[0]]:
                    part = part.strip()
                    if re.fullmatch(r"[\d-]+", part):
                        hint.ports = ",".join(filter(None, [hint.ports, part.replace("-", ":")]))
                    else:
                        hint.nets += (part,)
            hints.append(hint)
            continue
        if not line.startswith("add rule"):
            continue
        if found := re.search(r"\b(tcp|udp) dport (\{[^}]*\}|[\d-]+)", line):
            hint.proto, hint.ports = found[1], found[2].strip("{} ").replace(" ", "").replace("-", ":")
        elif found := re.search(r"\bth dport (\d+)", line):
            hint.ports = found[1]
        if found := re.search(r"\b(tcp|udp) sport (\S+)", line):
            hint.sport = found[2]
        if found := re.search(r"\bip6? [sd]addr (?:!= )?(\{[^}]*\}|[\da-f:][\d.:/a-f]*)", line):
            hint.nets = tuple(n.strip() for n in found[1].strip("{} ").split(","))
        if found := re.search(r'\b[io]ifname "?([\w*+]+)', line):
            hint.iface = found[1]
        hints.append(hint)
    return hints


def _in_spec(port: int, spec: str) -> bool:
    for part in spec.split(","):
        lo, sep, hi = part.partition(":")
        if (int(lo or 0) <= port <= int(hi or 65535)) if sep else port == int(part):
            return True
    return False


def _inside(address: str, net: str) -> bool:
    try:
        return _inside_or_fail(address, net)
    except ValueError:
        return False


def _inside_or_fail(address: str, net: str) -> bool:
    if "-" in net:
        lo, hi = (ipaddress.ip_address(a) for a in net.split("-"))
        ip = ipaddress.ip_address(address)
        return ip.version == lo.version and lo <= ip <= hi  # type: ignore[operator]
    network = ipaddress.ip_network(net, strict=False)
    ip = ipaddress.ip_address(address)
    return ip.version == network.version and ip in network


def _iface_matches(pattern: str, name: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith(("+", "*")) else pattern == name


def _probes(g: _Gen, rules: RuleSet) -> list[Probe]:
    probes: list[Probe] = []
    named = sorted(g.ports)
    taken: set[tuple[str, str, int]] = set()
    limited_hits: dict[str, int] = {}

    def dport(spec: str | None = None) -> int:
        if spec:
            inside = [p for p in POOL if _in_spec(p, spec)]
            if inside and g.chance(0.8):
                return int(g.pick(inside))
        return int(g.pick(named)) if named and g.chance(0.7) else int(g.pick(POOL))

    def version_of(hint: _Hint | None) -> int:
        if hint and hint.own:
            return 6 if ":" in hint.own else 4
        if hint and hint.nets and hint.nets[0] not in ("0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"):
            return 6 if ":" in hint.nets[0] else 4
        return 6 if g.chance(0.3) else 4

    def remote(version: int, hint: _Hint | None) -> str:
        everyone = [a for link in LINKS for a in link.sources(version)]
        if hint and hint.nets:
            inside = [a for a in everyone if any(_inside(a, n) for n in hint.nets)]
            outside = [a for a in everyone if a not in inside]
            if inside and (g.chance(0.65) or not outside):
                return str(g.pick(inside))
            if outside:
                return str(g.pick(outside))
        return str(g.pick(everyone))

    def link_for(version: int, hint: _Hint | None) -> Link:
        if hint and hint.own:
            return next((link for link in LINKS if hint.own in (link.own4, link.own6)), g.pick(LINKS))
        if hint and hint.iface and g.chance(0.75):
            matching = [link for link in LINKS if _iface_matches(hint.iface, link.iface)]
            if matching:
                return g.pick(matching)  # type: ignore[no-any-return]
        return g.pick(LINKS)  # type: ignore[no-any-return]

    def add_in(proto: Proto, hint: _Hint | None = None) -> None:
        version = version_of(hint)
        src = remote(version, hint)
        dst_link = link_for(version, hint)
        port = dport(hint.ports if hint else None)
        for _ in range(5):
            if port not in g.limited or limited_hits.get(src, 0) < 3:
                break
            port = dport()
        if port in g.limited:
            limited_hits[src] = limited_hits.get(src, 0) + 1
        sport = None
        wanted = [p for p in FIXED_SPORTS if hint and hint.sport and _in_spec(p, hint.sport)]
        if wanted and g.chance(0.7):
            sport = int(g.pick(wanted))
        elif g.chance(0.3 if proto == "udp" else 0.2):
            sport = int(g.pick(FIXED_SPORTS))
        if sport is not None:
            if (proto, src, sport) in taken:
                sport = None
            else:
                taken.add((proto, src, sport))
        own = dst_link.own(version)
        probes.append(Probe(len(probes), "in", proto, src, own, sport, port, dst_link.iface))

    def add_out(proto: Proto, hint: _Hint | None = None) -> None:
        version = version_of(hint)
        dst = remote(version, hint)
        link = next((k for k in LINKS if dst in k.sources(version)), LINKS[0])  # the appliance's route to it
        port = dport(hint.ports if hint else None)
        probes.append(Probe(len(probes), "out", proto, link.own(version), dst, None, port, link.iface))

    for hint in _hints(rules):
        proto: Proto = hint.proto if hint.proto in ("tcp", "udp") else g.pick(("tcp", "udp"))  # type: ignore[assignment]
        (add_out if hint.direction == "out" else add_in)(proto, hint)
    wanted: dict[tuple[Direction, Proto], int] = {
        ("in", "tcp"): 22,
        ("in", "udp"): 14,
        ("out", "tcp"): 8,
        ("out", "udp"): 6,
    }
    for (direction, kind), count in wanted.items():
        have = sum(1 for p in probes if (p.direction, p.proto) == (direction, kind))
        for _ in range(max(count - have, 3)):
            (add_out if direction == "out" else add_in)(kind)
    for p in probes:
        safe(p.src), safe(p.dst)
    return probes


# ------------------------------------------------------------------------------------------
# the bench: an appliance, a probe namespace, two links, two agents


def run(
    argv: list[str], input: str | None = None, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)[:200]} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done


class Agent:
    """kernel_agent.py in a namespace, one JSON line per request and per answer."""

    def __init__(self, argv: list[str], role: str, config: dict[str, Any], log: Path) -> None:
        self.log = log
        self.stderr = open(log, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [*argv, sys.executable, "-I", str(AGENT), role, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.buffer = b""
        ready = self.receive(15.0)
        if "ready" not in ready:
            raise RuntimeError(f"agent {role} did not start: {ready}")

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def receive(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20) if ready else b""
            if not chunk:
                why = "timed out" if not ready else "ended"
                raise RuntimeError(f"agent {why}: {self.log.read_text(errors='replace')[-2000:]}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        self.send(request)
        return self.receive(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its pid
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()


@dataclass
class Observation:
    probe: Probe
    sport: int
    kernel: str  # accept, drop, reject; for outbound probes: accept or blocked
    detail: str


class Bench:
    """One appliance of the lab with this test's probe namespace and links."""

    def __init__(self, session: LabSession, name: str, namespace: str, workdir: Path) -> None:
        self.session, self.name, self.namespace, self.workdir = session, name, namespace, workdir
        self.appliance: Appliance | None = None
        self.agents: list[Agent] = []
        self.created = False
        self.default_ufw = ""
        self.rechecks = 0

    # -- life cycle

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.appliance = self.session.up("coppercube", name=self.name)
        self.pid = int(self.appliance.state["pids"]["sshd"])
        self.app_ns = str(self.appliance.state["netns"])
        if Path("/run/netns", self.namespace).exists():  # left by an earlier run of this test that was killed
            run(["ip", "netns", "del", self.namespace])
        run(["ip", "netns", "add", self.namespace])
        self.created = True
        netns = ["ip", "netns", "exec", self.namespace]
        run([*netns, "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"])
        probe_batch = ["link set lo up"]
        app_batch = []
        for link in LINKS:
            run(["ip", "link", "add", link.probe_end, "netns", self.namespace, "type", "veth",
                 "peer", "name", link.iface, "netns", self.app_ns])  # fmt: skip
            for address in (*link.sources4, *link.sources6):
                prefix = next((p for k, p in ON_LINK.items() if address.startswith(k)), None)
                length = prefix or ("/128" if ":" in address else "/32")
                extra = " nodad" if ":" in address else ""
                probe_batch.append(f"addr add {address}{length} dev {link.probe_end}{extra}")
            probe_batch.append(f"link set {link.probe_end} up")
            app_batch += [
                f"addr add {link.own4}/24 dev {link.iface}",
                f"addr add {link.own6}/64 dev {link.iface} nodad",
                f"link set {link.iface} up",
            ]
        for link in LINKS:
            app_batch += [f"route add {net} dev {link.iface}" for net in link.routed]
        run(["ip", "-n", self.namespace, "-batch", "-"], input="\n".join(probe_batch) + "\n")
        run(["ip", "-n", self.app_ns, "-batch", "-"], input="\n".join(app_batch) + "\n")
        # Neighbours fixed on both sides: a rule set that drops ICMPv6 would otherwise stop neighbour
        # discovery, and with it every IPv6 packet whatever the rules say about its flow (the model
        # judges flows, not neighbour discovery).
        probe_neigh, app_neigh = [], []
        for link in LINKS:
            probe_mac = self._mac(self.namespace, link.probe_end)
            app_mac = self._mac(self.app_ns, link.iface)
            for own in (link.own4, link.own6):
                probe_neigh.append(f"neigh replace {own} lladdr {app_mac} dev {link.probe_end} nud permanent")
            for source in (*link.sources4, *link.sources6):
                app_neigh.append(f"neigh replace {source} lladdr {probe_mac} dev {link.iface} nud permanent")
        run(["ip", "-n", self.namespace, "-batch", "-"], input="\n".join(probe_neigh) + "\n")
        run(["ip", "-n", self.app_ns, "-batch", "-"], input="\n".join(app_neigh) + "\n")
        # every REJECT's ICMP error must be sent, however many come at once
        limits = ("net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_ratemask=0", "net.ipv6.icmp.ratelimit=0",
                  "net.ipv6.icmp.ratemask=0")  # fmt: skip
        run(["ip", "netns", "exec", self.app_ns, "sysctl", "-qw", *limits])
        self.default_ufw = self.inside("cat /etc/default/ufw").stdout
        enter = ["nsenter", "-t", str(self.pid), "-m", "-n"]
        self.appliance_agent = Agent(
            enter, "appliance", {"ports": list(POOL)}, self.workdir / "appliance-agent.log"
        )
        self.agents.append(self.appliance_agent)
        self.probe_agent = Agent(netns, "probe", {}, self.workdir / "probe-agent.log")
        self.agents.append(self.probe_agent)

    @staticmethod
    def _mac(namespace: str, link: str) -> str:
        shown = json.loads(run(["ip", "-n", namespace, "-j", "link", "show", "dev", link]).stdout)
        return str(shown[0]["address"])

    def close(self) -> None:
        if self.agents:
            with contextlib.suppress(RuntimeError, OSError):
                self.appliance_agent.ask({"op": "reset"}, timeout=10)  # less for the namespace's cleanup
        for agent in self.agents:
            agent.close()
        self.agents = []
        if self.created:
            for link in LINKS:  # both ends go; then the namespace, with nothing left in it
                run(["ip", "-n", self.namespace, "link", "del", link.probe_end], check=False)
            run(["ip", "netns", "del", self.namespace], check=False)
            self.created = False
        if self.appliance is not None:
            try:
                self.session.down(self.appliance)
            except LabError:
                # the lab waits 5 s for the kernel to clean the namespace up, which a busy machine
                # can take longer over: wait for the management link to go, and ask once more
                management = f"psl{self.appliance.state['index']}m"
                deadline = time.monotonic() + 30
                while run(["ip", "link", "show", management], check=False).returncode == 0:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                self.session.down(self.appliance)
            self.appliance = None

    def inside(
        self, script: str, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        return run(
            ["nsenter", "-t", str(self.pid), "-m", "-n", "sh", "-c", script], input=input, timeout=timeout
        )

    # -- one rule set

    def apply(self, rules: RuleSet) -> None:
        default = re.sub(r"(?m)^IPV6=.*$", f"IPV6={'yes' if rules.ipv6 else 'no'}", self.default_ufw)
        default = re.sub(r"(?m)^DEFAULT_INPUT_POLICY=.*$", 'DEFAULT_INPUT_POLICY="DROP"', default)
        default = re.sub(r"(?m)^DEFAULT_OUTPUT_POLICY=.*$", 'DEFAULT_OUTPUT_POLICY="ACCEPT"', default)
        driver = self.workdir / "ufw-driver.py"
        if not driver.exists():
            driver.write_text(UFW_DRIVER, encoding="utf-8")
        interpreter = (
            Path("/usr/sbin/ufw").read_text(encoding="utf-8").splitlines()[0].removeprefix("#!").strip()
        )
        lines = [
            "set -e",
            "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C",
            "nft flush ruleset",
            "cp /usr/share/ufw/user.rules /usr/share/ufw/user6.rules /etc/ufw/",
            "printf 'ENABLED=no\\nLOGLEVEL=low\\n' > /etc/ufw/ufw.conf",
            "cat > /etc/default/ufw <<'KDIFF_END'",  # a bind-mounted file: written in place
            default.rstrip("\n"),
            "KDIFF_END",
            f"{interpreter} {driver} >/dev/null <<'KDIFF_END'",
            json.dumps(rules.ufw),
            "KDIFF_END",
        ]
        if rules.ufw_enabled:
            lines.append("ufw --force enable >/dev/null")
        lines += rules.shell
        if rules.nft:
            lines += ["nft -f - <<'KDIFF_END'", *rules.nft, "KDIFF_END"]
        done = run(
            ["nsenter", "-t", str(self.pid), "-m", "-n", "sh", "-s"],
            input="\n".join(lines) + "\n",
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{rules.listing()}\ncould not be applied ({done.returncode}): {done.stderr[-3000:]}"
            )

    def capture(self) -> tuple[dict[str, str | None], str, str | None]:
        """The plugin's kernel sections (its own commands) -> kernel_texts; also `nft -j list ruleset`
        read directly, and why the plugin's nft section is empty when nftables has tables."""
        sections = {name: SECTIONS[name] for name in KERNEL_SECTIONS}
        sections["nft-direct"] = "nft -j list ruleset"
        found = parse_sections(self.inside(_script(sections)).stdout)
        texts = kernel_texts({k: v for k, v in found.items() if k != "nft-direct"})
        direct = found["nft-direct"].text
        gap = None
        plugin_nft = found.get("nft")
        if plugin_nft is not None and plugin_nft.status == NOT_LOADED and '"table"' in direct:
            gap = (
                "the snapshot's nft section says nf_tables is not loaded (no /sys/module/nf_tables), "
                "yet it holds tables"
            )
        return texts, direct, gap

    def probe(self, rules: RuleSet, probes: list[Probe], timeout: float) -> list[Observation]:
        reset = self.appliance_agent.ask({"op": "reset"})
        if reset.get("problem"):
            raise RuntimeError(f"could not reset the appliance's connection state: {reset['problem']}")
        self.probe_agent.ask({"op": "arrived"})  # forget what came before
        tag = f"{rules.index}-{time.monotonic_ns()}"
        inbound = [p for p in probes if p.direction == "in"]
        outbound = [p for p in probes if p.direction == "out"]
        asked_in = [
            [p.ident, p.proto, p.version, p.src, p.sport, p.dst, p.dport, f"{tag}-{p.ident}"] for p in inbound
        ]
        asked_out = [
            [p.ident, p.proto, p.version, p.src, p.dst, p.dport, f"{tag}-{p.ident}"] for p in outbound
        ]
        self.probe_agent.send({"op": "in", "timeout": timeout, "probes": asked_in})
        self.appliance_agent.send({"op": "out", "timeout": timeout, "probes": asked_out})
        answers_in = {r[0]: r for r in self.probe_agent.receive()["results"]}
        answers_out = {r[0]: r for r in self.appliance_agent.receive()["results"]}
        time.sleep(0.05)
        tokens = set(self.appliance_agent.ask({"op": "arrived"})["arrived"])
        sniffed = {
            (a[0], ipaddress.ip_address(a[1]), a[2], ipaddress.ip_address(a[3]), a[4])
            for a in self.probe_agent.ask({"op": "arrived"})["arrived"]
        }
        found = []
        for p in inbound:
            _, sport, outcome, detail = answers_in[p.ident]
            if p.proto == "udp":
                arrived = f"{tag}-{p.ident}" in tokens
                if arrived and outcome == "silent":
                    outcome, detail = "accept", "the listener got it"
                elif outcome == "silent":
                    outcome, detail = "drop", "not received, no ICMP error"
                elif arrived:
                    outcome, detail = "error", f"received, and also {outcome} ({detail})"
            found.append(Observation(p, sport, outcome, detail))
        for p in outbound:
            _, sport, sent, detail = answers_out[p.ident]
            key = (p.proto, ipaddress.ip_address(p.src), sport, ipaddress.ip_address(p.dst), p.dport)
            if sent == "error":
                found.append(Observation(p, sport, "error", detail))
            elif key in sniffed:
                found.append(Observation(p, sport, "accept", "reached the probe namespace"))
            else:
                found.append(
                    Observation(
                        p, sport, "blocked", f"never reached the probe namespace ({sent} {detail})".strip()
                    )
                )
        return found


# ------------------------------------------------------------------------------------------
# the model's side


@dataclass
class Verdict:
    outcome: str  # accept, drop, reject, or undecided
    decided: list[Decided]


def model_verdict(model: KernelModel, probe: Probe, sport: int) -> Verdict:
    version = probe.version
    ruleset = model.rulesets[6 if version == 6 else 4]
    query = PacketQuery(probe.direction, probe.proto, probe.src, probe.dst, probe.dport, sport, probe.iface)
    decided = explain(ruleset, query, model.sources.interfaces)
    nominal = [d for d in decided if d.nominal]
    outcomes = {d.outcome for d in nominal}
    if len(outcomes) != 1 or outcomes & {"undecided", "forward"}:
        return Verdict("undecided", decided)
    return Verdict(outcomes.pop(), decided)


def agrees(verdict: str, observation: Observation) -> bool:
    if observation.probe.direction == "out":  # what got out; a REJECT's answer is not seen from there
        return (verdict == "accept") == (observation.kernel == "accept")
    return verdict == observation.kernel


def describe_decisions(decided: list[Decided]) -> str:
    lines = []
    for d in decided:
        flags = []
        if not d.definite:
            flags.append("not definite")
        if not d.nominal:
            flags.append("not nominal")
        lines.append(f"    {d.outcome}{' (' + ', '.join(flags) + ')' if flags else ''}")
        lines += [f"      via {step.describe()}" for step in d.path]
        lines += [f"      assuming {a.describe()}" for a in d.assumptions]
    return "\n".join(lines) or "    (no decision covers the packet)"


@dataclass(frozen=True)
class Disagreement:
    rule_set: int
    rules: str  # RuleSet.listing()
    packet: str  # the packet, what the kernel did, what the model says and why


def report(disagreements: list[Disagreement], rule_sets: int = 3, packets: int = 4) -> str:
    """The first rule sets' disagreements: each rule set once, then its packets."""
    by_set: dict[int, list[Disagreement]] = {}
    for d in disagreements:
        by_set.setdefault(d.rule_set, []).append(d)
    parts = []
    for found in list(by_set.values())[:rule_sets]:
        parts.append(found[0].rules)
        parts += [d.packet for d in found[:packets]]
        if len(found) > packets:
            parts.append(f"... and {len(found) - packets} more packets of this rule set")
    if len(by_set) > rule_sets:
        parts.append(f"... and {len(by_set) - rule_sets} more rule sets")
    return "\n\n".join(parts)


@dataclass
class Tally:
    rule_sets: int = 0
    packets: int = 0
    agreements: int = 0
    undecided: int = 0
    rechecked: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    resolved_by_recheck: int = 0  # a late answer the second, slower try explained
    disagreements: list[Disagreement] = field(default_factory=list)
    capture_gaps: list[str] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.rule_sets += other.rule_sets
        self.packets += other.packets
        self.agreements += other.agreements
        self.undecided += other.undecided
        self.rechecked += other.rechecked
        self.resolved_by_recheck += other.resolved_by_recheck
        for k, v in other.by_outcome.items():
            self.by_outcome[k] = self.by_outcome.get(k, 0) + v
        self.disagreements += other.disagreements
        self.capture_gaps += other.capture_gaps


def run_rule_set(bench: Bench, rules: RuleSet, timeout: float, keep: Path) -> Tally:
    tally = Tally(rule_sets=1)
    bench.apply(rules)
    texts, direct_nft, gap = bench.capture()
    if NFT_READER and not texts.get("nft"):
        texts["nft"] = direct_nft  # the model is judged on what the kernel holds (the gap is reported apart)
    if gap and rules.nft:
        tally.capture_gaps.append(f"rule set {rules.index}: {gap}")
    model = KernelModel.build(sources_from_texts(texts))
    observations = bench.probe(rules, rules.probes, timeout)
    pending = []
    for seen in observations:
        if seen.kernel == "error":
            raise RuntimeError(
                f"{rules.listing()}\nprobe {seen.probe.describe(seen.sport)} failed: {seen.detail}"
            )
        verdict = model_verdict(model, seen.probe, seen.sport)
        tally.packets += 1
        key = f"{seen.probe.direction}-{seen.kernel}"
        tally.by_outcome[key] = tally.by_outcome.get(key, 0) + 1
        if verdict.outcome == "undecided":
            tally.undecided += 1
        elif agrees(verdict.outcome, seen):
            tally.agreements += 1
        else:
            pending.append((seen, verdict))
    if pending:  # once more, one at a time and slowly: a late answer is not a firewall's verdict
        tally.rechecked += len(pending)
        again = {o.probe.ident: o for o in bench.probe(rules, [s.probe for s, _ in pending], timeout * 5)}
        for seen, _ in pending:
            second = again[seen.probe.ident]
            if second.kernel == "error":
                raise RuntimeError(
                    f"{rules.listing()}\nprobe {second.probe.describe()} failed: {second.detail}"
                )
            verdict = model_verdict(model, second.probe, second.sport)
            if verdict.outcome == "undecided" or agrees(verdict.outcome, second):
                tally.agreements += 1
                tally.resolved_by_recheck += 1
                continue
            tally.disagreements.append(
                Disagreement(
                    rules.index,
                    rules.listing(),
                    f"packet: {second.probe.describe(second.sport)}\n"
                    f"kernel: {second.kernel} ({second.detail}); first try: {seen.kernel} ({seen.detail})\n"
                    f"model: {verdict.outcome}\n{describe_decisions(verdict.decided)}",
                )
            )
        if len(tally.disagreements) and not (keep / f"rule-set-{rules.index}").exists():
            folder = keep / f"rule-set-{rules.index}"
            folder.mkdir(parents=True)
            (folder / "commands.txt").write_text(rules.listing() + "\n", encoding="utf-8")
            for name, text in texts.items():
                if text is not None and not name.endswith("!"):
                    (folder / name).write_text(text, encoding="utf-8")
    return tally


def chunks(items: list[RuleSet], parts: int) -> Iterator[list[RuleSet]]:
    for n in range(parts):
        yield items[n::parts]
