"""Inventory files (`--inventory FILE`): a site's devices with their spec, role and SSH settings.

    site: site-a
    defaults: {ssh_user: admin, ssh_key: ~/.ssh/site-a}
    devices:
      - name: database-1
        spec: voss
        role: database
        host: 192.0.2.12             # how to reach it over SSH (`lab`: the emulated appliance of that name)
        address: 198.51.100.12       # optional: where its peers reach it, if not at host
        profile: cluster             # optional, the spec's default otherwise
        enable: [ldap]               # optional conditions, like --enable / --disable
        firmware: "21.1"             # optional
        ssh_user: platform           # optional, overrides the defaults
        proxy_jump: admin@bastion-a  # optional: reach it through jump hosts (OpenSSH ProxyJump syntax)
        tester: tester-a             # optional: the xdist worker (--tx ...//id=tester-a) that checks it
    clusters:
      - {name: voss-cluster, devices: [database-1]}  # networks: [CIDR] optional, as --cluster-net
    management: [198.51.100.0/24]    # optional: the site's management networks, as --management-net

Validated like specs: every problem names file, line, key path and what is wrong (pure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from pytest_portspec.addresses import is_documentation_address
from pytest_portspec.errors import Problem
from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.spec.inventory_checks import Documentation, host_problem, name_problem, selection_problem
from pytest_portspec.spec.inventory_nets import cluster_networks, management_networks

if TYPE_CHECKING:
    from pytest_portspec.device.address import HostKeyPolicy

SSH_KEYS = ("ssh_user", "ssh_key", "port", "proxy_jump")
DEVICE_REQUIRED = ("name", "spec", "host")
DEVICE_OPTIONAL = ("role", "profile", "enable", "disable", "firmware", "address", "tester", *SSH_KEYS)


@dataclass(frozen=True)
class InventoryDevice:
    name: str
    spec: str
    host: str
    role: str | None = None
    profile: str | None = None
    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    firmware: str | None = None
    ssh_user: str | None = None
    ssh_key: str | None = None
    port: int | None = None
    address: str | None = None
    line: int = 0
    proxy_jump: str | None = None  # OpenSSH ProxyJump: [user@]host[:port][,...], the first hop first
    tester: str | None = None  # the id of the xdist worker that must check it (a tester on its site)
    # set by an Ansible inventory (spec/ansible_inventory.py): its connection and become vars
    known_hosts: str | None = None  # -o UserKnownHostsFile=
    host_key_policy: HostKeyPolicy | None = None  # -o StrictHostKeyChecking=: never looser than the run's
    sudo: bool | None = None  # ansible_become: root reads through `sudo -n`; None: the run's choice
    sudo_password: str | None = field(default=None, repr=False, compare=False)  # never printed
    cluster_nets: tuple[str, ...] = ()  # portspec_cluster_nets: as --cluster-net, for this device
    management_nets: tuple[str, ...] = ()  # portspec_management_nets: as --management-net

    def host_key_policy_under(self, run: HostKeyPolicy) -> HostKeyPolicy:
        """The device's host-key policy within the run's: the stricter of the two."""
        order: tuple[HostKeyPolicy, ...] = ("strict", "accept-new", "ignore")
        return min(run, self.host_key_policy or run, key=order.index)


@dataclass(frozen=True)
class Inventory:
    site: str
    devices: tuple[InventoryDevice, ...]
    clusters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the run's header says of the inventory (hosts that are no device)
    sites: dict[str, str] = field(default_factory=dict)  # device -> its site, when an inventory holds several
    cluster_nets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a cluster's `networks:`
    management_nets: tuple[str, ...] = ()  # `management:`, the site's: as --management-net


def load_inventory(path: Path, spec_dirs: tuple[Path, ...] = (), *, lab: bool = False) -> Inventory:
    """Read and validate an inventory; SpecError listing every problem. A device host in a
    documentation range is refused unless `lab` (the lab reads only the devices, not their hosts)."""
    src = y.Source(str(path))
    root = y.read_file(path, src)
    top = (
        y.mapping(src, root, "", ("site", "devices"), ("defaults", "clusters", "management"))
        if root is not None
        else None
    )
    if top is None:
        src.raise_if_problems()
        raise AssertionError("unreachable")  # raise_if_problems raised
    site = y.text(src, top["site"], "site") if "site" in top else None
    defaults = _defaults(src, top.get("defaults"))
    refuse = None if lab else Documentation(src.name, site)
    devices = (
        [
            d
            for i, node in enumerate(y.sequence(src, top["devices"], "devices") or [])
            if (d := _device(src, node, f"devices[{i}]", defaults, spec_dirs, refuse)) is not None
        ]
        if "devices" in top
        else []
    )
    names: dict[str, int] = {}
    for d in devices:
        if d.name in names:
            src.problems.append(
                Problem(
                    src.name,
                    d.line,
                    "devices",
                    f"duplicate device name {y.quoted(d.name)} (first on line {names[d.name]})",
                )
            )
        names.setdefault(d.name, d.line)
    clusters = _clusters(src, top.get("clusters"), tuple(names))
    nets = cluster_networks(src, top.get("clusters"))
    management = management_networks(src, top.get("management"))
    src.raise_if_problems()
    return Inventory(site or "", tuple(devices), clusters, cluster_nets=nets, management_nets=management)


def _defaults(src: y.Source, node: yaml.Node | None) -> dict[str, object]:
    if node is None:
        return {}
    fields = y.mapping(src, node, "defaults", (), SSH_KEYS) or {}
    return {k: _ssh_value(src, v, f"defaults.{k}", k) for k, v in fields.items()}


def _ssh_value(src: y.Source, node: yaml.Node, path: str, key: str) -> object:
    if key == "port":
        value = y.scalar_value(node)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            src.problem(node, path, f"expected an SSH port 1-65535, found {y.kind_of(node)}")
            return None
        return value
    return y.text(src, node, path)


def _device(
    src: y.Source,
    node: yaml.Node,
    path: str,
    defaults: dict[str, object],
    spec_dirs: tuple[Path, ...],
    refuse: Documentation | None,
) -> InventoryDevice | None:
    fields = y.mapping(src, node, path, DEVICE_REQUIRED, DEVICE_OPTIONAL)
    if fields is None or any(k not in fields for k in DEVICE_REQUIRED):
        return None
    before = len(src.problems)
    text: dict[str, str | None] = {
        k: y.text(src, fields[k], f"{path}.{k}")
        for k in ("name", "spec", "host", "role", "profile", "firmware", "address", "tester")
        if k in fields
    }
    _check_names(src, fields, path, text)
    lists = {
        k: tuple(y.one_or_many(src, fields[k], f"{path}.{k}", y.text))
        for k in ("enable", "disable")
        if k in fields
    }
    ssh = {**defaults, **{k: _ssh_value(src, fields[k], f"{path}.{k}", k) for k in SSH_KEYS if k in fields}}
    name, spec_name, host = text.get("name"), text.get("spec"), text.get("host")
    if len(src.problems) > before or not name or not spec_name or not host:
        return None
    port = ssh.get("port")
    device = InventoryDevice(
        name=name,
        spec=spec_name,
        host=host,
        role=text.get("role"),
        profile=text.get("profile"),
        enable=lists.get("enable", ()),
        disable=lists.get("disable", ()),
        firmware=text.get("firmware"),
        ssh_user=_str(ssh.get("ssh_user")),
        ssh_key=_str(ssh.get("ssh_key")),
        port=port if isinstance(port, int) else None,
        address=text.get("address"),
        line=y.line_of(node),
        proxy_jump=_str(ssh.get("proxy_jump")),
        tester=text.get("tester"),
    )
    if not _selection_exists(src, node, path, device, spec_dirs):
        return None
    if refuse is not None and is_documentation_address(host):
        where = f"{src.name}:{y.line_of(fields['host'])}"
        src.problem(fields["host"], f"{path}.host", refuse.why(host, where))
    return device


def _check_names(
    src: y.Source, fields: dict[str, yaml.Node], path: str, text: Mapping[str, str | None]
) -> None:
    """The device's name, host and address (inventory_checks.py: the same for every format)."""
    name = text.get("name")
    if name and (problem := name_problem(name)):
        src.problem(fields["name"], f"{path}.name", problem)
    for key in ("host", "address"):
        value = text.get(key)
        if value and (problem := host_problem(value)):
            src.problem(fields[key], f"{path}.{key}", problem)


def _selection_exists(
    src: y.Source, node: yaml.Node, path: str, device: InventoryDevice, spec_dirs: tuple[Path, ...]
) -> bool:
    problem = selection_problem(device, spec_dirs)
    if problem is not None:
        src.problem(node, path, problem)
    return problem is None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _clusters(src: y.Source, node: yaml.Node | None, names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for i, item in enumerate(y.sequence(src, node, "clusters") or [] if node is not None else []):
        fields = y.mapping(src, item, f"clusters[{i}]", ("name", "devices"), ("networks",))
        if fields is None or not {"name", "devices"} <= fields.keys():
            continue
        name = y.text(src, fields["name"], f"clusters[{i}].name")
        members = y.one_or_many(src, fields["devices"], f"clusters[{i}].devices", y.text)
        for member in members:
            if member not in names:
                src.problem(
                    fields["devices"],
                    f"clusters[{i}].devices",
                    f"unknown device {y.quoted(member)}{y.suggest(member, list(names))}",
                )
        if name:
            found[name] = tuple(members)
    return found
