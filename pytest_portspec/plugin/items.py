"""pytest items that show the engine's verdicts: one per planned check, collected without files.

An item decides nothing: in setup it asks the fleet for its check's final verdict (the fleet
reads the devices, judges, and passes the verdict through the hook); a device error or a
verdict the checks could not reach ends the setup as one sentence; the call shows the verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import pytest

from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.fleet import Decide, Fleet, Planned
from pytest_portspec.engine.schedule import group_name
from pytest_portspec.errors import DeviceError
from pytest_portspec.report.explain import explain
from pytest_portspec.text import printable, printable_lines


class CheckFailed(Exception):
    """A check's verdict is 'failed': repr_failure turns it into the auditor's sentence."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.observed)
        self.verdict = verdict


class CheckError(Exception):
    """The check could not reach a verdict (never reported as a pass)."""


def setup_error(sentence: str) -> NoReturn:
    """End an item's setup as an error shown as one sentence. Without a traceback to format: pytest
    formats a setup exception's traceback before our hook replaces it, and re-raising a device's one
    exception grew it item after item (96 items of a refused device took 56 s, now under 1 s)."""
    pytest.fail(printable_lines(sentence), pytrace=False)


class VerdictItem(pytest.Item):
    """An item that shows one check's verdict: a device's row and check kind, or a site's flow."""

    def __init__(self, *, fleet: Fleet, planned: Planned, decide: Decide, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fleet = fleet
        self.planned = planned
        self.decide = decide
        self.verdict: Verdict | None = None
        runs = fleet.runs_of(planned)
        self.spec = runs[0].policy.spec.name

    @property
    def device(self) -> str:
        return self.planned.device

    @property
    def runs(self) -> tuple[DeviceRun, ...]:
        return self.fleet.runs_of(self.planned)

    def setup(self) -> None:
        try:
            self.verdict = self.fleet.verdict(self.planned, self.decide)
        except DeviceError as exc:
            setup_error(f"{self.device}: {exc.reason}")
        if self.verdict.outcome == "error":  # could not reach a verdict: an error, not a failure
            setup_error(f"{self.device}: {self.verdict.observed}")

    def runtest(self) -> None:
        assert self.verdict is not None  # setup decided it
        try:
            show(self, self.verdict)
        except (CheckFailed, pytest.skip.Exception, pytest.xfail.Exception):
            raise
        except Exception:  # another plugin's hook failed while recording: not a verdict of ours
            self.fleet.record(self.planned, "error")
            raise

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """What the terminal and the JUnit XML show: quotes the device and the files, so made printable."""
        return printable_lines(self._failure_text(excinfo))

    def _failure_text(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return explain(excinfo.value.verdict, self.device)
        if isinstance(excinfo.value, DeviceError):
            return f"{self.device}: {excinfo.value.reason}"
        if isinstance(excinfo.value, CheckError):
            return f"{self.device}: {excinfo.value}"
        return str(super().repr_failure(excinfo))


def group_marker(config: pytest.Config, run: DeviceRun) -> pytest.MarkDecorator | None:
    """xdist's group marker (xdist registers it: without xdist, --strict-markers would refuse it)."""
    return pytest.mark.xdist_group(name=group_name(run)) if config.pluginmanager.hasplugin("xdist") else None


def show(item: VerdictItem, verdict: Verdict) -> None:
    """End the item as its final verdict says, with the verdict's JUnit XML properties."""
    record(item, verdict)
    if verdict.outcome == "accepted":  # a site's accepted deviation: reported apart, never as a pass
        note = next((n for n in verdict.notes if n.startswith("accepted deviation")), "accepted deviation")
        pytest.xfail(printable(note))  # the waiver's sentence, from a file
    if verdict.outcome == "skipped":  # the reason reaches the terminal (-rs) and the JUnit XML
        pytest.skip(printable(verdict.observed))
    if verdict.outcome == "failed":
        raise CheckFailed(verdict)
    if verdict.outcome == "error":
        raise CheckError(verdict.observed)


def record(item: VerdictItem, verdict: Verdict) -> None:
    """JUnit XML properties (--junitxml) of the testcase: enough to trace it without the report."""
    cite = verdict.citation
    for name, value in (
        ("device", item.device),
        ("spec", item.spec),
        ("row", verdict.row),
        ("check", verdict.check),
        ("direction", verdict.direction),
        ("proto", verdict.proto),
        ("port", verdict.ports),
        ("outcome", verdict.outcome),
        ("failure_class", verdict.failure_class),
        ("citation", f"{cite.doc}: {cite.quote}" if cite else None),
    ):
        if value is not None:  # device labels, citations: from files, shown by JUnit readers
            item.user_properties.append((name, printable(value)))


class CheckItem(VerdictItem):
    """One check of one requirement row (or of the whole device) on one device: `LABEL::KEY::CHECK`."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        p = self.planned
        assert p.run is not None
        line = p.expectation.row.line - 1 if p.expectation is not None else None
        return p.run.policy.spec.path, line, f"{p.device} {p.key} [{p.check}]"


class PairItem(VerdictItem):
    """One node-to-node flow of a site: `voss@site-a::application-1->database-1::27017-tcp`."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        pair = self.planned.pair
        assert pair is not None
        return pair.source.policy.spec.path, pair.rows[0].row.line - 1, self.nodeid


class DeviceCollector(pytest.Collector):
    """A device's checks, as the fleet planned them."""

    def collect(self) -> list[pytest.Item]:
        return []  # collected by collect_planned: the fleet is not a pytest object

    def collect_planned(self, fleet: Fleet, run: DeviceRun, decide: Decide) -> list[pytest.Item]:
        group = group_marker(self.config, run)
        items: list[pytest.Item] = []
        for p in (p for p in fleet.plan() if p.run is run):
            item = CheckItem.from_parent(
                self, name=f"{p.key}::{p.check}", fleet=fleet, planned=p, decide=decide
            )
            for marker in (p.check, run.policy.spec.name, group):
                if marker is not None:
                    item.add_marker(marker)
            items.append(item)
        return items


class SiteCollector(pytest.Collector):
    """A site's node-to-node flows of one spec (spec@site), as the fleet planned them."""

    def collect(self) -> list[pytest.Item]:
        return []  # collected by collect_planned

    def collect_planned(self, fleet: Fleet, group: str, decide: Decide) -> list[pytest.Item]:
        items: list[pytest.Item] = []
        for p in fleet.planned_for(group):
            assert p.pair is not None  # a site's group plans flows only
            item = PairItem.from_parent(self, name=p.key, fleet=fleet, planned=p, decide=decide)
            source = fleet.runs_of(p)[0]  # the site's nodes: one group
            for marker in ("pair", p.pair.source.policy.spec.name, group_marker(self.config, source)):
                if marker is not None:
                    item.add_marker(marker)
            items.append(item)
        return items
