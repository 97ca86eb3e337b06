"""The devices of one pytest session: how to reach each, their items, runs and outcomes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from pytest_portspec.catalog import find_spec
from pytest_portspec.checks.context import Declarations
from pytest_portspec.device import DeviceRequest
from pytest_portspec.errors import LabError, PortspecError
from pytest_portspec.inventory import InventoryDevice
from pytest_portspec.items import DeviceCollector
from pytest_portspec.lab.resolve import resolve
from pytest_portspec.options import Settings
from pytest_portspec.policy import effective_policy
from pytest_portspec.runner import DeviceRun, run_all
from pytest_portspec.spec import Spec
from pytest_portspec.spec.yamlsrc import suggest
from pytest_portspec.transport import SSHSettings, SSHTransport


@dataclass(eq=False)  # a pluggy plugin object: hashed by identity
class Registry:
    settings: Settings
    runs: list[DeviceRun]
    selected: set[str] = field(default_factory=set)
    started: bool = False
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # nodeid -> (outcome, device label)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _labels: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._labels = {run.label for run in self.runs}  # a fleet's thousands of reports look it up

    def collect(self, session: pytest.Session) -> list[pytest.Item]:
        items: list[pytest.Item] = []
        for run in self.runs:
            collector = DeviceCollector.from_parent(
                session, name=run.label, nodeid=run.label, run=run, ensure=self.ensure
            )
            items += collector.collect()
        return items

    def select(self, items: list[pytest.Item]) -> None:
        self.selected = {item.run.label for item in items if hasattr(item, "run")}

    def ensure(self, run: DeviceRun) -> None:
        """The first item of any device runs every selected device at once."""
        with self._lock:
            if not self.started:
                self.started = True
                run_all(
                    [r for r in self.runs if r.label in self.selected or r is run], self.settings.max_parallel
                )

    def finish(self) -> None:
        run_all(
            [run for run in self.runs if run.facts is not None or run.fingerprint is not None],
            self.settings.max_parallel,
            finish=True,
        )

    def changed_devices(self) -> list[DeviceRun]:
        return [run for run in self.runs if run.read_only is False]

    def header(self) -> list[str]:
        return [
            f"portspec: {run.label} ({run.policy.spec.source_doc}; enabled: "
            f"{', '.join(run.policy.enabled) or 'none'})"
            for run in self.runs
        ]

    def summary(self) -> list[tuple[str, bool]]:
        lines: list[tuple[str, bool]] = []
        for run in self.runs:
            if not run.facts and not run.error:
                continue
            counts: dict[str, int] = {}
            for outcome, label in self.outcomes.values():
                if label == run.label:
                    counts[outcome] = counts.get(outcome, 0) + 1
            shown = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
            state = f"error: {run.error.reason}" if run.error else shown
            lines.append(
                (
                    f"portspec {run.label}: {run.remote_commands} remote command(s), "
                    f"{run.seconds:.1f} s, {state}",
                    run.error is not None,
                )
            )
        for run in self.runs:
            if run.fingerprint is not None and run.read_only is None:
                lines.append(
                    (
                        f"portspec {run.label}: the read-only proof could not be taken at the end of the "
                        f"run (the final fingerprint command failed)",
                        True,
                    )
                )
        for run in self.changed_devices():
            lines.append(
                (
                    f"portspec {run.label}: SESSION ERROR: the device's firewall state changed during "
                    f"the run (ufw files or iptables rules differ from the start)",
                    True,
                )
            )
        return lines

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
    runs += [
        _device(*_from_inventory(settings, d))
        for d in (settings.inventory.devices if settings.inventory else ())
    ]
    labels = [run.label for run in runs]
    duplicate = next((label for label in labels if labels.count(label) > 1), None)
    if duplicate:
        raise pytest.UsageError(f"--device {duplicate} is given twice")
    _check_keys(settings, runs)
    return Registry(settings, runs)


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
    request = DeviceRequest(
        f"{device.name} (inventory line {device.line})", device.spec, device.profile, device.host, device.port
    )
    return own, request


def _device(settings: Settings, request: DeviceRequest) -> DeviceRun:
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
    where = f"[{host}]" if ":" in host and not request.lab else host
    label = f"{spec.name}[{policy.profile.name}]@{where}" + (f":{request.port}" if request.port else "")
    ssh = _ssh_settings(settings, request, lab)
    return DeviceRun(
        label=label,
        host=host,
        policy=policy,
        transport=SSHTransport(label, ssh),
        declared=_declarations(settings, ssh.port or 22, lab),
        sudo=settings.sudo,
        sudo_password=settings.sudo_password,
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


def _ssh_settings(settings: Settings, request: DeviceRequest, lab: dict[str, Any] | None) -> SSHSettings:
    if lab is not None:
        return SSHSettings(
            host=lab["management_address"],
            port=int(lab["ssh_port"]),
            user=lab["ssh_user"],
            key=lab["private_key"],
            known_hosts=lab["known_hosts"],
            host_key_policy="strict",
            connect_timeout=settings.connect_timeout,
            allow_agent=False,
        )
    return SSHSettings(
        host=request.host,
        port=request.port,
        user=settings.ssh_user,
        key=settings.ssh_key,
        ssh_config=settings.ssh_config,
        known_hosts=settings.known_hosts,
        host_key_policy=settings.host_key_policy,
        connect_timeout=settings.connect_timeout,
    )
