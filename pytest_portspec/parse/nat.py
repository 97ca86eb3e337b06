"""Port forwards in the `nat` table of `iptables-save` (pure).

A DNAT or REDIRECT rule on incoming traffic makes a port reachable whatever ufw's own rules
say about it: Docker's published ports (`-A DOCKER ... --dport 8080 -j DNAT --to-destination
172.17.0.2:80`) are the common case. ufw's rules and `ufw status` never show them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from pytest_portspec.spec.model import PortRange

_OUTGOING_CHAINS = ("OUTPUT", "POSTROUTING")  # locally generated or leaving traffic: not a way in


@dataclass(frozen=True)
class PortForward:
    proto: Literal["tcp", "udp"]
    ports: PortRange
    target: str  # "DNAT" or "REDIRECT"
    to: str  # "172.17.0.2:80", or the REDIRECT's port(s)
    text: str  # the rule as iptables-save prints it: evidence

    def describe(self) -> str:
        where = str(self.ports.lo) if self.ports.lo == self.ports.hi else f"{self.ports.lo}:{self.ports.hi}"
        return f"{where}/{self.proto} {self.target} to {self.to}"


def parse_forwards(text: str) -> list[PortForward]:
    """The nat table's DNAT/REDIRECT rules on a destination port of incoming traffic (a rule on
    loopback, or one that names no port, forwards nothing a port audit can name)."""
    found: list[PortForward] = []
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif table == "nat" and line.startswith("-A "):
            forward = _forward(line)
            if forward is not None:
                found.append(forward)
    return found


def _forward(line: str) -> PortForward | None:
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    options = _options(words)
    chain, target = options.get("-A", ""), options.get("-j", "")
    proto, port = options.get("-p", ""), options.get("--dport", "")
    if chain in _OUTGOING_CHAINS or target not in ("DNAT", "REDIRECT") or options.get("-i") == "lo":
        return None
    if proto not in ("tcp", "udp") or not port:
        return None
    lo, _, hi = port.partition(":")
    if not lo.isdigit() or (hi and not hi.isdigit()):
        return None
    to = options.get("--to-destination") or options.get("--to-ports") or "?"
    return PortForward(proto, PortRange(int(lo), int(hi or lo)), target, to, line.strip())  # type: ignore[arg-type]


def _options(words: list[str]) -> dict[str, str]:
    """'-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT ...' -> {'-A': 'DOCKER', ...};
    a negated option ('! -i docker0') is left out: it does not name where traffic comes from."""
    options: dict[str, str] = {}
    negated = False
    for i, word in enumerate(words):
        if word == "!":
            negated = True
            continue
        takes_value = word.startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("-")
        if takes_value and not negated:
            options.setdefault(word, words[i + 1])
        negated = False if word.startswith("-") else negated
    return options
