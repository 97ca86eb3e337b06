"""pytest items that show verdicts: one per (device, requirement row, check), collected without files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from pytest_portspec.checks.flow_plan import Pair
from pytest_portspec.checks.flows import check_pair
from pytest_portspec.checks.verdict import Check, Verdict, altered_by_hook
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.site import Site
from pytest_portspec.errors import DeviceError
from pytest_portspec.spec.policy import Expectation
from pytest_portspec.text import printable, printable_lines

Ensure = Callable[[Sequence[DeviceRun]], None]  # takes the snapshots of these devices (each once)


def group_name(run: DeviceRun) -> str:
    """The xdist group of a device's items: one worker runs a whole group (--dist loadgroup).

    A device is its own group. Items that need several devices (checks between two nodes)
    must put them in one group, so that one worker takes all their snapshots. No '@' or
    brackets: xdist reads the group from the node id's last '@' after its last ']'.
    """
    return (run.group or run.label).translate(str.maketrans("@[]", "-()"))


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


def explain(verdict: Verdict, device: str) -> str:
    """A failure as a reviewer reads it: requirement with citation, observation, evidence."""
    lines = [
        f"{device}: {verdict.key} [{verdict.check}] does not meet the vendor document.",
        f"  Required: {verdict.expected}",
    ]
    if verdict.citation is not None:
        cite = verdict.citation
        lines.append(f'  Source:   {cite.doc}: "{cite.quote}"')
        if cite.reading:
            lines.append(f"  Reading:  {cite.reading}")
    lines.append(f"  Observed: {verdict.observed}")
    if verdict.evidence:
        lines.append("  Evidence:")
        lines += [f"    {item}" for item in verdict.evidence]
    lines += [f"  Note:     {note}" for note in verdict.notes]
    if verdict.failure_class:
        lines.append(f"  Class:    {verdict.failure_class}")
    return "\n".join(lines)


class VerdictItem(pytest.Item):
    """An item that shows one verdict: devices' checks and node-to-node flows."""

    verdict: Verdict | None
    spec: str

    @property
    def device(self) -> str:
        raise NotImplementedError

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


def conclude(item: VerdictItem, verdict: Verdict) -> None:
    """Pass the verdict through the hook (waivers), record it, and end the item accordingly."""
    altered = item.config.hook.pytest_portspec_verdict(device=item.device, verdict=verdict)
    verdict = altered_by_hook(verdict, altered)
    item.verdict = verdict
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
    def __init__(
        self,
        *,
        run: DeviceRun,
        key: str,
        check: Check,
        expectation: Expectation | None,
        ensure: Ensure,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.result_id = self.nodeid  # as collected: xdist's loadgroup appends "@GROUP" to nodeid later
        self.run = run
        self.key = key
        self.check = check
        self.expectation = expectation
        self.ensure = ensure
        self.verdict = None
        self.spec = run.policy.spec.name

    def setup(self) -> None:
        self.ensure([self.run])
        if self.run.error is not None:
            setup_error(f"{self.device}: {self.run.error.reason}")
        verdict = self.run.verdicts.get((self.key, self.check))
        if (
            verdict is not None and verdict.outcome == "error"
        ):  # could not reach a verdict: an error, not a failure
            self.verdict = verdict
            setup_error(f"{self.device}: {verdict.observed}")

    @property
    def runs(self) -> tuple[DeviceRun, ...]:
        return (self.run,)

    @property
    def device(self) -> str:
        return self.run.label

    def runtest(self) -> None:
        verdict = self.run.verdicts.get((self.key, self.check))
        if verdict is None:
            raise CheckError(f"no verdict for {self.key} [{self.check}]")
        conclude(self, verdict)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        spec = self.run.policy.spec
        line = self.expectation.row.line - 1 if self.expectation is not None else None
        return spec.path, line, f"{self.run.label} {self.key} [{self.check}]"


class DeviceCollector(pytest.Collector):
    def __init__(self, *, run: DeviceRun, ensure: Ensure, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.ensure = ensure

    def collect(self) -> list[pytest.Item]:
        from pytest_portspec.checks import planned

        spec = self.run.policy.spec
        group = group_marker(self.config, self.run)
        items: list[pytest.Item] = []
        for e, key, check in planned(self.run.policy):
            item = CheckItem.from_parent(
                self,
                name=f"{key}::{check}",
                run=self.run,
                key=key,
                check=check,
                expectation=e,
                ensure=self.ensure,
            )
            item.add_marker(check)
            item.add_marker(spec.name)
            if group is not None:
                item.add_marker(group)
            items.append(item)
        return items


class PairItem(VerdictItem):
    """One node-to-node flow of a site: `voss@site-a::application-1->database-1::27017-tcp`."""

    def __init__(self, *, pair: Pair, site: Site, ensure: Ensure, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result_id = self.nodeid
        self.pair = pair
        self.site = site
        self.ensure = ensure
        self.verdict = None
        self.spec = pair.source.policy.spec.name

    @property
    def runs(self) -> tuple[DeviceRun, ...]:
        return (self.site.run_of(self.pair.source), self.site.run_of(self.pair.peer))

    @property
    def device(self) -> str:
        return self.pair.group

    def setup(self) -> None:
        self.ensure(self.runs)
        source, peer = self.runs
        dynamic = self.pair.peer.policy.spec.default.dynamic
        self.verdict = check_pair(self.pair, source.facts, peer.facts, dynamic)
        if self.verdict.outcome == "error":  # could not reach a verdict: an error, not a failure
            setup_error(f"{self.device}: {self.verdict.observed}")

    def runtest(self) -> None:
        assert self.verdict is not None  # setup decided it
        conclude(self, self.verdict)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        e = self.pair.rows[0]
        return self.pair.source.policy.spec.path, e.row.line - 1, self.nodeid


class SiteCollector(pytest.Collector):
    def __init__(self, *, pairs: list[Pair], site: Site, ensure: Ensure, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pairs = pairs
        self.site = site
        self.ensure = ensure

    def collect(self) -> list[pytest.Item]:
        items: list[pytest.Item] = []
        for pair in self.pairs:
            item = PairItem.from_parent(self, name=pair.key, pair=pair, site=self.site, ensure=self.ensure)
            item.add_marker("pair")
            item.add_marker(pair.source.policy.spec.name)
            group = group_marker(self.config, self.site.run_of(pair.source))  # the site's nodes: one group
            if group is not None:
                item.add_marker(group)
            items.append(item)
        return items
