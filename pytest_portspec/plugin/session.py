"""The devices of one pytest session: how to reach each, their items, runs and outcomes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from pytest_portspec.checks.context import Declarations
from pytest_portspec.device.address import DeviceRequest
from pytest_portspec.device.schemes import Target, is_lab_host, transport_for
from pytest_portspec.engine.device_run import DeviceRun, progress_line
from pytest_portspec.engine.settings import Settings
from pytest_portspec.engine.site import Site, plan_site
from pytest_portspec.errors import LabError, PortspecError
from pytest_portspec.lab.resolve import resolve
from pytest_portspec.plugin.items import CheckItem, DeviceCollector, PairItem, SiteCollector, group_name
from pytest_portspec.probe import remote_program
from pytest_portspec.spec import Spec
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.inventory import InventoryDevice
from pytest_portspec.spec.policy import effective_policy
from pytest_portspec.spec.yamlsrc import suggest


@dataclass(eq=False)  # a pluggy plugin object: hashed by identity
class Registry:
    settings: Settings
    runs: list[DeviceRun]
    site: Site | None = None  # the inventory's site and its node-to-node pairs
    selected: set[str] = field(default_factory=set)
    collected: int = 0  # the plugin's items as collected, before -k, -m, --deselect
    deselected: int = 0  # of those, the ones this run does not run: the report says it is partial
    worker: bool = False  # an xdist worker: it takes the snapshots of its own groups of devices only
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # nodeid -> (outcome, device label)
    report: Callable[[str, bool], None] | None = None  # writes a progress line (text, is it bad)
    _futures: dict[str, Future[None]] = field(default_factory=dict)  # device label -> its snapshot
    _executor: ThreadPoolExecutor | None = None
    _submit: threading.Lock = field(default_factory=threading.Lock)
    _lock_out: threading.Lock = field(default_factory=threading.Lock)
    _labels: set[str] = field(default_factory=set)
    _by_label: dict[str, DeviceRun] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._labels = set(self.labels())  # a fleet's thousands of reports look it up
        self._by_label = {run.label: run for run in self.runs}  # xdist's controller: twice per item

    def collect(self, session: pytest.Session) -> list[pytest.Item]:
        items: list[pytest.Item] = []
        for run in self.runs:
            collector = DeviceCollector.from_parent(
                session, name=run.label, nodeid=run.label, run=run, ensure=self.ensure
            )
            items += collector.collect()
        for group, pairs in (self.site.groups() if self.site else {}).items():
            site = SiteCollector.from_parent(
                session, name=group, nodeid=group, pairs=pairs, site=self.site, ensure=self.ensure
            )
            items += site.collect()
        self.collected = len(items)
        return items

    def select(self, items: list[pytest.Item]) -> None:
        """The devices of the selected items, and which of their checks need probes."""
        self.selected = {run.label for item in items for run in getattr(item, "runs", ())}
        self.deselected = self.collected - sum(isinstance(item, CheckItem | PairItem) for item in items)
        probing: dict[str, set[str]] = {}
        chosen: dict[str, set[tuple[str, str]]] = {}
        for item in items:
            if isinstance(item, CheckItem):
                probing.setdefault(item.run.label, set()).add(item.check)
                chosen.setdefault(item.run.label, set()).add((item.key, item.check))
            elif isinstance(item, PairItem):
                probing.setdefault(item.runs[0].label, set()).add("pair")
        for run in self.runs:
            run.probing = frozenset(probing.get(run.label, ()))
            run.selected = frozenset(chosen.get(run.label, ()))

    def ensure(self, runs: Sequence[DeviceRun]) -> None:
        """Wait for the snapshots an item needs (those of `runs`), each device's taken once per process.

        In one process, the first item starts every selected device's at once (bounded by
        --max-parallel); on an xdist worker, those of the devices in the same groups as `runs`
        (the worker runs whole groups). An item waits only for its own devices: a device that
        does not answer costs its own items its connect timeout, not the others'.
        """
        if any(run.label not in self._futures for run in runs):  # not per item: _scope walks the fleet
            with self._submit:
                for run in self._scope(runs):
                    if run.label not in self._futures:
                        self._futures[run.label] = self._pool().submit(self._take, run)
        for run in runs:
            self._futures[run.label].result()

    @property
    def done(self) -> set[str]:
        """The devices whose snapshot this process took, or is taking (or tried)."""
        return set(self._futures)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            remote_program()  # built here, in the main thread: see probe/program.py
            self._executor = ThreadPoolExecutor(max(1, self.settings.max_parallel), "portspec-device")
        return self._executor

    def _take(self, run: DeviceRun) -> None:
        run.run()
        if self.report is not None:
            with self._lock_out:
                self.report(progress_line(run), run.error is not None)

    def group_of(self, nodeid: str) -> str | None:
        """The group of an item from its node id (xdist's controller collects no items)."""
        run = self._by_label.get(nodeid.rsplit("::", 2)[0])  # LABEL::KEY::CHECK, as logreport reads it
        if run is None:
            run = next((r for r in self.runs if nodeid.startswith(f"{r.label}::")), None)
        if run is None and self.site is not None:  # a node-to-node item: its site's group
            pairs = next((p for g, p in self.site.groups().items() if nodeid.startswith(f"{g}::")), None)
            run = self.site.run_of(pairs[0].source) if pairs else None
        return group_name(run) if run is not None else None

    def _scope(self, runs: Sequence[DeviceRun]) -> list[DeviceRun]:
        asked = {id(run) for run in runs}
        if not self.worker:
            return [r for r in self.runs if r.label in self.selected or id(r) in asked]
        groups = {group_name(run) for run in runs}
        return [
            r for r in self.runs if id(r) in asked or (r.label in self.selected and group_name(r) in groups)
        ]

    def finish(self) -> None:
        """The read-only proofs of every device this process read (an xdist worker: its own), at once."""
        read = [run for run in self.runs if run.facts is not None or run.fingerprint is not None]
        list(self._pool().map(lambda run: run.finish(), read))
        self._pool().shutdown(wait=True)

    def header(self) -> list[str]:
        return [
            f"portspec: {run.label}{'' if run.host in run.label else f' at {run.host}'} "
            f"({run.policy.spec.source_doc}; enabled: "
            f"{', '.join(run.policy.enabled) or 'none'})"
            for run in self.runs
        ]

    def labels(self) -> list[str]:
        return [run.label for run in self.runs] + list(self.site.groups() if self.site else ())

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        parts = report.nodeid.rsplit("::", 2)  # LABEL::KEY::CHECK, and an IPv6 label has "::" itself
        label = parts[0]
        if len(parts) != 3 or label not in self._labels:
            return
        if report.when == "call" or report.outcome != "passed":
            outcome: str = "error" if report.when != "call" and report.failed else report.outcome
            if hasattr(report, "wasxfail"):
                outcome = "accepted"
            self.outcomes[report.nodeid] = (outcome, label)


def _declarations(settings: Settings, port: int, lab: dict[str, Any] | None) -> Declarations:
    """What the user declared; for an emulated appliance, the lab's stand-ins for the site's servers too."""
    destinations, origins = dict(settings.dests), {}
    for key, host in (lab or {}).get("destinations", {}).items():
        if key != "dns" and key not in destinations:  # the device's own resolver configuration says that one
            destinations[key] = (host,)
            origins[key] = f"the emulated site's {key} server"
    return Declarations(
        ports=settings.ports,
        destinations=destinations,
        origins=origins,
        site_allow=settings.site_allow,
        management_port=port,
    )


def build(settings: Settings) -> Registry:
    runs = [_device(settings, request) for request in settings.devices]
    inventory = settings.inventory
    nodes = [
        (d, _device(*_from_inventory(settings, d), name=d.name))
        for d in (inventory.devices if inventory else ())
    ]
    runs += [run for _, run in nodes]
    labels = [run.label for run in runs]
    duplicate = next((label for label in labels if labels.count(label) > 1), None)
    if duplicate:
        raise pytest.UsageError(f"--device {duplicate} is given twice")
    _check_keys(settings, runs)
    try:
        site = plan_site(inventory.site, nodes, inventory.clusters) if inventory and inventory.site else None
    except LabError as exc:
        raise pytest.UsageError(f"--inventory: {exc}") from None
    return Registry(settings, runs, site)


def _check_keys(settings: Settings, runs: list[DeviceRun]) -> None:
    """--port and --dest must name something of the devices' specs: a typo is not silently ignored."""
    specs = {run.policy.spec.name: run.policy.spec for run in runs}
    rows = sorted({row.id for spec in specs.values() for row in spec.rows if row.configurable})
    keys = sorted(
        {
            d.value
            for spec in specs.values()
            for row in spec.rows
            for d in row.destinations
            if d.kind == "configured"
        }
    )
    names = ", ".join(specs)
    for row in settings.ports:
        if row not in rows:
            raise pytest.UsageError(
                f"--port {row}=...: no configurable row {row!r} in {names}"
                f"{suggest(row, rows)}; configurable rows: {', '.join(rows) or 'none'}"
            )
    for key in settings.dests:
        if key not in keys:
            raise pytest.UsageError(
                f"--dest {key}=...: no destination {key!r} in {names}"
                f"{suggest(key, keys)}; destinations: {', '.join(keys) or 'none'}"
            )


def _from_inventory(settings: Settings, device: InventoryDevice) -> tuple[Settings, DeviceRequest]:
    """An inventory device as a --device with its own options (the command line's where it says nothing)."""
    own = replace(
        settings,
        enable=device.enable or settings.enable,
        disable=device.disable or settings.disable,
        firmware=device.firmware or settings.firmware,
        role=device.role or settings.role,
        ssh_user=device.ssh_user or settings.ssh_user,
        ssh_key=device.ssh_key or settings.ssh_key,
    )
    host = f"lab:{device.name}" if is_lab_host(device.host) else device.host
    request = DeviceRequest(
        f"{device.name} (inventory line {device.line})", device.spec, device.profile, host, device.port
    )
    return own, request


def _device(settings: Settings, request: DeviceRequest, name: str | None = None) -> DeviceRun:
    try:
        spec = find_spec(request.spec, list(settings.spec_dirs))
        lab: dict[str, Any] | None = None
        if request.lab:
            lab = resolve(spec.name, request.host).state
        lab_enable, lab_disable = _lab_conditions(spec, lab)
        policy = effective_policy(
            spec,
            profile=request.profile or (lab["profile"] if lab else None),
            enable=[*settings.enable, *(c for c in lab_enable if c not in settings.disable)],
            disable=[*settings.disable, *(c for c in lab_disable if c not in settings.enable)],
            firmware=settings.firmware,
            role=(lab.get("role") if lab else None) or settings.role,
            decided_by=_lab_origin(lab_enable, lab_disable, settings),
        )
    except LabError as exc:
        raise pytest.UsageError(f"--device {request.text}: {exc}") from None
    except PortspecError as exc:
        raise pytest.UsageError(f"--device {request.text}: {exc}") from None
    if spec.roles and policy.role is None:
        raise pytest.UsageError(
            f"--device {request.text}: spec {spec.name!r} describes roles "
            f"({', '.join(spec.roles)}): pass --role"
        )
    host = lab["management_address"] if lab else request.host
    where = name or (f"[{host}]" if ":" in host and not request.lab else host)
    label = f"{spec.name}[{policy.profile.name}]@{where}" + (f":{request.port}" if request.port else "")
    port = int(lab["ssh_port"]) if lab else request.port  # the SSH port declared (the connection's wins)
    return DeviceRun(
        label=label,
        host=host,
        policy=policy,
        transport=transport_for(Target(label, request.host, request.port, settings, lab)),
        declared=_declarations(settings, port or 22, lab),
        sudo=settings.sudo,
        sudo_password=settings.sudo_password,
        sudo_mode=settings.sudo_mode,
        probe_timeout=settings.probe_timeout,
        address=lab["management_address"] if lab else None,
    )


def _lab_conditions(spec: Spec, lab: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """The conditions an emulated appliance was brought up with, as the --enable/--disable it took."""
    if lab is None:
        return [], []
    enabled = set(lab.get("enabled", []))
    return (
        [c.name for c in spec.conditions.values() if c.name in enabled and not c.default],
        [c.name for c in spec.conditions.values() if c.name not in enabled and c.default],
    )


def _lab_origin(enable: list[str], disable: list[str], settings: Settings) -> dict[str, str]:
    """Conditions decided by how the emulated appliance was brought up (not by this run's options)."""
    mine = {*settings.enable, *settings.disable}
    origin = {c: f"the emulated appliance (portspec lab up --enable {c})" for c in enable if c not in mine}
    return origin | {
        c: f"the emulated appliance (portspec lab up --disable {c})" for c in disable if c not in mine
    }
