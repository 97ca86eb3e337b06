"""Who answered a Blocked port's probe with a refusal: the firewall's REJECT, or the device (pure).

A TCP reset (an ICMP error on UDP) proves the tester's packet reached something. Through a
ruleset that rejects the tester's flow, that something is the REJECT rule: the port is blocked.
Through one that lets the flow in, it is the device's own stack: the port is reachable at the
firewall, even with nothing listening. Through one that drops it, nothing on the device should
answer at all, so something the model does not see does: reachable too.

The kernel model decides, for the tester's flow as the device receives it: from the tester's
address (the local end of the SSH connection), any client source port (1024-65535), over the
interface the device routes the tester through, to the address probed. On the branch a quiet
source meets (one probe is not load). A refusal is explained by a REJECT only when no branch of
that flow is let in: then nothing but the REJECT could have answered; and, since the device
might see the tester at another address than the SSH connection's local one (NAT on the
tester's side), only when no other source is let in on that port either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_portspec.addresses import is_ip
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.firewall import kernel_unread
from pytest_portspec.checks.verdict import Verdict, for_row, row_skip
from pytest_portspec.firewall.evaluate import Decided, clip
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.questions import OPEN, describe, required_boxes
from pytest_portspec.firewall.ruleset import Family
from pytest_portspec.firewall.space import L4, with_dim
from pytest_portspec.firewall.values import address_span
from pytest_portspec.probe.outbound import ProbeResult
from pytest_portspec.spec.model import ports_label
from pytest_portspec.spec.policy import Expectation

Status = Literal["rejected", "open", "dropped", "unknown"]
MAX_EVIDENCE = 4


@dataclass(frozen=True)
class Refusal:
    status: Status  # rejected: the REJECT answered; open / dropped: the device did; unknown: cannot tell
    why: str  # one sentence
    evidence: tuple[str, ...] = ()


def refusal(facts: Facts, tester: str | None, proto: L4, port: int) -> Refusal:
    """What the kernel model says answered the tester's probe of `port`/`proto` with a refusal."""
    model, device = facts.kernel, facts.address
    if model is None:
        return Refusal("unknown", kernel_unread(facts))
    if not is_ip(device):
        return Refusal("unknown", f"the address probed ({device or 'none'}) is not an IP address")
    family: Family = 6 if ":" in device else 4
    if tester is not None and (not is_ip(tester) or (":" in tester) != (family == 6)):
        tester = None  # another family than the probe's: the SSH connection says nothing about it
    decided = model.decided(family, "in", proto)
    if isinstance(decided, str):
        return Refusal("unknown", decided)
    everyone = _parts(model, decided, family, proto, port, device, None)
    mine = everyone if tester is None else _parts(model, decided, family, proto, port, device, tester)
    source = f"from {tester}" if tester else "from any address (the tester's is not known)"
    if not mine:
        return Refusal("unknown", f"the kernel model has no flow {source} to {device} {port}/{proto}")
    lines = tuple(describe(model, "in", proto, [(family, p) for p in mine])[:MAX_EVIDENCE])
    status, why = _judge(mine, f"the tester's flow ({source}) to {device} {port}/{proto}")
    opened = [p for p in everyone if p.outcome in OPEN]
    if tester is not None and status == "rejected" and opened:
        seen = describe(model, "in", proto, [(family, p) for p in opened])[0]
        rule = next(p for p in mine if p.outcome == "reject").decider()
        return Refusal(
            "unknown",
            f"the kernel rejects the tester's flow ({rule}) but lets in {seen}: were the tester seen "
            f"at another address (NAT on its side), the reset could be the device's own",
            lines,
        )
    return Refusal(status, why, lines)


def _kind(part: Decided) -> str:
    return "open" if part.outcome in OPEN else part.outcome


def _judge(parts: list[Decided], flow: str) -> tuple[Status, str]:
    kinds = {_kind(p) for p in parts}
    if "undecided" in kinds or ("open" in kinds and "reject" in kinds):
        reasons = [a.describe() for p in parts for a in p.assumptions if a.kind == "unknown"]
        reasons += [f"cannot decide: {p.decider()}" for p in parts if p.outcome == "undecided"]
        reason = reasons[0] if reasons else "the verdict depends on the source port or interface"
        return "unknown", f"the kernel model cannot tell whether {flow} is rejected or let in: {reason}"
    rejects = [p for p in parts if p.outcome == "reject"]
    if rejects:  # no branch lets the flow in: only the REJECT can have answered
        return "rejected", f"the firewall's REJECT answered: {rejects[0].decider()}"
    if "open" in kinds:
        opener = next(p for p in parts if p.outcome in OPEN)
        return "open", f"the kernel lets {flow} in ({opener.outcome} via {opener.decider()})"
    return "dropped", f"the kernel drops {flow} ({parts[0].decider()})"


def _parts(
    model: KernelModel,
    decided: list[Decided],
    family: Family,
    proto: L4,
    port: int,
    device: str,
    tester: str | None,
) -> list[Decided]:
    """The branches of the flow from `tester` (None: every remote) to `device` `port` that a quiet
    source meets (one probe is not load), cut from the family's `decided` flows."""
    space = model.space(family, "in", proto)
    remotes = space.remote if tester is None else Intervals.of(address_span(tester, family))
    local = Intervals.of(address_span(device, family))
    found: list[Decided] = []
    for box in required_boxes(model, space, Intervals.of((port, port)), remotes):
        found += clip(decided, with_dim(box, space.local_dim(), local))
    return [p for p in found if p.nominal] or found


def check_blocked(
    e: Expectation,
    facts: Facts,
    declared: Declarations,
    where: str,
    done: list[ProbeResult],
    evidence: list[str],
) -> Verdict:
    """A Blocked row's inbound item from its probes' results: silence passes, and so does a refusal
    the firewall's REJECT explains; any answer fails (`reachable`); what proves nothing is an error."""
    expected = (
        f"nothing answers on {where} from the tester ({ports_label(e.blocked_ports or e.row.ports)} blocked)"
    )
    if all(r.outcome == "unverifiable" for r in done):
        return row_skip(e, "inbound", f"cannot verify that {e.side.proto} is blocked: {done[0].detail}")
    reached: list[str] = []
    unproven: list[str] = []
    notes: list[str] = []
    for r in done:
        what = f"{r.port}/{r.proto}: {r.outcome} ({r.detail})"
        if r.outcome in ("ok", "answered"):
            reached.append(f"{r.port}/{r.proto} answered the tester ({r.detail})")
        elif r.outcome in ("refused", "no-route"):
            found = refusal(facts, declared.tester_address, r.proto, r.port)
            evidence += [f"the kernel model: {line}" for line in found.evidence]
            if found.status == "rejected":
                notes.append(f"{what}: {found.why}")
            elif found.status in ("open", "dropped") and r.outcome == "refused":
                reached.append(_refused_by_the_device(r, found, facts.address))
            else:
                unproven.append(f"{what}, which proves nothing: {found.why}")
        elif r.outcome not in ("timeout", "unverifiable"):  # the tester's own failure: no word on the device
            unproven.append(f"{what}: the tester's probe failed, so it says nothing about the device")
    if reached:
        return for_row(
            e, "inbound", "failed", expected, reached[0], evidence=evidence, failure_class="reachable"
        )
    if unproven:
        return for_row(e, "inbound", "error", expected, "; ".join(unproven), evidence=evidence)
    unverified = [r for r in done if r.outcome == "unverifiable"]
    if unverified:  # nothing was sent there: its silence proves nothing, so the row is not proven
        first = unverified[0]
        observed = f"cannot verify {first.host}:{first.port}/{first.proto}: {first.detail}"
        return for_row(e, "inbound", "skipped", expected, observed, evidence=evidence)
    observed = "only the firewall's REJECT answered" if notes else "no answer"
    return for_row(e, "inbound", "passed", expected, observed, evidence=evidence, notes=notes)


def _refused_by_the_device(result: ProbeResult, found: Refusal, address: str) -> str:
    port = f"{result.port}/{result.proto}"
    if found.status == "open":
        return (
            f"{port} refused the tester ({result.detail}) and {found.why}: the device's stack answered, "
            f"so the port is reachable through its firewall (nothing listens there)"
        )
    return (
        f"{port} refused the tester ({result.detail}) although {found.why}: something answers on "
        f"{address} that the kernel model does not show (a rule it cannot see, or a device in front)"
    )
