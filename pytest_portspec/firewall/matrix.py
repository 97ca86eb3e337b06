"""What the kernel lets through, as rows a reviewer reads (pure).

    matrix(model) -> Matrix                 per family, direction, protocol: the ports new flows get
                                            through (accept, forward), from whom, by which rule
    packet_parts(decided, space) -> [Part]  one packet (`packet.explain`), one verdict per part

A matrix row is one deciding rule's region merged back into products (22 and 443 from the same
remotes: one row). A row is undecided when a match the model cannot read lets the flow through on
one branch, or the verdict is made elsewhere (NFQUEUE); a row only a rate limit's other branch
reaches is `under_load`. A packet with a field left out (source port, interface) is every value
of it, in parts decided alike ("from source port 67: accept; other source ports: drop"); in a part,
a rate limit or an unreadable match forks it into branches, each with its verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

from pytest_portspec.firewall.evaluate import Assumption, Decided, Outcome, PolicyStep, Step
from pytest_portspec.firewall.intervals import EMPTY, Intervals
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.questions import FAMILIES, OPEN, describe_addresses
from pytest_portspec.firewall.ruleset import Family, Rule
from pytest_portspec.firewall.space import DPORT, IFACE, L4, OTHER_INTERFACE, SPORT, Box, Direction, Space
from pytest_portspec.firewall.values import format_addresses, format_ports

Section = tuple[Family, Direction, L4]
SECTIONS: tuple[Section, ...] = tuple(
    (f, d, p) for f in FAMILIES for d in ("in", "out") for p in ("tcp", "udp")
)
PASS_TABLES = ("nat", "mangle", "raw")  # their ACCEPT passes the flow on to the filter table
ALL = 10**9  # no "… (N ranges)" shortening: a matrix row is exact


@dataclass(frozen=True)
class Flow:
    family: Family
    direction: Direction
    proto: L4
    ports: str
    remote: str  # "any address", "10.0.0.0/8", "any address except 198.18.1.1"
    outcome: Outcome
    rule: str  # the deciding rule (or policy), as `Rule.describe` prints it
    where: str  # "iptables-save line 104", "nft handle 7"
    under_load: bool = False
    undecided: str | None = None  # why the model cannot tell (the match quoted)
    source_ports: str | None = None  # None: any
    interfaces: str | None = None  # None: any interface
    local: str | None = None  # the device's own addresses it is limited to; None: any of them
    assumptions: tuple[str, ...] = ()

    def who(self) -> str:
        text = self.remote + (f" (source ports {self.source_ports})" if self.source_ports else "")
        text += f" on {self.interfaces}" if self.interfaces else ""
        return text + (f" {'to' if self.direction == 'in' else 'from'} {self.local}" if self.local else "")

    def label(self) -> str:
        if self.undecided is not None:
            return self.outcome + " (undecided)" * (self.outcome != "undecided")
        return self.outcome + (
            " (under load)" if self.under_load else " (a quiet source)" * bool(self.assumptions)
        )

    def as_dict(self) -> dict[str, Any]:
        side = "from" if self.direction == "in" else "to"
        return {
            side if k == "remote" else k: list(v) if k == "assumptions" else v
            for k, v in asdict(self).items()
        }


@dataclass
class Matrix:
    flows: list[Flow] = field(default_factory=list)
    unavailable: dict[Section, str] = field(default_factory=dict)  # why a section has no rows


def matrix(model: KernelModel) -> Matrix:
    found = Matrix()
    for family, direction, proto in SECTIONS:
        if not model.has_family(family):
            found.unavailable[(family, direction, proto)] = f"the device has no IPv{family} address"
            continue
        decided = model.decided(family, direction, proto)
        if isinstance(decided, str):
            found.unavailable[(family, direction, proto)] = decided
            continue
        found.flows += section_flows(model.space(family, direction, proto), decided)
    return found


def section_flows(space: Space, decided: list[Decided]) -> list[Flow]:
    """The open (and undecided) parts of one section, one row per deciding rule and product."""
    groups: dict[tuple[str, ...], tuple[Decided, list[Box]]] = {}
    for part in decided:
        if part.outcome not in OPEN and part.outcome != "undecided":
            continue
        key = (part.outcome, step_label(deciding_step(part)), *map(condition, part.assumptions))
        groups.setdefault(key, (part, []))[1].append(part.box)
    rows = [(box, part) for part, boxes in groups.values() for box in merge(boxes)]
    rows.sort(key=lambda row: (row[0][DPORT].first(), step_label(deciding_step(row[1]))))
    return [_flow(space, part, box) for box, part in rows]


def _flow(space: Space, part: Decided, box: Box) -> Flow:
    step = deciding_step(part)
    sports, ifaces, local = box[SPORT], box[IFACE], box[space.local_dim()]
    return Flow(
        *(space.family, space.direction, space.proto, format_ports(box[DPORT], ALL)),
        *(describe_addresses(space, box[space.remote_dim()]), part.outcome, step_label(step)),
        step.chain.where if isinstance(step, PolicyStep) else step.where if step else "",
        under_load=not part.nominal,
        undecided=why_undecided(part),
        source_ports=None if sports == space.dim_universe(SPORT) else format_ports(sports, ALL),
        interfaces=None if ifaces == space.dim_universe(IFACE) else ", ".join(names(space, ifaces)),
        local=None if local == space.local else format_addresses(local, space.family),
        assumptions=tuple(a.describe() for a in part.assumptions),
    )


def merge(boxes: list[Box]) -> list[Box]:
    """The same region in fewer boxes: boxes equal in all dimensions but one become one box."""
    changed = True
    while changed:
        changed = False
        for dim in range(5):
            joined: dict[tuple[Intervals, ...], Intervals] = {}
            for box in boxes:
                rest = box[:dim] + box[dim + 1 :]
                joined[rest] = joined.get(rest, EMPTY) | box[dim]
            changed = changed or len(joined) < len(boxes)
            boxes = [_box((*rest[:dim], values, *rest[dim:])) for rest, values in joined.items()]
    return boxes


def _box(dims: tuple[Intervals, ...]) -> Box:
    return (dims[0], dims[1], dims[2], dims[3], dims[4])


def deciding_step(part: Decided) -> Step | None:
    """The step a reviewer reads as the reason. For an accept: the last accepting rule or policy of
    a filtering table (a nat, mangle or raw table's ACCEPT only passes the flow on)."""
    if part.outcome != "accept" or not part.path:
        return part.step
    accepting = [s for s in part.path if isinstance(s, PolicyStep) or s.target.kind == "accept"]
    filtering = [s for s in accepting if step_table(s).rsplit(" ", 1)[-1] not in PASS_TABLES]
    return (filtering or accepting or [part.path[-1]])[-1]


def step_table(step: Step) -> str:
    return step.chain.table if isinstance(step, PolicyStep) else step.table


def step_label(step: Step | None) -> str:
    return "no base chain filters this hook" if step is None else step.describe()


def step_dict(step: Step) -> dict[str, Any]:
    if isinstance(step, PolicyStep):
        chain = step.chain
        policy = (chain.policy or "accept").upper()
        return {"policy": policy, "table": chain.table, "chain": chain.name, "where": chain.where}
    found = {"table": step.table, "chain": step.chain, "rule": step.number}
    return found | {"text": step.text, "where": step.where}


def branch_dict(branch: Decided) -> dict[str, Any]:
    found = {"outcome": branch.outcome, "when": list(map(condition, branch.assumptions))}
    return found | {"path": list(map(step_dict, branch.path))}


def condition(assumption: Assumption) -> str:
    """'filter INPUT rule 3 matches (a quiet source)', 'filter INPUT rule 5 does not match (undecided)'."""
    rule: Rule = assumption.rule
    state = "matches" if assumption.matched else "does not match"
    when = (
        "undecided" if assumption.kind == "unknown" else ("under load", "a quiet source")[assumption.nominal]
    )
    return f"{rule.table} {rule.chain} rule {rule.number} {state} ({when})"


def why_undecided(part: Decided) -> str | None:
    reasons = [a.describe() for a in part.assumptions if a.kind == "unknown"]
    if part.outcome == "undecided":
        reasons.append(f"cannot decide: {part.decider()} (the kernel's verdict is made elsewhere)")
    return "; ".join(dict.fromkeys(reasons)) or None


def names(space: Space, ifaces: Intervals) -> list[str]:
    found = [n for i, n in enumerate(space.interfaces) if i in ifaces]
    return ["any other interface" if n == OTHER_INTERFACE else n for n in found]


@dataclass(frozen=True)
class Part:
    """The values of the left-out fields one packet is decided alike for, and its branches."""

    when: str | None  # "from source port 67", "other source ports"; None: the whole packet
    branches: tuple[Decided, ...]

    @property
    def nominal(self) -> list[Decided]:
        return [b for b in self.branches if b.nominal] or list(self.branches)

    @property
    def possible(self) -> list[str]:
        return list(dict.fromkeys(b.outcome for b in self.nominal))

    @property
    def verdict(self) -> str:
        return self.possible[0] if len(self.possible) == 1 else "undecided"

    @property
    def under_load(self) -> list[str]:
        load = [b.outcome for b in self.branches if not b.nominal and b.outcome != self.verdict]
        return list(dict.fromkeys(load))

    @property
    def main(self) -> Decided:
        return next((b for b in self.nominal if b.outcome == self.verdict), self.nominal[0])

    def reasons(self) -> list[str]:
        if self.verdict != "undecided":
            return []
        return list(dict.fromkeys(r for b in self.nominal for r in [why_undecided(b)] if r))

    def summary(self) -> str:
        text = self.verdict
        if len(self.possible) > 1:
            text += f" ({' or '.join(self.possible)})"
        if self.under_load:
            text += f", under load {' or '.join(self.under_load)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"when": self.when, "verdict": self.verdict}
        found["path"] = list(map(step_dict, self.main.path))
        found |= {"under_load": self.under_load or None, "reasons": self.reasons()}
        if len(self.possible) > 1:
            found["possible"] = self.possible
        if len(self.branches) > 1:
            found["branches"] = list(map(branch_dict, self.branches))
        return found


def packet_parts(decided: list[Decided], space: Space) -> list[Part]:
    """`explain`'s parts regrouped: one Part per set of (source port, interface) values decided
    alike, the largest last (it is named 'other source ports', 'other interfaces' or 'otherwise')."""
    regions: dict[tuple[str, ...], tuple[tuple[Decided, ...], dict[int, Intervals]]] = {}
    for iface, sports, branches in _cells(decided):
        key = tuple(f"{b.outcome} {[step_label(s) for s in b.path]} {list(map(condition, b.assumptions))}"
                    for b in branches)  # fmt: skip
        cells = regions.setdefault(key, (branches, {}))[1]
        cells[iface] = cells.get(iface, EMPTY) | sports
    ordered = sorted(regions.values(), key=lambda r: sum(v.size() for v in r[1].values()))
    if len(ordered) == 1:
        return [Part(None, ordered[0][0])]
    full_ifaces = set().union(*(r[1] for r in ordered))
    full_sports = Intervals.merged(s for b in decided for s in b.box[SPORT])
    by_sport = all(set(c) == full_ifaces and len(set(c.values())) == 1 for _, c in ordered)
    by_iface = all(v == full_sports for _, c in ordered for v in c.values())
    last = "other source ports" if by_sport else "other interfaces" if by_iface else "otherwise"
    labels = [_region(c, space, full_ifaces, full_sports) for _, c in ordered[:-1]] + [last]
    return [Part(label, branches) for label, (branches, _) in zip(labels, ordered, strict=True)]


def _nominal_first(branches: tuple[Decided, ...]) -> tuple[Decided, ...]:
    return tuple(sorted(branches, key=lambda b: (not b.nominal, [not a.matched for a in b.assumptions])))


def _cells(decided: list[Decided]) -> list[tuple[int, Intervals, tuple[Decided, ...]]]:
    """(interface, source ports, the branches deciding them) elementary cells of the parts."""
    found = []
    for iface in sorted({i for b in decided for lo, hi in b.box[IFACE] for i in range(lo, hi + 1)}):
        here = [b for b in decided if iface in b.box[IFACE]]
        bounds = sorted({v for b in here for lo, hi in b.box[SPORT] for v in (lo, hi + 1)})
        for lo, end in pairwise(bounds):
            branches = _nominal_first(tuple(b for b in here if lo in b.box[SPORT]))
            if branches:
                found.append((iface, Intervals.of((lo, end - 1)), branches))
    return found


def _region(cells: dict[int, Intervals], space: Space, ifaces: set[int], sports: Intervals) -> str:
    by_ports: dict[Intervals, list[int]] = {}
    for iface, values in sorted(cells.items()):
        by_ports.setdefault(values, []).append(iface)
    pieces = []
    for values, chosen in by_ports.items():
        words = []
        if values != sports:
            plural = "s" if values.size() > 1 else ""
            words.append(f"from source port{plural} {format_ports(values, ALL)}")
        if set(chosen) != ifaces:
            words.append("on " + ", ".join(names(space, Intervals.merged((i, i) for i in chosen))))
        pieces.append(" ".join(words))
    return " or ".join(pieces)
