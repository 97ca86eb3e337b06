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
      - {name: voss-cluster, devices: [database-1]}

Validated like specs: every problem names file, line, key path and what is wrong (pure).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pytest_portspec.addresses import is_documentation_address, is_hostname, is_ip
from pytest_portspec.errors import PortspecError, Problem
from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy
from pytest_portspec.text import QUOTE_LIMIT, clip, printable

SSH_KEYS = ("ssh_user", "ssh_key", "port", "proxy_jump")
DEVICE_REQUIRED = ("name", "spec", "host")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
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


@dataclass(frozen=True)
class Inventory:
    site: str
    devices: tuple[InventoryDevice, ...]
    clusters: dict[str, tuple[str, ...]] = field(default_factory=dict)


def load_inventory(path: Path, spec_dirs: tuple[Path, ...] = (), *, lab: bool = False) -> Inventory:
    """Read and validate an inventory; SpecError listing every problem. A device host in a
    documentation range is refused unless `lab` (the lab reads only the devices, not their hosts)."""
    src = y.Source(str(path))
    root = y.read_file(path, src)
    top = (
        y.mapping(src, root, "", ("site", "devices"), ("defaults", "clusters")) if root is not None else None
    )
    if top is None:
        src.raise_if_problems()
        raise AssertionError("unreachable")  # raise_if_problems raised
    site = y.text(src, top["site"], "site") if "site" in top else None
    defaults = _defaults(src, top.get("defaults"))
    refuse = None if lab else _Documentation(src.name, site)
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
    src.raise_if_problems()
    return Inventory(site or "", tuple(devices), clusters)


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
    refuse: _Documentation | None,
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
        src.problem(fields["host"], f"{path}.host", refuse.why(host, y.line_of(fields["host"])))
    return device


def _check_names(
    src: y.Source, fields: dict[str, yaml.Node], path: str, text: Mapping[str, str | None]
) -> None:
    """The device's name (it becomes the items' node ids, which pytest prints as they are), host and
    address."""
    name = text.get("name")
    if name and not _NAME.fullmatch(name):
        src.problem(
            fields["name"],
            f"{path}.name",
            f"{y.quoted(name)} is not a device name: letters, digits, '.', '_' and '-' (at most 64)",
        )
    for key in ("host", "address"):
        value = text.get(key)
        if value and not (is_ip(value) or is_hostname(value)):
            src.problem(
                fields[key], f"{path}.{key}", f"{y.quoted(value)} is not a valid host name or address"
            )


def _selection_exists(
    src: y.Source, node: yaml.Node, path: str, device: InventoryDevice, spec_dirs: tuple[Path, ...]
) -> bool:
    """The spec, profile, role and conditions must exist: checked now, with the device's line."""
    try:
        spec = find_spec(device.spec, list(spec_dirs))
        effective_policy(
            spec,
            profile=device.profile,
            enable=device.enable,
            disable=device.disable,
            firmware=device.firmware,
            role=device.role,
        )
        if spec.roles and device.role is None:
            raise PortspecError(
                f"spec {spec.name!r} describes roles ({', '.join(spec.roles)}): give the role"
            )
    except PortspecError as exc:
        src.problem(node, path, clip(printable(str(exc)), 2 * QUOTE_LIMIT))
        return False
    return True


@dataclass
class _Documentation:
    """Why a documentation address (RFC 5737/3849) is no device's host, and what to do instead
    (said in full once per file, not once per device)."""

    file: str
    site: str | None
    told: bool = False

    def why(self, host: str, line: int) -> str:
        if self.told:
            return f"{host} is a documentation address too"
        self.told = True
        where = f"{host} is a documentation address, never a real device: put your device's address in"
        copy = self._lab_copy()
        if copy is not None:
            return f"{where} {self.file}:{line}, or use the lab's inventory {copy}"
        return (
            f"{where} {self.file}:{line}, or run portspec lab up --inventory {self.file} "
            "and use the lab's inventory"
        )

    def _lab_copy(self) -> Path | None:
        """The inventory `portspec lab up --inventory` wrote for this site, if there is one."""
        if not self.site:
            return None
        from pytest_portspec.lab.store import lab_dir  # the lab's modules only when this is asked

        copy = lab_dir() / "sites" / f"{self.site}.yaml"
        try:
            return copy if copy.is_file() else None
        except OSError:
            return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _clusters(src: y.Source, node: yaml.Node | None, names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for i, item in enumerate(y.sequence(src, node, "clusters") or [] if node is not None else []):
        fields = y.mapping(src, item, f"clusters[{i}]", ("name", "devices"))
        if fields is None or len(fields) < 2:
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
