"""The packets a kernel differential rule set is probed with: one aimed at each rule (inside and
outside its networks, at its ports, on its interface) and random ones."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from kdiff_addresses import FIXED_SPORTS, LINKS, POOL, Link, safe
from kdiff_rules import Dice, Direction, Probe, Proto, RuleSet

# random packets of each kind after the aimed ones: enough for this many in all, and at least 3
WANTED: dict[tuple[Direction, Proto], int] = {
    ("in", "tcp"): 22,
    ("in", "udp"): 14,
    ("out", "tcp"): 8,
    ("out", "udp"): 6,
}


def probes(dice: Dice, rules: RuleSet) -> list[Probe]:
    aim = _Aim(dice)
    for hint in hints(rules):
        proto: Proto = hint.proto if hint.proto in ("tcp", "udp") else dice.pick(("tcp", "udp"))  # type: ignore[assignment]
        (aim.add_out if hint.direction == "out" else aim.add_in)(proto, hint)
    for (direction, kind), count in WANTED.items():
        have = sum(1 for p in aim.probes if (p.direction, p.proto) == (direction, kind))
        for _ in range(max(count - have, 3)):
            (aim.add_out if direction == "out" else aim.add_in)(kind)
    for p in aim.probes:
        safe(p.src), safe(p.dst)
    return aim.probes


@dataclass
class Hint:
    """What one rule is about, read back from its text: a packet aimed at it (and near its edges)."""

    direction: Direction = "in"
    proto: str | None = None
    ports: str | None = None  # "7000", "6000:6100", "53,6000:6100", nft "6000-6100"
    sport: str | None = None
    nets: tuple[str, ...] = ()  # the remote end's networks or iprange ranges
    own: str | None = None
    iface: str | None = None


def hints(rules: RuleSet) -> list[Hint]:
    return [
        *(_ufw_hint(argv) for argv in rules.ufw if argv[0] not in ("default", "logging")),
        *filter(None, (_shell_hint(command) for command in rules.shell)),
        *filter(None, (_nft_hint(line) for line in rules.nft)),
    ]


def _is_own(address: str) -> bool:
    return any(address in (link.own4, link.own6) for link in LINKS)


def _ufw_hint(argv: list[str]) -> Hint:
    hint = Hint(direction="out" if "out" in argv else "in")
    for i, word in enumerate(argv[:-1]):
        value = argv[i + 1]
        if word == "proto":
            hint.proto = value
        elif word == "on":
            hint.iface = value
        elif word == "from" and value != "any":
            hint.nets = (value,)
        elif word == "to" and value != "any":
            if _is_own(value):
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
    return hint


def _shell_hint(command: str) -> Hint | None:
    words = command.split()
    chain = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-I", "-A")), "")
    if not chain:
        return None  # -N, -P
    hint = Hint(direction="out" if chain in ("OUTPUT", "POSTROUTING") else "in")
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
            if not _is_own(value):
                hint.nets = (value,)
        elif word in ("-d", "-s"):
            hint.own = value
        elif word in ("-i", "-o"):
            hint.iface = value
    return hint


def _nft_hint(line: str) -> Hint | None:
    hint = Hint(direction="out" if " output " in line else "in")
    if line.startswith("add element"):
        for item in line.partition("{")[2].strip("} ").split(","):
            for part in item.split(" . ") if " : " not in item else [item.split(" : ")[0]]:
                part = part.strip()
                if re.fullmatch(r"[\d-]+", part):
                    hint.ports = ",".join(filter(None, [hint.ports, part.replace("-", ":")]))
                else:
                    hint.nets += (part,)
        return hint
    if not line.startswith("add rule"):
        return None
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
    return hint


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


class _Aim:
    """The packets drawn so far, and the draws of each: addresses, ports and links near a hint."""

    def __init__(self, dice: Dice) -> None:
        self.dice = dice
        self.probes: list[Probe] = []
        self.named = sorted(dice.ports)
        self.taken: set[tuple[str, str, int]] = set()
        self.limited_hits: dict[str, int] = {}

    def dport(self, spec: str | None = None) -> int:
        dice = self.dice
        if spec:
            inside = [p for p in POOL if _in_spec(p, spec)]
            if inside and dice.chance(0.8):
                return int(dice.pick(inside))
        return int(dice.pick(self.named)) if self.named and dice.chance(0.7) else int(dice.pick(POOL))

    def version_of(self, hint: Hint | None) -> int:
        if hint and hint.own:
            return 6 if ":" in hint.own else 4
        if hint and hint.nets and hint.nets[0] not in ("0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"):
            return 6 if ":" in hint.nets[0] else 4
        return 6 if self.dice.chance(0.3) else 4

    def remote(self, version: int, hint: Hint | None) -> str:
        dice = self.dice
        everyone = [a for link in LINKS for a in link.sources(version)]
        if hint and hint.nets:
            inside = [a for a in everyone if any(_inside(a, n) for n in hint.nets)]
            outside = [a for a in everyone if a not in inside]
            if inside and (dice.chance(0.65) or not outside):
                return str(dice.pick(inside))
            if outside:
                return str(dice.pick(outside))
        return str(dice.pick(everyone))

    def link_for(self, version: int, hint: Hint | None) -> Link:
        dice = self.dice
        if hint and hint.own:
            return next((link for link in LINKS if hint.own in (link.own4, link.own6)), dice.pick(LINKS))
        if hint and hint.iface and dice.chance(0.75):
            matching = [link for link in LINKS if _iface_matches(hint.iface, link.iface)]
            if matching:
                return dice.pick(matching)  # type: ignore[no-any-return]
        return dice.pick(LINKS)  # type: ignore[no-any-return]

    def add_in(self, proto: Proto, hint: Hint | None = None) -> None:
        version = self.version_of(hint)
        src = self.remote(version, hint)
        dst_link = self.link_for(version, hint)
        port = self.limited_port(src, self.dport(hint.ports if hint else None))
        sport = self.source_port(proto, src, hint)
        own = dst_link.own(version)
        self.probes.append(Probe(len(self.probes), "in", proto, src, own, sport, port, dst_link.iface))

    def limited_port(self, src: str, port: int) -> int:
        """Not a port behind ufw's `limit` once the source hit those 3 times (5 in 30 s get through)."""
        for _ in range(5):
            if port not in self.dice.limited or self.limited_hits.get(src, 0) < 3:
                break
            port = self.dport()
        if port in self.dice.limited:
            self.limited_hits[src] = self.limited_hits.get(src, 0) + 1
        return port

    def source_port(self, proto: Proto, src: str, hint: Hint | None) -> int | None:
        """A fixed source port (the hint's, or one of FIXED_SPORTS) once per source, else ephemeral."""
        dice = self.dice
        sport = None
        wanted = [p for p in FIXED_SPORTS if hint and hint.sport and _in_spec(p, hint.sport)]
        if wanted and dice.chance(0.7):
            sport = int(dice.pick(wanted))
        elif dice.chance(0.3 if proto == "udp" else 0.2):
            sport = int(dice.pick(FIXED_SPORTS))
        if sport is not None:
            if (proto, src, sport) in self.taken:
                sport = None
            else:
                self.taken.add((proto, src, sport))
        return sport

    def add_out(self, proto: Proto, hint: Hint | None = None) -> None:
        version = self.version_of(hint)
        dst = self.remote(version, hint)
        link = next((k for k in LINKS if dst in k.sources(version)), LINKS[0])  # the appliance's route to it
        port = self.dport(hint.ports if hint else None)
        self.probes.append(
            Probe(len(self.probes), "out", proto, link.own(version), dst, None, port, link.iface)
        )
