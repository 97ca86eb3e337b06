"""Port forwards, asked of the kernel model: which new inbound flows a DNAT or REDIRECT takes
somewhere else than the port they asked for (pure).

    port_forwards(model) -> PortForwards(sure=(Forward, ...), unsure=(Uncertain, ...), unavailable)

The question covers what `questions.closed` covers: every remote address, source port and
non-loopback interface, both families the device has, TCP and UDP, every destination port. A
forward is reachable from outside whatever ufw's own rules say (Docker's published ports). What
the model keeps out of it on its own: a forward only on `lo`, one only to 127.0.0.0/8 or ::1 (a
packet from a wire to a loopback address is martian: not in the space's local addresses), and
forwards of locally made traffic (nat OUTPUT). A forward without a port (`-j DNAT` on every port)
is one range, never a list.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_portspec.firewall.evaluate import Decided, PolicyStep
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.questions import describe, families
from pytest_portspec.firewall.ruleset import Family, Rule, Ruleset
from pytest_portspec.firewall.space import DPORT, L4
from pytest_portspec.firewall.values import format_ports

PROTOS: tuple[L4, ...] = ("tcp", "udp")
_BEFORE_NAT = ("ingress", "prerouting")  # hooks where an undecided verdict may hide a later DNAT
_TO = ("--to-destination", "--to-ports", "--to")  # DNAT, REDIRECT, NETMAP


@dataclass(frozen=True)
class Forward:
    """The flows one rule forwards, in one family and protocol."""

    family: Family
    proto: L4
    ports: Intervals  # destination ports as the packets arrive
    rule: Rule
    flows: str  # who: '8080/tcp from 203.0.113.7 on eth0 (forward via nat DOCKER rule 2 `...`)'

    def describe(self, ports: Intervals | None = None) -> str:
        """'8080/tcp (IPv4) DNAT to 172.17.0.2:80 `-A DOCKER ...`' (`ports`: only those)."""
        shown = format_ports(self.ports if ports is None else ports)
        return f"{shown}/{self.proto} (IPv{self.family}) {action(self.rule)} `{self.rule.text}`"

    @property
    def evidence(self) -> tuple[str, ...]:
        return (f"{self.rule.where}: {self.rule.text}", self.flows)


@dataclass(frozen=True)
class Uncertain:
    """Flows that a forward may take: a match or verdict the model cannot read decides."""

    family: Family
    proto: L4
    ports: Intervals
    why: str

    def describe(self, ports: Intervals | None = None) -> str:
        shown = format_ports(self.ports if ports is None else ports)
        return f"port forward of {shown}/{self.proto} (IPv{self.family}): {self.why}"


@dataclass(frozen=True)
class PortForwards:
    sure: tuple[Forward, ...] = ()
    unsure: tuple[Uncertain, ...] = ()
    unavailable: str | None = None  # why the kernel could not be asked (a sentence)


def port_forwards(model: KernelModel) -> PortForwards:
    """Every family is asked: one that cannot be judged does not hide another's forwards."""
    sure: list[Forward] = []
    unsure: list[Uncertain] = []
    unavailable: str | None = None
    for family in families(model):
        for proto in PROTOS:
            decided = model.decided(family, "in", proto)
            if isinstance(decided, str):
                unavailable = unavailable or decided
                break
            found, maybe = _split(model.rulesets[family], decided)
            sure += _by_rule(model, family, proto, found)
            if maybe:
                unsure.append(_uncertain(family, proto, maybe))
    return PortForwards(tuple(sure), tuple(unsure), unavailable)


def _split(ruleset: Ruleset, decided: list[Decided]) -> tuple[list[Decided], list[Decided]]:
    """(forwarded for sure, may be forwarded): an unread match on the way to a DNAT, or a verdict
    made elsewhere (NFQUEUE, a jump to a missing chain) before the nat table's prerouting chains."""
    found: list[Decided] = []
    maybe: list[Decided] = []
    for part in decided:
        if part.outcome == "forward":
            (found if part.definite else maybe).append(part)
        elif part.outcome == "undecided" and _hook(ruleset, part) in (*_BEFORE_NAT, None):
            maybe.append(part)
    return found, maybe


def _hook(ruleset: Ruleset, part: Decided) -> str | None:
    """The hook of the base chain that decided: the last step of the path in a base chain (the
    steps after it are the jumps into user chains); None: not known."""
    for step in reversed(part.path):
        chain = step.chain if isinstance(step, PolicyStep) else ruleset.chains.get((step.table, step.chain))
        if chain is not None and chain.hook is not None:
            return chain.hook
    return None


def _by_rule(model: KernelModel, family: Family, proto: L4, parts: list[Decided]) -> list[Forward]:
    groups: dict[int, list[Decided]] = {}
    rules: dict[int, Rule] = {}
    for part in parts:
        step = part.step
        if isinstance(step, Rule):  # a forward is always a rule's verdict, never a policy
            groups.setdefault(id(step), []).append(part)
            rules[id(step)] = step
    found = []
    for key, same in groups.items():
        ports = Intervals.merged(span for part in same for span in part.box[DPORT])
        flows = "; ".join(describe(model, "in", proto, [(family, p) for p in same]))
        found.append(Forward(family, proto, ports, rules[key], flows))
    return sorted(found, key=lambda f: (f.ports.spans[0][0], f.rule.where))


def _uncertain(family: Family, proto: L4, parts: list[Decided]) -> Uncertain:
    reasons: list[str] = []
    for part in parts:
        reasons += [a.describe() for a in part.assumptions if a.kind == "unknown"]
        if part.outcome == "undecided":
            reasons.append(f"cannot decide: {part.decider()} (the kernel's verdict is made elsewhere)")
    ports = Intervals.merged(span for part in parts for span in part.box[DPORT])
    return Uncertain(family, proto, ports, next(iter(dict.fromkeys(reasons)), "cannot decide"))


def action(rule: Rule) -> str:
    """'DNAT to 172.17.0.2:80', 'REDIRECT to port 443', 'dnat ip to 10.0.0.5:80' (nft, as printed)."""
    words = rule.target.detail.split()
    if not words or words[0] not in ("DNAT", "REDIRECT", "NETMAP"):
        return rule.target.detail or "forward"
    to = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in _TO), "")
    if not to:
        return words[0]
    return f"{words[0]} to {'port ' if words[0] == 'REDIRECT' else ''}{to}"
