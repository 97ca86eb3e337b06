"""The devices of a run built from its settings: policies, transports, declarations, the site.

Every problem is a ConfigurationError with one sentence naming the device or option, raised
before any device is contacted (the plugin shows it as a usage error).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from pytest_portspec.checks.context import Declarations
from pytest_portspec.device.address import DeviceRequest
from pytest_portspec.device.schemes import Target, is_lab_host, scheme_of, transport_for
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.fleet import Fleet
from pytest_portspec.engine.settings import Settings
from pytest_portspec.engine.site import plan_site
from pytest_portspec.errors import ConfigurationError, LabError, PortspecError
from pytest_portspec.lab.resolve import resolve
from pytest_portspec.spec import Spec
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.inventory import InventoryDevice
from pytest_portspec.spec.inventory_nets import networks_of
from pytest_portspec.spec.policy import effective_policy
from pytest_portspec.spec.yamlsrc import suggest


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
        cluster_nets=settings.cluster_nets,
        management_nets=settings.management_nets,
    )


def build_fleet(settings: Settings) -> Fleet:
    """The devices of a run (the command line's and the inventory's), each with its policy and transport."""
    runs = [_device(settings, request) for request in settings.devices]
    inventory = settings.inventory
    nodes = [
        (d, _device(*_from_inventory(settings, d), name=d.name))
        for d in (inventory.devices if inventory else ())
    ]
    for device, run in nodes:
        run.tester = device.tester  # where its inbound probes must leave from (engine/testers.py)
    runs += [run for _, run in nodes]
    labels = Counter(run.label for run in runs)  # not list.count per label: quadratic in a fleet
    duplicate = next((label for label, n in labels.items() if n > 1), None)
    if duplicate:
        raise ConfigurationError(f"--device {duplicate} is given twice")
    _check_keys(settings, runs)
    scanning = sum(r.scan is not None for r in runs)
    for run in runs:  # the built-in scanner's sweeps take turns (scan/run.py): each waits for the others
        run.scanning_devices = scanning
    try:
        site = (
            plan_site(inventory.site, nodes, inventory.clusters, inventory.sites)
            if inventory and inventory.site
            else None
        )
    except LabError as exc:
        raise ConfigurationError(f"--inventory: {exc}") from None
    return Fleet(settings, runs, site)


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
            raise ConfigurationError(
                f"--port {row}=...: no configurable row {row!r} in {names}"
                f"{suggest(row, rows)}; configurable rows: {', '.join(rows) or 'none'}"
            )
    for key in settings.dests:
        if key not in keys:
            raise ConfigurationError(
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
        ssh_proxy_jump=device.proxy_jump or settings.ssh_proxy_jump,
        known_hosts=device.known_hosts or settings.known_hosts,  # an Ansible inventory's, else the run's
        host_key_policy=device.host_key_policy_under(settings.host_key_policy),
        sudo=settings.sudo if device.sudo is None else device.sudo,
        sudo_password=device.sudo_password or settings.sudo_password,
        cluster_nets=_cluster_nets(settings, device),
        management_nets=_management_nets(settings, device),
    )
    host = f"lab:{device.name}" if is_lab_host(device.host) else device.host
    request = DeviceRequest(
        f"{device.name} (inventory line {device.line})", device.spec, device.profile, host, device.port
    )
    return own, request


def _cluster_nets(settings: Settings, device: InventoryDevice) -> tuple[str, ...]:
    """--cluster-net's networks, those the device's clusters name in the inventory and its own."""
    inventory = settings.inventory
    own = networks_of(inventory.clusters, inventory.cluster_nets, device.name) if inventory else ()
    return tuple(dict.fromkeys((*settings.cluster_nets, *own, *device.cluster_nets)))


def _management_nets(settings: Settings, device: InventoryDevice) -> tuple[str, ...]:
    """--management-net's networks, the inventory's `management:` and the device's own."""
    site = settings.inventory.management_nets if settings.inventory else ()
    return tuple(dict.fromkeys((*settings.management_nets, *site, *device.management_nets)))


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
        raise ConfigurationError(f"--device {request.text}: {exc}") from None
    except PortspecError as exc:
        raise ConfigurationError(f"--device {request.text}: {exc}") from None
    if spec.roles and policy.role is None:
        raise ConfigurationError(
            f"--device {request.text}: spec {spec.name!r} describes roles "
            f"({', '.join(spec.roles)}): pass --role"
        )
    host = lab["management_address"] if lab else request.host
    where = name or (f"[{host}]" if ":" in host and scheme_of(request.host) is None else host)  # IPv6
    label = f"{spec.name}[{policy.profile.name}]@{where}" + (f":{request.port}" if request.port else "")
    port = int(lab["ssh_port"]) if lab else request.port  # the SSH port declared (the connection's wins)
    try:
        transport = transport_for(Target(label, request.host, request.port, settings, lab))
    except ValueError as exc:  # a scheme's device that does not exist (fake:NAME never served)
        raise ConfigurationError(f"--device {request.text}: {exc}") from None
    return DeviceRun(
        label=label,
        host=host,
        policy=policy,
        transport=transport,
        declared=_declarations(settings, port or 22, lab),
        sudo=settings.sudo,
        sudo_password=settings.sudo_password,
        sudo_mode=settings.sudo_mode,
        probe_timeout=settings.probe_timeout,
        scan=settings.scan,
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
