"""`run_rule_set`: `explain()` of each packet of a rule set against what the kernel did with it.

The model is built from the texts the plugin's own snapshot commands captured; a packet the model
and the kernel disagree on is sent once more, slowly, before it counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kdiff_bench import Bench
from kdiff_kernel import Observation, apply_rules, capture, send_probes
from kdiff_rules import NFT_READER, Probe, RuleSet

from pytest_portspec.firewall.evaluate import Decided
from pytest_portspec.firewall.model import KernelModel, sources_from_texts
from pytest_portspec.firewall.packet import PacketQuery, explain


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
    apply_rules(bench, rules)
    texts, direct_nft, gap = capture(bench)
    if NFT_READER and not texts.get("nft"):
        texts["nft"] = direct_nft  # the model is judged on what the kernel holds (the gap is reported apart)
    if gap and rules.nft:
        tally.capture_gaps.append(f"rule set {rules.index}: {gap}")
    model = KernelModel.build(sources_from_texts(texts))
    pending = _first_try(tally, model, rules, send_probes(bench, rules, rules.probes, timeout))
    if pending:  # once more, one at a time and slowly: a late answer is not a firewall's verdict
        tally.rechecked += len(pending)
        again = send_probes(bench, rules, [s.probe for s, _ in pending], timeout * 5)
        _second_try(tally, model, rules, pending, {o.probe.ident: o for o in again})
        if len(tally.disagreements) and not (keep / f"rule-set-{rules.index}").exists():
            _keep_texts(keep / f"rule-set-{rules.index}", rules, texts)
    return tally


def _first_try(
    tally: Tally, model: KernelModel, rules: RuleSet, observations: list[Observation]
) -> list[tuple[Observation, Verdict]]:
    """Counts every packet; returns those the model and the kernel disagree on."""
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
    return pending


def _second_try(
    tally: Tally,
    model: KernelModel,
    rules: RuleSet,
    pending: list[tuple[Observation, Verdict]],
    again: dict[int, Observation],
) -> None:
    for seen, _ in pending:
        second = again[seen.probe.ident]
        if second.kernel == "error":
            raise RuntimeError(f"{rules.listing()}\nprobe {second.probe.describe()} failed: {second.detail}")
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


def _keep_texts(folder: Path, rules: RuleSet, texts: dict[str, str | None]) -> None:
    """A failing rule set's commands and captured texts, beside kernel-differential.json."""
    folder.mkdir(parents=True)
    (folder / "commands.txt").write_text(rules.listing() + "\n", encoding="utf-8")
    for name, text in texts.items():
        if text is not None and not name.endswith("!"):
            (folder / name).write_text(text, encoding="utf-8")
