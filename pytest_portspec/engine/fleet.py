"""The devices of one run and their checks: what is planned, selected, decided and shown (no pytest).

A check is planned per (device, requirement row, check kind) and per node-to-node flow of a
site, each with an id that the pytest items use as their node id (`LABEL::KEY::CHECK`,
`GROUP::FLOW`). A check's final verdict passes through `decide` (the waivers and the
`pytest_portspec_verdict` hook under pytest) once, here, and the fleet keeps it: the results
file is built from what the fleet kept, not from a test framework's reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from pytest_portspec.checks import planned
from pytest_portspec.checks.flow_plan import Pair
from pytest_portspec.checks.flows import check_pair
from pytest_portspec.checks.verdict import Check, Verdict, altered_by_hook
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.schedule import Scheduler
from pytest_portspec.engine.settings import Settings
from pytest_portspec.engine.site import Site
from pytest_portspec.errors import DeviceError
from pytest_portspec.spec.policy import Expectation

Decide = Callable[[str, Verdict], Verdict | None]  # a say on a verdict (device label, verdict); None: keep it


@dataclass(frozen=True)
class Planned:
    """One check of the run: a device's row and check kind, or a site's node-to-node flow."""

    id: str  # the node id of its pytest item
    device: str  # the device's label, or the site's group (spec@site)
    key: str
    check: Check
    run: DeviceRun | None = None  # a device's check
    expectation: Expectation | None = None  # None: a check of the whole device (defaults, exposure)
    pair: Pair | None = None  # a site's flow


@dataclass(frozen=True)
class Shown:
    """What became of a check: its outcome, and the verdict behind it (None: its device's error)."""

    outcome: str
    verdict: Verdict | None


@dataclass(eq=False)
class Fleet:
    settings: Settings
    runs: list[DeviceRun]
    site: Site | None = None  # the inventory's site and its node-to-node flows
    shown: dict[str, Shown] = field(default_factory=dict)  # check id -> what became of it
    deselected: int = 0  # planned checks this run does not run: the report says it is partial
    scheduler: Scheduler = field(init=False)
    _selected: list[Planned] | None = None  # None: every planned check
    _plan: list[Planned] | None = None
    _by_device: dict[str, list[Planned]] | None = None
    _by_label: dict[str, DeviceRun] = field(default_factory=dict)
    _pair_verdicts: dict[str, Verdict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scheduler = Scheduler(self.runs, self.settings.max_parallel, selected=set(self.labels()))
        self._by_label = {run.label: run for run in self.runs}  # per check and per node id: no fleet walks

    def plan(self) -> list[Planned]:
        """Every check of the run, in order: each device's, then each site's flows."""
        if self._plan is None:
            self._plan = [
                Planned(f"{run.label}::{key}::{check}", run.label, key, check, run=run, expectation=e)
                for run in self.runs
                for e, key, check in planned(run.policy)
            ]
            self._plan += [
                Planned(f"{group}::{pair.key}", group, pair.key, "pair", pair=pair)
                for group, pairs in self.groups().items()
                for pair in pairs
            ]
        return self._plan

    def planned_for(self, device: str) -> list[Planned]:
        """The checks of one device (its label) or of one site's group, in order."""
        if self._by_device is None:
            self._by_device = {}
            for p in self.plan():
                self._by_device.setdefault(p.device, []).append(p)
        return self._by_device.get(device, [])

    @property
    def selected(self) -> list[Planned]:
        return self.plan() if self._selected is None else self._selected

    def select(self, ids: Collection[str]) -> None:
        """Run only these checks: their devices are read, and only the probes they need are sent."""
        chosen = set(ids)
        self._selected = [p for p in self.plan() if p.id in chosen]
        self.deselected = len(self.plan()) - len(self._selected)
        probing: dict[str, set[str]] = {}
        rows: dict[str, set[tuple[str, str]]] = {}
        for p in self._selected:
            label = p.run.label if p.run is not None else self.runs_of(p)[0].label
            probing.setdefault(label, set()).add(p.check)
            if p.run is not None:
                rows.setdefault(label, set()).add((p.key, p.check))
        for run in self.runs:
            run.probing = frozenset(probing.get(run.label, ()))
            run.selected = frozenset(rows.get(run.label, ()))
        self.scheduler.selected = {run.label for p in self._selected for run in self.runs_of(p)}

    def runs_of(self, p: Planned) -> tuple[DeviceRun, ...]:
        """The devices whose snapshots a check needs."""
        if p.run is not None:
            return (p.run,)
        assert p.pair is not None and self.site is not None  # a site's flow
        return (self.site.run_of(p.pair.source), self.site.run_of(p.pair.peer))

    def verdict(self, p: Planned, decide: Decide | None = None) -> Verdict:
        """The check's final verdict (after `decide`), its devices read first; kept as shown.

        A device that could not be read raises its DeviceError (every check of it is an error).
        A verdict the checks could not reach (outcome error) is final: no hook changes it.
        """
        runs = self.runs_of(p)
        self.scheduler.ensure(runs)
        if p.run is not None and p.run.error is not None:
            self.shown[p.id] = Shown("error", None)
            raise p.run.error
        verdict = self._judged(p)
        if verdict.outcome != "error" and decide is not None:
            verdict = altered_by_hook(verdict, decide(p.device, verdict))
        self.shown[p.id] = Shown(verdict.outcome, verdict)
        return verdict

    def _judged(self, p: Planned) -> Verdict:
        if p.pair is None:
            assert p.run is not None
            found = p.run.verdicts.get((p.key, p.check))
            if found is None:  # every planned check has a verdict: a bug, shown as an error
                return Verdict(p.key, p.check, "error", "a verdict", f"no verdict for {p.key} [{p.check}]")
            return found
        if p.id not in self._pair_verdicts:
            source, peer = self.runs_of(p)
            dynamic = p.pair.peer.policy.spec.default.dynamic
            self._pair_verdicts[p.id] = check_pair(p.pair, source.facts, peer.facts, dynamic)
        return self._pair_verdicts[p.id]

    def record(self, p: Planned, outcome: str) -> None:
        """An outcome the checks did not give (a hook that raised): kept as shown, verdict as it was."""
        shown = self.shown.get(p.id)
        self.shown[p.id] = Shown(outcome, shown.verdict if shown else None)

    def run_all(self, decide: Decide | None = None) -> None:
        """Decide every selected check (their devices read concurrently), then the read-only proofs."""
        for p in self.selected:
            with contextlib.suppress(DeviceError):  # kept as shown: an error of each of the device's checks
                self.verdict(p, decide)
        self.finish()

    def finish(self) -> None:
        self.scheduler.finish()

    def groups(self) -> dict[str, list[Pair]]:
        return self.site.groups() if self.site else {}

    def labels(self) -> list[str]:
        return [run.label for run in self.runs] + list(self.groups())

    def run_labelled(self, label: str) -> DeviceRun | None:
        return self._by_label.get(label)

    def header(self) -> list[str]:
        inventory = self.settings.inventory
        return [f"portspec: {note}" for note in (inventory.notes if inventory else ())] + [
            f"portspec: {run.label}{'' if run.host in run.label else f' at {run.host}'} "
            f"({run.policy.spec.source_doc}; enabled: "
            f"{', '.join(run.policy.enabled) or 'none'})"
            for run in self.runs
        ]
