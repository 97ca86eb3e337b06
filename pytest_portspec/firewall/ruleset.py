"""The kernel's ruleset as data: chains of rules made of conditions and a target (pure).

Both readers produce this: `iptables.parse_save` (the text of iptables-save / ip6tables-save)
and `nftables.parse_json` (`nft -j list ruleset`). The evaluator (`evaluate.py`) only knows
these types. A condition the readers cannot express exactly becomes `Unknown` with the rule's
text, never a guess: the region it touches is undecided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pytest_portspec.firewall.intervals import Intervals

Family = Literal[4, 6]
AddrSide = Literal["src", "dst"]
PortSide = Literal["sport", "dport", "either"]  # "either": multiport --ports (source or destination)
Hook = Literal["ingress", "prerouting", "input", "forward", "output", "postrouting", "egress"]


@dataclass(frozen=True)
class Addr:
    """-s/-d, --src-range/--dst-range, `ip saddr`: the address is (not) in `values`."""

    side: AddrSide
    values: Intervals
    negate: bool = False


@dataclass(frozen=True)
class Ports:
    side: PortSide
    values: Intervals
    negate: bool = False


@dataclass(frozen=True)
class Iface:
    """-i/-o: names; one ending in '+' (iptables) or '*' (nft) matches every name with that prefix."""

    side: Literal["in", "out"]
    patterns: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class Proto:
    """-p: protocol names as /etc/protocols spells them ('tcp', 'udp', 'icmp', 'esp', ...)."""

    names: frozenset[str]
    negate: bool = False


@dataclass(frozen=True)
class CtState:
    """conntrack --ctstate / state --state; a new connection's first packet is in state NEW."""

    states: frozenset[str]
    negate: bool = False


@dataclass(frozen=True)
class AddrType:
    """-m addrtype / nft `fib saddr|daddr type`: the address's type."""

    side: AddrSide
    types: frozenset[str]  # LOCAL, UNICAST, MULTICAST, BROADCAST, ...
    negate: bool = False
    by_route: bool = False  # nft fib: the route's type in both families (ip6tables' addrtype: the class)


@dataclass(frozen=True)
class SetRef:
    """-m set --match-set NAME src,dst / nft `ip saddr @NAME`: membership in a named set."""

    name: str
    sides: tuple[str, ...]  # per dimension of the set: src or dst (of a port dimension: its port)
    negate: bool = False


@dataclass(frozen=True)
class Rate:
    """limit, hashlimit, recent, connlimit: whether it matches depends on the traffic's rate.

    `at_low_rate` is what it does for one new connection from a quiet source: `limit` matches
    (a token is there), `recent --update --hitcount 6` does not. Under load the other branch
    happens too, so a blocked port behind such a rule is reachable under load."""

    kind: str
    at_low_rate: bool


@dataclass(frozen=True)
class Mark:
    """-m mark / nft `meta mark`: decided only when no rule of the ruleset sets a mark (then 0)."""

    value: int
    mask: int = 0xFFFFFFFF
    negate: bool = False


@dataclass(frozen=True)
class OnlyProto:
    """A match that exists only for some protocols and that a new TCP/UDP flow's first packet
    does or does not satisfy: tcp flags (--syn), an ICMP type, a fragment, an IPv6 routing header."""

    protos: frozenset[str]  # which protocols can satisfy it ('tcp' for --syn); empty: none
    what: str


@dataclass(frozen=True)
class NfProto:
    """nft `meta nfproto ipv4` in an inet table (iptables: always the table's own family)."""

    family: Family
    negate: bool = False


@dataclass(frozen=True)
class Rpf:
    """Reverse-path filter (`-m rpfilter`, nft `fib saddr [. iif] oif`): a route back to the source
    exists (loose), or leaves through the interface the packet came in on (strict); `invert`:
    matches when the check fails (`--invert`, `oif missing`). Decided from the device's routes."""

    strict: bool
    invert: bool = False


@dataclass(frozen=True)
class Unknown:
    """A match the model does not understand: who it matches is undecided."""

    what: str


Cond = (
    Addr
    | Ports
    | Iface
    | Proto
    | CtState
    | AddrType
    | SetRef
    | Rate
    | Mark
    | OnlyProto
    | NfProto
    | Rpf
    | Unknown
)

TargetKind = Literal[
    "accept",  # ends this chain's hook for the packet; the next table or base chain still sees it
    "drop",
    "reject",
    "return",
    "jump",
    "goto",
    "forward",  # DNAT / REDIRECT: the connection goes somewhere else than asked
    "continue",  # LOG, MARK, comment-only, counter: the next rule sees the packet
    "undecided",  # NFQUEUE, TPROXY, an unknown target: the model cannot tell what happens
]


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    chain: str | None = None  # for jump/goto
    detail: str = ""  # "--to-destination 172.17.0.2:80", "NFQUEUE"
    sets_mark: bool = False


@dataclass(frozen=True)
class Rule:
    table: str  # "filter", "nat" (iptables) or "inet fw" (nft family and name)
    chain: str
    number: int  # 1-based position in its chain, as `iptables -L --line-numbers` counts
    conds: tuple[Cond, ...]
    target: Target
    text: str  # the rule as the source prints it: evidence
    where: str  # "iptables-save line 42", "nft handle 7"

    def describe(self) -> str:
        return f"{self.table} {self.chain} rule {self.number} `{self.text}`"


@dataclass(frozen=True)
class Chain:
    table: str
    name: str
    rules: tuple[Rule, ...]
    hook: Hook | None = None  # base chains (built-in chains of iptables, hooked chains of nft)
    priority: int = 0
    policy: Literal["accept", "drop"] | None = None  # None for a user chain (it returns)
    kind: str = "filter"  # nft chain type: filter, nat, route
    where: str = ""

    @property
    def label(self) -> str:
        return f"{self.table} {self.name}"


@dataclass(frozen=True)
class SetDef:
    """A named set's members, when captured (nft sets, `ipset save`)."""

    name: str
    dims: tuple[str, ...]  # 'addr', 'port' per dimension
    members: tuple[tuple[Intervals, ...], ...]  # one tuple of per-dimension values per element
    complete: bool = True  # False: members not captured (an undecided match)
    dynamic: bool = False  # rules add to it (SET target, nft `add @set`): membership changes


@dataclass(frozen=True)
class Ruleset:
    """Every chain of one family that the kernel evaluates, from all readers together."""

    family: Family
    chains: dict[tuple[str, str], Chain] = field(default_factory=dict)  # (table, name) -> chain
    sets: dict[str, SetDef] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # "iptables-save (nf_tables)", "nft -j list ruleset"
    problems: tuple[str, ...] = ()  # what was read but not understood as a whole (an undecided table)

    @property
    def sets_marks(self) -> bool:
        return any(r.target.sets_mark for c in self.chains.values() for r in c.rules)

    def base_chains(self, hook: Hook) -> list[Chain]:
        found = [c for c in self.chains.values() if c.hook == hook]
        return sorted(found, key=lambda c: c.priority)

    def merged(self, other: Ruleset) -> Ruleset:
        return Ruleset(
            self.family,
            {**self.chains, **other.chains},
            {**self.sets, **other.sets},
            self.sources + other.sources,
            self.problems + other.problems,
        )
