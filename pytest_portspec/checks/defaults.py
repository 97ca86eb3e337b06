"""The default-policy checks: "all other inbound (outbound) traffic blocked", judged over every
port of both protocols and both families against what the kernel enforces (pure)."""

from __future__ import annotations

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.firewall import kernel_unread, port_set
from pytest_portspec.checks.kinds import DeviceCheck
from pytest_portspec.checks.verdict import Outcome, Verdict
from pytest_portspec.firewall.evaluate import Decided
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.questions import FAMILIES, describe, open_to, opened
from pytest_portspec.firewall.ruleset import Rule
from pytest_portspec.firewall.space import L4, Direction
from pytest_portspec.spec.policy import EffectivePolicy

PROTOS: tuple[L4, ...] = ("tcp", "udp")
MAX_LISTED = 6

# Accepts of ufw's stock before.rules that reach unicast flows: the DHCP clients' replies. Part
# of every ufw installation, not something an operator opened; reported as notes.
STOCK_UFW = (
    "-A ufw-before-input -p udp -m udp --sport 67 --dport 68 -j ACCEPT",
    "-A ufw6-before-input -s fe80::/10 -d fe80::/10 -p udp -m udp --sport 547 --dport 546 -j ACCEPT",
)


def documented_ports(
    policy: EffectivePolicy, declared: Declarations, direction: str, proto: str
) -> Intervals:
    """The ports applicable external rows of a direction name (allowed ones, and blocked ones, which
    their own items judge), with the declared site additions and (inbound TCP) the management port
    this run connects through: what "all other ports" leaves out."""
    found = Intervals()
    for e in policy.rows:
        if not (
            e.applies and e.action is not None and e.side.direction == direction and e.side.proto == proto
        ):
            continue
        if e.row.scope != "external":
            continue
        if e.row.configurable and e.row.id in declared.ports:
            port = declared.ports[e.row.id]
            found = found | Intervals.of((port, port))
        else:
            found = found | port_set(e.row.ports)
    if direction == "in":
        found = found | Intervals.merged((p, p) for pr, p in declared.site_allow if pr == proto)
        if proto == "tcp":
            found = found | Intervals.of((declared.management_port, declared.management_port))
    return found


def check_default(
    policy: EffectivePolicy, facts: Facts, declared: Declarations, direction: Direction
) -> Verdict:
    required = policy.default_in if direction == "in" else policy.default_out
    say = _Say(
        policy,
        direction,
        f"all other {direction}bound traffic {'blocked' if required == 'block' else required}",
    )
    if required == "unspecified":
        return say("skipped", "the document says nothing about other ports in this direction")
    if facts.kernel is None:
        return say("error", kernel_unread(facts))
    view = _ufw_default(facts, direction)
    if required == "allow":
        return _check_all_allowed(policy, facts.kernel, direction, say, view)
    unsure: list[str] = []
    stock: list[str] = []
    for proto in PROTOS:
        documented = documented_ports(policy, declared, direction, proto)
        found, maybe, why = opened(facts.kernel, direction, proto, documented)
        if why is not None:
            return say("error", why)
        stock += describe(facts.kernel, direction, proto, [(f, d) for f, d in found if _stock(d)])
        lines = describe(facts.kernel, direction, proto, [(f, d) for f, d in found if not _stock(d)])
        if lines:
            observed = f"ports no row documents are open: {lines[0]}"
            return say("failed", observed, "undocumented-open", (*lines[:MAX_LISTED], view))
        unsure += [a for _, d in maybe for a in _why_unsure(d)] + describe(
            facts.kernel, direction, proto, maybe
        )
    notes = tuple(f"ufw's stock rule: {line}" for line in stock[:2])
    if unsure:
        return say("error", unsure[0], evidence=(*unsure[:MAX_LISTED], view), notes=notes)
    families = " and ".join(f"IPv{f}" for f in FAMILIES if facts.kernel.has_family(f))
    observed = (
        f"the kernel lets no new {direction}bound flow through on a port no row documents "
        f"(TCP and UDP, ports 0-65535, {families}, from any address)"
    )
    return say("passed", observed, evidence=(observed, view), notes=notes)


class _Say:
    """The default-policy verdict of one direction, with its expectation and citation."""

    def __init__(self, policy: EffectivePolicy, direction: Direction, expected: str) -> None:
        self.policy, self.direction, self.expected = policy, direction, expected

    def __call__(
        self,
        outcome: Outcome,
        observed: str,
        failure: str | None = None,
        evidence: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
    ) -> Verdict:
        return Verdict(
            key=f"default-{self.direction}",
            check="default",
            outcome=outcome,
            expected=self.expected,
            observed=observed,
            evidence=evidence or ((observed,) if outcome != "skipped" else ()),
            failure_class=failure if outcome == "failed" else None,
            direction=self.direction,
            citation=self.policy.spec.default.citation,
            notes=notes,
        )


def _check_all_allowed(
    policy: EffectivePolicy, model: KernelModel, direction: Direction, say: _Say, view: str
) -> Verdict:
    """'All other traffic allowed': every port no row blocks is open to any address."""
    for proto in PROTOS:
        blocked = Intervals()
        for e in policy.rows:
            if e.applies and e.action == "block" and e.side.direction == direction and e.side.proto == proto:
                blocked = blocked | port_set(e.blocked_ports or e.row.ports)
        answer = open_to(model, direction, proto, Intervals.of((1, 65535)) - blocked)
        if answer.status != "yes":
            outcome: Outcome = "failed" if answer.status == "no" else "error"
            return say(outcome, answer.why, "default-policy", (*answer.evidence, view))
    return say("passed", f"the kernel lets every other {direction}bound flow through", evidence=(view,))


def _stock(part: Decided) -> bool:
    step = part.step
    return isinstance(step, Rule) and step.text in STOCK_UFW


def _why_unsure(part: Decided) -> list[str]:
    found = [a.describe() for a in part.assumptions if a.kind == "unknown"]
    if part.outcome == "undecided":
        found.append(f"cannot decide: {part.decider()} (the kernel's verdict is made elsewhere)")
    return found


def _ufw_default(facts: Facts, direction: str) -> str:
    if facts.ufw is None:
        return "ufw's view: not read"
    if not facts.ufw.active:
        return "ufw's view: ufw is inactive"
    word = {"in": "incoming", "out": "outgoing"}[direction]
    actual = facts.ufw.default_in if direction == "in" else facts.ufw.default_out
    return f"ufw's view: default {word} policy {actual}"


def _default_item(policy: EffectivePolicy, facts: Facts, declared: Declarations, key: str) -> Verdict:
    return check_default(policy, facts, declared, "in" if key == "default-in" else "out")


DEFAULT = DeviceCheck(keys=("default-in", "default-out"), evaluate=_default_item)  # kinds.py registers it
