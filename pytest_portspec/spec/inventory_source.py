"""`--inventory PATH`: our YAML inventory, or an Ansible inventory read through ansible-inventory.

    inventory_kind(path) -> "portspec" | "ansible"  (InventoryKindError: neither)
    read_inventory(path, spec_dirs, limit) -> Inventory

Ours is a YAML mapping whose `devices:` is a list. Ansible's is a directory (group_vars/ and
host_vars/ beside the hosts files), an INI file, a YAML mapping of groups (`all:`, or groups
with `hosts:`/`children:`/`vars:`; a group named `devices` is a mapping, never a list), or an
executable dynamic inventory. Only an Ansible inventory loads the Ansible modules.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml

from pytest_portspec.errors import PortspecError
from pytest_portspec.spec.inventory import Inventory, load_inventory

Kind = Literal["portspec", "ansible"]
SNIFF = 1024 * 1024  # bytes read to tell the formats apart (a larger file is an Ansible one or none)
_INI_SECTION = re.compile(r"^\s*\[[^\]\s]+\]\s*(?:[#;].*)?$", re.MULTILINE)
_GROUP_KEYS = frozenset({"hosts", "children", "vars"})
_YAML_SUFFIXES = frozenset({".yaml", ".yml", ".json"})


class InventoryKindError(PortspecError):
    """The path is neither our inventory nor an Ansible one."""


def inventory_kind(path: Path) -> Kind:
    if path.is_dir():
        return "ansible"
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF)
    except OSError as exc:
        raise InventoryKindError(f"cannot read it: {exc.strerror}") from None
    if head.startswith(b"#!") and os.access(path, os.X_OK):
        return "ansible"  # a dynamic inventory script
    text = head.decode("utf-8", "replace")
    kind = _yaml_kind(text)
    if kind is not None:
        return kind
    if _INI_SECTION.search(text) and path.suffix.lower() not in _YAML_SUFFIXES:
        return "ansible"
    if path.suffix.lower() in _YAML_SUFFIXES:
        return "portspec"  # our loader says what is wrong with it, line by line
    raise InventoryKindError(
        "neither a portspec inventory (YAML with a devices: list) nor an Ansible inventory "
        "(INI with [group] sections, YAML with all: or groups of hosts:, or a directory)"
    )


class _TagBlindLoader(yaml.SafeLoader):
    """Safe, and blind to tags (Ansible's `!vault`, `!unsafe`): only the shape matters here."""


_TagBlindLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _yaml_kind(text: str) -> Kind | None:
    try:
        data = yaml.load(text, Loader=_TagBlindLoader)  # a SafeLoader
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("devices"), list):
        return "portspec"
    groups = [v for v in data.values() if isinstance(v, dict)]
    if "all" in data or (groups and any(_GROUP_KEYS & set(g) for g in groups)):
        return "ansible"
    return "portspec" if "site" in data or "devices" in data else None


def read_inventory(path: Path, spec_dirs: tuple[Path, ...] = (), limit: str | None = None) -> Inventory:
    """The inventory at `path`; SpecError lists a file's problems, PortspecError says why it cannot
    be read at all. `limit` (Ansible host patterns) selects an Ansible inventory's hosts."""
    kind = inventory_kind(path)
    if kind == "portspec":
        if limit:
            raise InventoryKindError("--inventory-limit selects hosts of an Ansible inventory, not of ours")
        return load_inventory(path, spec_dirs)
    from pytest_portspec.spec.ansible_inventory import inventory_from_list  # only for Ansible's
    from pytest_portspec.spec.ansible_run import ansible_list

    data = ansible_list(path, limit)
    return inventory_from_list(data, str(path), spec_dirs, _site_name(path))


def _site_name(path: Path) -> str:
    """The site of hosts without portspec_site: the inventory's name (`hosts.ini` -> its directory's)."""
    resolved = path.resolve()
    name = resolved.stem if resolved.is_file() else resolved.name
    if name in ("hosts", "inventory", "") and resolved.parent.name:
        name = resolved.parent.name
    return re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("._-")[:64] or "site"
