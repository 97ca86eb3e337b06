"""What every inventory format checks of a device, in one place (pure): the name, the host and
address, the spec selection, and documentation addresses refused as hosts.

Our YAML inventory (spec/inventory.py) and an Ansible inventory (spec/ansible_inventory.py) both
build InventoryDevices and call these, so a device is valid or not whatever file it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_portspec.addresses import is_hostname, is_ip
from pytest_portspec.errors import PortspecError
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import policy_named
from pytest_portspec.text import QUOTE_LIMIT, clip, printable, quoted

if TYPE_CHECKING:
    from pytest_portspec.spec.inventory import InventoryDevice

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def name_problem(name: str) -> str | None:
    """A device's name becomes its items' node ids, which pytest prints as they are."""
    if _NAME.fullmatch(name):
        return None
    return f"{quoted(name)} is not a device name: letters, digits, '.', '_' and '-' (at most 64)"


def host_problem(value: str) -> str | None:
    if is_ip(value) or is_hostname(value):
        return None
    return f"{quoted(value)} is not a valid host name or address"


def selection_problem(device: InventoryDevice, spec_dirs: tuple[Path, ...]) -> str | None:
    """The spec, profile, role and conditions must exist: checked when the inventory is read."""
    try:
        spec = find_spec(device.spec, list(spec_dirs))
        policy_named(spec, device)
        if spec.roles and device.role is None:
            raise PortspecError(
                f"spec {spec.name!r} describes roles ({', '.join(spec.roles)}): give the role"
            )
    except PortspecError as exc:
        return clip(printable(str(exc)), 2 * QUOTE_LIMIT)
    return None


@dataclass
class Documentation:
    """Why a documentation address (RFC 5737/3849) is no device's host, and what to do instead
    (said in full once per file, not once per device). `where` says where to put the real
    address, e.g. "examples/x.yaml:12" or "ansible_host of db-1 in hosts.ini"."""

    file: str
    site: str | None
    told: bool = False
    lab_up: bool = True  # `portspec lab up --inventory FILE` reads this file (our YAML format)

    def why(self, host: str, where: str) -> str:
        if self.told:
            return f"{host} is a documentation address too"
        self.told = True
        first = f"{host} is a documentation address, never a real device: put your device's address in"
        copy = self._lab_copy()
        if copy is not None:
            return f"{first} {where}, or use the lab's inventory {copy}"
        if not self.lab_up:
            return (
                f"{first} {where}, or bring emulated appliances up (portspec lab up) and use their addresses"
            )
        return f"{first} {where}, or run portspec lab up --inventory {self.file} and use the lab's inventory"

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
