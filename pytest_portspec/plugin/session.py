"""The engine's fleet as one pytest session sees it: its items, their selection, groups and header.

Translation only: the fleet (engine/) plans, reads, judges and keeps every outcome; this module
turns its planned checks into items, tells it which items pytest selected, and hands the
`pytest_portspec_verdict` hook to it as the fleet's `decide`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.engine.build import build_fleet
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.fleet import Fleet
from pytest_portspec.engine.schedule import group_name
from pytest_portspec.engine.settings import Settings
from pytest_portspec.errors import ConfigurationError
from pytest_portspec.plugin.items import CheckItem, DeviceCollector, PairItem, SiteCollector


@dataclass(eq=False)
class Registry:
    """The fleet of this session and how pytest reaches it (stashed under plugin.REGISTRY)."""

    fleet: Fleet
    worker: bool = False  # an xdist worker: it takes the snapshots of its own groups of devices only

    @property
    def runs(self) -> list[DeviceRun]:
        return self.fleet.runs

    @property
    def settings(self) -> Settings:
        return self.fleet.settings

    def collect(self, session: pytest.Session) -> list[pytest.Item]:
        decide = _hook_decision(session.config)
        by_device: dict[str, list[pytest.Item]] = {}
        for run in self.fleet.runs:
            collector = DeviceCollector.from_parent(session, name=run.label, nodeid=run.label)
            by_device[run.label] = collector.collect_planned(self.fleet, run, decide)
        for group in self.fleet.groups():
            site = SiteCollector.from_parent(session, name=group, nodeid=group)
            by_device[group] = site.collect_planned(self.fleet, group, decide)
        return [item for items in by_device.values() for item in items]

    def select(self, items: list[pytest.Item]) -> None:
        """The checks of the items pytest will run (after -k, -m, --deselect): only their devices are read."""
        self.fleet.scheduler.own_groups_only = self.worker
        self.fleet.select([item.planned.id for item in items if isinstance(item, CheckItem | PairItem)])

    def group_of(self, nodeid: str) -> str | None:
        """The group of an item from its node id (xdist's controller collects no items)."""
        run = self.fleet.run_labelled(nodeid.rsplit("::", 2)[0])  # LABEL::KEY::CHECK
        if run is None:
            run = next((r for r in self.fleet.runs if nodeid.startswith(f"{r.label}::")), None)
        site = self.fleet.site
        if run is None and site is not None:  # a node-to-node item (SPEC@SITE::SOURCE->PEER::PORT)
            group, _, key = nodeid.partition("::")
            run = site.runs.get(key.split("->")[0]) if group in site.groups() else None  # its source's
        return group_name(run) if run is not None else None

    def header(self) -> list[str]:
        return self.fleet.header()


def build(settings: Settings) -> Registry:
    try:
        return Registry(build_fleet(settings))
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None


def _hook_decision(config: pytest.Config) -> Callable[[str, Verdict], Verdict | None]:
    """The `pytest_portspec_verdict` hook (the site's waivers are one of its implementations)."""

    def decide(device: str, verdict: Verdict) -> Verdict | None:
        altered: Verdict | None = config.hook.pytest_portspec_verdict(device=device, verdict=verdict)
        return altered

    return decide
