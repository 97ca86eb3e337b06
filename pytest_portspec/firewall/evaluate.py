"""First-match evaluation of a ruleset over a whole space of new flows at once (pure).

    evaluate(ruleset, space) -> [Decided]   # disjoint in each branch, covering the space

The space starts as one box. Each hook's base chains run in priority order (raw, mangle, nat,
filter, security, nft chains by their priority); in a chain each rule splits the region into
the part it matches (which its target takes: a verdict, a jump into another chain, a RETURN)
and the rest, which goes on to the next rule. An `accept` ends one base chain: the next base
chain of the hook, and the next hook, still see the flow. What no rule decides meets the base
chain's policy.

A rule whose match is not decided by the flow alone forks the region: the matched branch and
the unmatched branch both go on, each carrying an `Assumption`. For a rate match one branch is
`nominal` (what one connection from a quiet source meets) and the other happens under load;
for a match the model cannot read both are possible and both are marked undecided.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from pytest_portspec.firewall.classes import port_classes
from pytest_portspec.firewall.compile import Compiled, compile_rule
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.ruleset import Chain, Hook, Rule, Ruleset
from pytest_portspec.firewall.space import DPORT, Box, Space, intersect, subtract_all, with_dim

Outcome = Literal["accept", "drop", "reject", "forward", "undecided"]
HOOKS: dict[str, tuple[Hook, ...]] = {
    "in": ("ingress", "prerouting", "input"),
    "out": ("output", "postrouting", "egress"),
}
_VERDICTS: dict[str, Outcome] = {
    "accept": "accept",
    "drop": "drop",
    "reject": "reject",
    "forward": "forward",
    "undecided": "undecided",
}
_PASSING_TABLES = ("nat", "mangle", "raw")  # tables whose ACCEPT only lets the packet go on
MAX_DEPTH = 40  # iptables allows no loops; a deeper nesting than this is not a real ruleset
MAX_PIECES = 200_000  # a ruleset that splits the space finer than this is reported, not evaluated


class TooComplex(Exception):
    """The ruleset cannot be evaluated within the model's bounds (the message says why)."""


@dataclass(frozen=True)
class Assumption:
    rule: Rule
    kind: Literal["rate", "unknown"]
    matched: bool
    nominal: bool  # rate: what a quiet source meets; unknown: always True (both are possible)
    why: str

    def describe(self) -> str:
        if self.kind == "unknown":
            return f"cannot decide: {self.rule.describe()} uses {self.why}"
        state = "matches" if self.matched else "does not match"
        when = "for a quiet source" if self.nominal else "under load"
        return f"{self.rule.describe()} {state} {when}"


@dataclass(frozen=True)
class PolicyStep:
    chain: Chain

    def describe(self) -> str:
        return f"{self.chain.label} policy {(self.chain.policy or 'accept').upper()}"


Step = Rule | PolicyStep


@dataclass(frozen=True)
class Decided:
    box: Box
    outcome: Outcome
    path: tuple[Step, ...]  # the jumps that led there, then the deciding rule or policy
    assumptions: tuple[Assumption, ...] = ()

    @property
    def nominal(self) -> bool:
        return all(a.nominal for a in self.assumptions)

    @property
    def definite(self) -> bool:
        return not any(a.kind == "unknown" for a in self.assumptions)

    @property
    def step(self) -> Step | None:
        """The step that decided: the last one; for an accept, the last one of a filtering table
        (an empty nat or mangle chain's ACCEPT policy later on decides nothing)."""
        if self.outcome == "accept":
            for step in reversed(self.path):
                table = step.table if isinstance(step, Rule) else step.chain.table
                if table.rpartition(" ")[2] not in _PASSING_TABLES:
                    return step
        return self.path[-1] if self.path else None

    def decider(self) -> str:
        if self.step is None:
            return "no base chain filters this hook"
        return self.step.describe()


@dataclass(frozen=True)
class _Flow:
    box: Box
    assumptions: tuple[Assumption, ...] = ()
    path: tuple[Step, ...] = ()  # earlier hooks' accepts

    def moved(self, box: Box) -> _Flow:
        return _Flow(box, self.assumptions, self.path)


def evaluate(ruleset: Ruleset, space: Space) -> list[Decided]:
    return _Evaluator(ruleset, space).run()


class _Evaluator:
    def __init__(self, ruleset: Ruleset, space: Space) -> None:
        self.ruleset, self.space = ruleset, space
        self.cache: dict[int, Compiled] = {}
        self.count = 0
        self.everywhere: dict[tuple[str, str], list[Rule]] = {}  # per chain: rules of every port class
        self.current: dict[tuple[str, str], list[Rule]] = {}  # per chain: port-specific rules of this class

    def compiled(self, rule: Rule) -> Compiled:
        key = id(rule)
        if key not in self.cache:
            self.cache[key] = compile_rule(rule, self.space, self.ruleset)
        return self.cache[key]

    def run(self) -> list[Decided]:
        rules = [r for c in self.ruleset.chains.values() for r in c.rules if r.target.kind != "continue"]
        classes, everywhere = port_classes(rules, self.footprint, self.space.dim_universe(DPORT))
        by_id = {id(r): r for r in rules}
        self.everywhere = _by_chain(by_id[key] for key in everywhere)
        found: list[Decided] = []
        for port_class in classes:
            self.current = _by_chain(by_id[key] for key in port_class.rules)
            found += self.run_class(with_dim(self.space.all(), DPORT, port_class.ports))
        return _merged(found)

    def rules_of(self, chain: Chain) -> Iterator[Rule]:
        """The chain's rules that can match in the current port class, in order."""
        key = (chain.table, chain.name)
        mine = self.current.get(key)
        always = self.everywhere.get(key, [])
        return iter(always) if not mine else heapq.merge(always, mine, key=lambda r: r.number)

    def footprint(self, rule: Rule) -> Intervals:
        ports = Intervals()
        for box in self.compiled(rule).boxes:
            ports = ports | box[DPORT]
        return ports

    def run_class(self, start: Box) -> list[Decided]:
        flows = [_Flow(start)]
        final: list[Decided] = []
        for hook in HOOKS[self.space.direction]:
            for chain in self.ruleset.base_chains(hook):
                decided, returned = self.walk(chain, flows, (), 0)
                policy: Outcome = "drop" if chain.policy == "drop" else "accept"
                decided += [self.decide(f, policy, (*f.path, PolicyStep(chain))) for f in returned]
                flows = [_Flow(d.box, d.assumptions, d.path) for d in decided if d.outcome == "accept"]
                final += [d for d in decided if d.outcome != "accept"]
        last: tuple[Step, ...] = ()
        return final + [Decided(f.box, "accept", f.path or last, f.assumptions) for f in flows]

    def decide(self, flow: _Flow, outcome: Outcome, path: tuple[Step, ...]) -> Decided:
        return Decided(flow.box, outcome, path, flow.assumptions)

    def walk(
        self, chain: Chain, flows: list[_Flow], stack: tuple[Step, ...], depth: int
    ) -> tuple[list[Decided], list[_Flow]]:
        """The flows entering `chain`: what its rules decide, and what returns (or falls off its end)."""
        if depth > MAX_DEPTH:
            raise TooComplex(f"chains nest deeper than {MAX_DEPTH} at {chain.label}")
        final: list[Decided] = []
        returned: list[_Flow] = []
        for rule in self.rules_of(chain):  # LOG, MARK, counters (the packet goes on) are left out
            if not flows:
                break
            compiled = self.compiled(rule)
            if not compiled.boxes:
                continue
            flows, hits = self.split(rule, compiled, flows)
            if hits:
                decided, going_on, leaving = self.apply(rule, hits, stack, depth)
                final += decided
                flows += going_on
                returned += leaving
        return final, returned + flows

    def split(self, rule: Rule, compiled: Compiled, flows: list[_Flow]) -> tuple[list[_Flow], list[_Flow]]:
        rest: list[_Flow] = []
        hits: list[_Flow] = []
        for flow in flows:
            inside = [b for b in (intersect(flow.box, c) for c in compiled.boxes) if b is not None]
            if not inside:
                rest.append(flow)
                continue
            rest += [flow.moved(b) for b in subtract_all(flow.box, list(compiled.boxes))]
            if compiled.fork is None:
                hits += [flow.moved(b) for b in inside]
                continue
            kind, value = compiled.fork
            hit_nominal = bool(value) if kind == "rate" else True
            why = str(value) if kind == "unknown" else rule.target.kind
            for box in inside:
                for matched, nominal, into in (
                    (True, hit_nominal, hits),
                    (False, kind != "rate" or not hit_nominal, rest),
                ):
                    assumed = Assumption(rule, kind, matched, nominal, why)  # type: ignore[arg-type]
                    into.append(_Flow(box, (*flow.assumptions, assumed), flow.path))
        self.count += len(rest) + len(hits)
        if self.count > MAX_PIECES:
            raise TooComplex(f"the ruleset splits the flows into more than {MAX_PIECES} regions")
        return rest, hits

    def apply(
        self, rule: Rule, hits: list[_Flow], stack: tuple[Step, ...], depth: int
    ) -> tuple[list[Decided], list[_Flow], list[_Flow]]:
        """(decided, going on in this chain, returning from it) for the flows a rule matched."""
        target = rule.target
        path = (*stack, rule)
        verdict = _VERDICTS.get(target.kind)
        if verdict is not None:
            return [Decided(h.box, verdict, (*h.path, *path), h.assumptions) for h in hits], [], []
        if target.kind == "return":
            return [], [], hits
        assert target.chain is not None
        sub = self.ruleset.chains.get((rule.table, target.chain))
        if sub is None:
            return [Decided(h.box, "undecided", (*h.path, *path), h.assumptions) for h in hits], [], []
        decided, back = self.walk(sub, hits, path, depth + 1)
        if target.kind == "goto":
            return decided, [], back
        return decided, back, []


def _by_chain(rules: Iterable[Rule]) -> dict[tuple[str, str], list[Rule]]:
    found: dict[tuple[str, str], list[Rule]] = {}
    for rule in rules:
        found.setdefault((rule.table, rule.chain), []).append(rule)
    for chain_rules in found.values():
        chain_rules.sort(key=lambda r: r.number)
    return found


def _merged(parts: list[Decided]) -> list[Decided]:
    """Parts that differ only in their destination ports (one per port class), as one part."""
    groups: dict[tuple[object, ...], list[Decided]] = {}
    for part in parts:
        box = part.box
        key = (
            part.outcome,
            tuple(id(step) if isinstance(step, Rule) else id(step.chain) for step in part.path),
            tuple((id(a.rule), a.matched, a.nominal) for a in part.assumptions),
            box[0],
            box[1],
            box[2],
            box[4],
        )
        groups.setdefault(key, []).append(part)
    out = []
    for same in groups.values():
        first = same[0]
        ports = Intervals.merged(span for part in same for span in part.box[DPORT])
        out.append(Decided(with_dim(first.box, DPORT, ports), first.outcome, first.path, first.assumptions))
    return out


def clip(decided: list[Decided], box: Box) -> list[Decided]:
    """The decided parts within `box`, cut to it."""
    found = []
    for part in decided:
        inside = intersect(part.box, box)
        if inside is not None:
            found.append(Decided(inside, part.outcome, part.path, part.assumptions))
    return found
