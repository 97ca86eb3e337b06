"""The kernel model against the real kernel: random rule sets on an emulated appliance, real packets.

Pieces of tests/lab/test_kernel_differential.py:

- kdiff_rules (here): a rule set and a packet to send, and the seeded dice that draw them.
- kdiff_generate `generate(seed, index)`: one reproducible rule set: ufw commands (defaults,
  allow/deny/reject/limit with ports, ranges, lists, sources, own addresses, interfaces, source
  ports, outbound, IPv6, prepend, logging), raw iptables/ip6tables commands around ufw's chains
  (kdiff_iptables: inserted above, between and after them, user chains with RETURN/jump/goto,
  multiport, iprange, `!`, conntrack, addrtype, policies, halves of the address space, rules that
  add up, raw/mangle/security tables, OUTPUT, a few the model cannot decide) and, once
  `pytest_portspec.firewall.nftables` exists, native nftables tables (kdiff_nft: sets, maps, user
  chains, fib, netdev ingress); then the packets to send (kdiff_packets): one aimed at each rule
  (inside and outside its networks, at its ports) and random ones.
- kdiff_addresses: the links, addresses and ports every packet is drawn from (network safety).
- kdiff_bench `Bench`: one lab appliance with two extra links (eth7, ens8) to a probe namespace of
  this test, an agent (kernel_agent.py) in each.
- kdiff_kernel: the rule set applied through ufw's own frontend, iptables and nft inside the
  appliance's namespaces, the kernel's state captured with the plugin's own snapshot commands
  (`pytest_portspec.device.state_command`), and the packets sent.
- kdiff_judge `run_rule_set`: `explain()` of each packet against what the kernel did with it.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from kdiff_addresses import LINKS, POOL, RANGES, V4_NETS, V6_NETS, Link

# native nftables rules only once the model reads them (PORTSPEC_KERNEL_DIFF_NFT=0 leaves them out)
NFT_READER = importlib.util.find_spec("pytest_portspec.firewall.nftables") is not None and os.environ.get(
    "PORTSPEC_KERNEL_DIFF_NFT", "1"
) not in ("0", "no")

Proto = Literal["tcp", "udp"]
Direction = Literal["in", "out"]


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


class Dice:
    """The seeded random draws of one rule set, and what its rules named so far.

    Every draw of a rule set comes from here, in a fixed order: the same seed and index give the
    same rule set and the same packets."""

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
