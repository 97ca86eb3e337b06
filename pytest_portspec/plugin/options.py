"""The plugin's options validated into the engine's Settings (the option table: option_table.py).

Every bad value raises pytest.UsageError with one sentence, before any device is contacted.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from pytest_portspec.addresses import check_cidr, is_hostname, is_ip
from pytest_portspec.device.address import DeviceRequest, HostKeyPolicy, parse_device
from pytest_portspec.device.privilege import SUDO_MODES, SudoMode
from pytest_portspec.engine.settings import Settings
from pytest_portspec.errors import PortspecError, SpecError
from pytest_portspec.plugin.scan_options import scan_options
from pytest_portspec.plugin.ssh_options import ssh_routing

if TYPE_CHECKING:  # loaded only when given: a plain pytest run stays light
    from pytest_portspec.engine.waivers import Waiver
    from pytest_portspec.spec.inventory import Inventory


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    found = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise pytest.UsageError(f"{flag} {value!r}: expected KEY=VALUE")
        found.append((key, rest))
    return found


def _port(value: str, flag: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise pytest.UsageError(f"{flag}: {value!r} is not a port number 1-65535")
    return int(value)


def _positive(value: object, flag: str) -> float:
    try:
        number = float(cast(str, value))
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{flag}: {value!r} is not a number of seconds") from None
    if not 0 < number <= 600:
        raise pytest.UsageError(f"{flag}: {value!r} must be between 0 and 600 seconds")
    return number


def _given(value: object, config: pytest.Config, ini: str) -> object:
    """The command line's value if one was given (0 included), else the ini value."""
    return value if value is not None else config.getini(ini)


def load_settings(config: pytest.Config) -> Settings:
    option = config.option
    policy, sudo_mode = _choices(config)
    json_path = Path(option.portspec_json) if option.portspec_json else None
    spec_dirs = tuple(Path(p) for p in option.portspec_spec_dirs) + tuple(config.getini("portspec_spec_dirs"))
    return Settings(
        devices=_devices(option.portspec_devices),
        spec_dirs=spec_dirs,
        enable=tuple(option.portspec_enable),
        disable=tuple(option.portspec_disable),
        firmware=option.portspec_firmware,
        role=option.portspec_role,
        ports={k: _port(v, f"--port {k}") for k, v in _pairs(option.portspec_ports, "--port")},
        dests=_dests(option.portspec_dests),
        site_allow=_site_allow(option.portspec_site_allow),
        cluster_nets=_networks(
            option.portspec_cluster_nets or config.getini("portspec_cluster_net"), "--cluster-net"
        ),
        management_nets=_networks(
            option.portspec_management_nets or config.getini("portspec_management_net"), "--management-net"
        ),
        ssh_user=option.portspec_ssh_user or config.getini("portspec_ssh_user") or None,
        ssh_key=option.portspec_ssh_key,
        ssh_config=getattr(option, "ssh_config", None) or config.getini("portspec_ssh_config") or None,
        known_hosts=os.path.expanduser(
            option.portspec_known_hosts or config.getini("portspec_known_hosts") or "~/.ssh/known_hosts"
        ),
        host_key_policy=policy,
        **ssh_routing(config),  # --ssh-proxy-jump, --inbound-from, what ssh_config may set
        connect_timeout=_positive(
            _given(option.portspec_connect_timeout, config, "portspec_connect_timeout"), "--connect-timeout"
        ),
        sudo=not option.portspec_no_sudo,
        sudo_password=_sudo_password(option.portspec_sudo_password_env),
        sudo_mode=sudo_mode,
        probe_timeout=_positive(
            _given(option.portspec_probe_timeout, config, "portspec_probe_timeout"), "--probe-timeout"
        ),
        scan=scan_options(config),
        json_path=json_path,
        sarif_path=Path(option.portspec_sarif) if option.portspec_sarif else None,
        operator=option.portspec_operator or getpass.getuser(),
        inventory=_inventory(
            option.portspec_inventory or config.getini("portspec_inventory"),
            spec_dirs,
            option.portspec_inventory_limit or config.getini("portspec_inventory_limit"),
        ),
        max_parallel=_count(
            _given(option.portspec_max_parallel, config, "portspec_max_parallel"), "--max-parallel"
        ),
        waivers=_waivers(option.portspec_accept or config.getini("portspec_accept")),
    )


def _devices(texts: list[str]) -> tuple[DeviceRequest, ...]:
    devices = []
    for text in texts:
        try:
            devices.append(parse_device(text))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    return tuple(devices)


def _dests(values: list[str]) -> dict[str, tuple[str, ...]]:
    dests: dict[str, tuple[str, ...]] = {}
    for key, host in _pairs(values, "--dest"):
        if not (is_ip(host) or is_hostname(host)):
            raise pytest.UsageError(f"--dest {key}={host}: {host!r} is not a valid host name or address")
        dests[key] = (*dests.get(key, ()), host)
    return dests


def _site_allow(values: list[str]) -> frozenset[tuple[str, int]]:
    site_allow = set()
    for value in values:
        match = re.fullmatch(r"(\d+)/(tcp|udp)", value)
        if not match:
            raise pytest.UsageError(f"--site-allow {value!r}: expected PORT/PROTO such as 8443/tcp")
        site_allow.add((match.group(2), _port(match.group(1), "--site-allow")))
    return frozenset(site_allow)


def _networks(values: list[str], flag: str) -> tuple[str, ...]:
    """--cluster-net / --management-net CIDR: networks, each in canonical form."""
    nets: list[str] = []
    for value in values:
        try:
            nets.append(check_cidr(value))
        except ValueError as exc:
            raise pytest.UsageError(f"{flag} {value!r}: {exc}") from None
    return tuple(dict.fromkeys(nets))


def _sudo_password(variable: str | None) -> str | None:
    """The sudo password from the environment variable named (never from the command line)."""
    if not variable:
        return None
    password = os.environ.get(variable)
    if password is None:
        raise pytest.UsageError(f"--sudo-password-env: ${variable} is not set")
    return password


def _choices(config: pytest.Config) -> tuple[HostKeyPolicy, SudoMode]:
    option = config.option
    policy = option.portspec_host_key_policy or config.getini("portspec_host_key_policy") or "strict"
    if policy not in ("strict", "accept-new", "ignore"):
        raise pytest.UsageError(f"portspec_host_key_policy {policy!r}: expected strict, accept-new or ignore")
    sudo_mode = option.portspec_sudo_mode or config.getini("portspec_sudo_mode")
    if sudo_mode not in SUDO_MODES:
        raise pytest.UsageError(f"portspec_sudo_mode {sudo_mode!r}: expected commands or shell")
    return cast(HostKeyPolicy, policy), cast(SudoMode, sudo_mode)


def _count(value: object, flag: str) -> int:
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise pytest.UsageError(f"{flag}: {value!r} is not a number of devices from 1 to 256")
    return int(text)


def _inventory(path: str, spec_dirs: tuple[Path, ...], limit: str = "") -> Inventory | None:
    if not path:
        if limit:
            raise pytest.UsageError("--inventory-limit: no --inventory to select hosts of")
        return None
    if not Path(path).exists():
        raise pytest.UsageError(f"--inventory {path}: no such file or directory")
    from pytest_portspec.spec.inventory_source import read_inventory

    try:
        return read_inventory(Path(path), spec_dirs, limit or None)
    except SpecError as exc:
        raise pytest.UsageError(f"--inventory {path}: invalid inventory:\n{exc}") from None
    except PortspecError as exc:
        raise pytest.UsageError(f"--inventory {path}: {exc}") from None


def _waivers(path: str) -> tuple[Waiver, ...]:
    if not path:
        return ()
    if not Path(path).is_file():
        raise pytest.UsageError(f"--accept {path}: no such file")
    from pytest_portspec.engine.waivers import load_waivers

    try:
        return tuple(load_waivers(Path(path)))
    except SpecError as exc:
        raise pytest.UsageError(f"--accept {path}: invalid waiver file:\n{exc}") from None
