"""`portspec lab up --inventory FILE`: a whole site (a cluster of nodes) on one shared segment.

Every device of the inventory becomes an emulated appliance named like the device, with the
spec, profile, role and conditions the inventory gives it, joined to the site's segment.
Drifts are per node (`--drift NODE:DRIFT`). The lab then writes an inventory of the emulated
site (`<lab dir>/sites/<site>.yaml`, hosts `lab`) for `pytest --inventory`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pytest_portspec.errors import LabError, PortspecError
from pytest_portspec.lab.controller import Lab, UpRequest
from pytest_portspec.lab.store import check_name
from pytest_portspec.spec.inventory import Inventory, InventoryDevice, load_inventory
from pytest_portspec.spec.yamlsrc import suggest


def node_drifts(inventory: Inventory, drifts: Sequence[str]) -> dict[str, list[str]]:
    """`NODE:DRIFT` options grouped by node; every node and path-block peer must be a device."""
    names = [d.name for d in inventory.devices]
    found: dict[str, list[str]] = {name: [] for name in names}
    for text in drifts:
        node, _, drift = text.partition(":")
        if node not in found or not drift:
            raise LabError(
                f"--drift {text!r}: expected NODE:DRIFT with NODE one of {', '.join(names)}"
                f"{suggest(node, names)}"
            )
        if drift.startswith("path-block:"):
            peer = drift.split(":")[1]
            if peer not in found or peer == node:
                raise LabError(
                    f"--drift {text!r}: {peer!r} is not another node of the site{suggest(peer, names)}"
                )
        found[node].append(drift)
    return found


def up_site(
    lab: Lab, path: Path, drifts: Sequence[str] = (), spec_dirs: Sequence[Path] = ()
) -> tuple[list[dict[str, Any]], Path]:
    """Bring every node up (all or none), block the site's paths, write the site's lab inventory."""
    try:
        inventory = load_inventory(path, tuple(spec_dirs), lab=True)  # its hosts are not contacted
    except PortspecError as exc:
        raise LabError(str(exc)) from None
    site = check_name(inventory.site)
    per_node = node_drifts(inventory, drifts)
    for device in inventory.devices:
        check_name(device.name)
    states: list[dict[str, Any]] = []
    try:
        for device in inventory.devices:
            states.append(lab.up(_request(device, per_node[device.name], site, spec_dirs)))
        _block_paths(lab, site, states)
    except (LabError, PortspecError):
        if states:
            lab.down([s["name"] for s in states])
        raise
    return states, _write_site(lab, inventory, states)


def _request(device: InventoryDevice, drifts: list[str], site: str, spec_dirs: Sequence[Path]) -> UpRequest:
    return UpRequest(
        spec=device.spec,
        name=device.name,
        profile=device.profile,
        enable=device.enable,
        disable=device.disable,
        drifts=drifts,
        role=device.role,
        spec_dirs=list(spec_dirs),
        site=site,
    )


def _block_paths(lab: Lab, site: str, states: list[dict[str, Any]]) -> None:
    by_name = {s["name"]: s for s in states}
    segment = lab.segments.get(site)
    for state in states:
        for peer, proto, port in state.get("path_blocks", []):
            segment.block(state["index"], by_name[peer]["segment_address"], proto, int(port))


def _write_site(lab: Lab, inventory: Inventory, states: list[dict[str, Any]]) -> Path:
    """The inventory of the emulated site: the same devices, each reached as `host: lab`."""
    devices = []
    for device, state in zip(inventory.devices, states, strict=True):
        entry: dict[str, Any] = {"name": device.name, "spec": state["spec"], "host": "lab"}
        entry |= {"profile": state["profile"]} | ({"role": state["role"]} if state["role"] else {})
        devices.append(entry)
    data: dict[str, Any] = {"site": inventory.site, "devices": devices}
    if inventory.clusters:
        data["clusters"] = [{"name": n, "devices": list(m)} for n, m in inventory.clusters.items()]
    target = lab.store.root / "sites" / f"{inventory.site}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    header = f"# The emulated site {inventory.site}: written by portspec lab up --inventory\n"
    target.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target
