"""The plugin's command line: one option group, ini twins, and validation into Settings.

Every bad value raises pytest.UsageError with one sentence, before any device is contacted.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from pytest_portspec.addresses import is_hostname, is_ip
from pytest_portspec.device.address import DeviceRequest, HostKeyPolicy, parse_device
from pytest_portspec.device.privilege import SUDO_MODES, SudoMode
from pytest_portspec.errors import SpecError

if TYPE_CHECKING:  # loaded only when given: a plain pytest run stays light
    from pytest_portspec.engine.waivers import Waiver
    from pytest_portspec.spec.inventory import Inventory

GROUP = "portspec"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "portspec: check devices against vendor port tables")
    add = group.addoption
    add(
        "--device",
        action="append",
        default=[],
        dest="portspec_devices",
        metavar="SPEC[:PROFILE]@HOST[:PORT]",
        help="a device to check (HOST: address, DNS name, ~/.ssh/config alias, lab or lab:NAME); repeatable",
    )
    add(
        "--spec-dir",
        action="append",
        default=[],
        dest="portspec_spec_dirs",
        metavar="DIR",
        help="look for specs here before the packaged ones; repeatable (ini: portspec_spec_dirs)",
    )
    add(
        "--enable",
        action="append",
        default=[],
        dest="portspec_enable",
        metavar="COND",
        help="turn a condition on for every device ('all' for every condition); repeatable",
    )
    add(
        "--disable",
        action="append",
        default=[],
        dest="portspec_disable",
        metavar="COND",
        help="turn a condition off for every device; repeatable",
    )
    add("--firmware", dest="portspec_firmware", metavar="VERSION", help="firmware version of the devices")
    add("--role", dest="portspec_role", metavar="ROLE", help="node role of the devices, for cluster specs")
    add(
        "--port",
        action="append",
        default=[],
        dest="portspec_ports",
        metavar="ROW=PORT",
        help="the port a configurable row really uses, e.g. --port opcua=4840; repeatable",
    )
    add(
        "--dest",
        action="append",
        default=[],
        dest="portspec_dests",
        metavar="KEY=HOST",
        help="a destination the document does not name, e.g. --dest ntp=time.example.net; repeatable",
    )
    add(
        "--site-allow",
        action="append",
        default=[],
        dest="portspec_site_allow",
        metavar="PORT/PROTO",
        help="an inbound port the site opened on purpose beyond the document, e.g. 8443/tcp; repeatable",
    )
    add("--ssh-user", dest="portspec_ssh_user", metavar="USER", help="SSH user (ini: portspec_ssh_user)")
    add("--ssh-key", dest="portspec_ssh_key", metavar="FILE", help="SSH private key file")
    add(
        "--known-hosts",
        dest="portspec_known_hosts",
        metavar="FILE",
        help="known_hosts file (default ~/.ssh/known_hosts; ini: portspec_known_hosts)",
    )
    add(
        "--host-key-policy",
        dest="portspec_host_key_policy",
        choices=("strict", "accept-new", "ignore"),
        help="unknown host keys: strict (refuse, default), accept-new (remember), ignore",
    )
    add(
        "--connect-timeout",
        dest="portspec_connect_timeout",
        type=float,
        metavar="SECONDS",
        help="SSH connect timeout (default 10; ini: portspec_connect_timeout)",
    )
    # --ssh-config and --sudo belong to testinfra (a dependency); the plugin honours its --ssh-config
    add(
        "--no-sudo",
        dest="portspec_no_sudo",
        action="store_true",
        help="the SSH user is root: read the device's state without sudo (default: 'sudo -n')",
    )
    add(
        "--sudo-password-env",
        dest="portspec_sudo_password_env",
        metavar="VAR",
        help="environment variable holding the sudo password (fed on stdin, never shown)",
    )
    add(
        "--sudo-mode",
        dest="portspec_sudo_mode",
        choices=SUDO_MODES,
        help="commands: one sudo per read-only command, as `portspec sudoers` allows (default); "
        "shell: the whole snapshot under `sudo sh` (ini: portspec_sudo_mode)",
    )
    add(
        "--probe-timeout",
        dest="portspec_probe_timeout",
        type=float,
        metavar="SECONDS",
        help="timeout of each reachability probe (default 3; ini: portspec_probe_timeout)",
    )
    add("--portspec-json", dest="portspec_json", metavar="PATH", help="write the results file here")

    add(
        "--inventory",
        dest="portspec_inventory",
        metavar="FILE",
        help="the site's devices, with spec, role and SSH settings (YAML; ini: portspec_inventory)",
    )
    add(
        "--max-parallel",
        dest="portspec_max_parallel",
        type=int,
        metavar="N",
        help="devices read at once (default 32; ini: portspec_max_parallel)",
    )
    add(
        "--accept",
        dest="portspec_accept",
        metavar="FILE",
        help="accepted deviations (waivers) of the site, YAML (ini: portspec_accept)",
    )
    add(
        "--signoff-operator",
        dest="portspec_operator",
        metavar="NAME",
        help="operator named on the report's cover (default: the user running pytest)",
    )
    parser.addini("portspec_inventory", "inventory file of the site's devices", default="")
    parser.addini("portspec_max_parallel", "devices read at once", default="32")
    parser.addini("portspec_accept", "accepted deviations (waivers) file", default="")
    parser.addini(
        "portspec_spec_dirs", "spec directories searched before the packaged specs", type="paths", default=[]
    )
    parser.addini("portspec_ssh_user", "SSH user", default="")
    parser.addini("portspec_ssh_config", "ssh_config file honoured", default="~/.ssh/config")
    parser.addini("portspec_known_hosts", "known_hosts file", default="~/.ssh/known_hosts")
    parser.addini("portspec_host_key_policy", "strict, accept-new or ignore", default="strict")
    parser.addini("portspec_sudo_mode", "commands (a sudo per read) or shell (sudo sh)", default="commands")
    parser.addini("portspec_connect_timeout", "SSH connect timeout in seconds", default="10")
    parser.addini("portspec_probe_timeout", "probe timeout in seconds", default="3")


@dataclass(frozen=True)
class Settings:
    devices: tuple[DeviceRequest, ...]
    spec_dirs: tuple[Path, ...]
    enable: tuple[str, ...]
    disable: tuple[str, ...]
    firmware: str | None
    role: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    dests: dict[str, tuple[str, ...]] = field(default_factory=dict)
    site_allow: frozenset[tuple[str, int]] = frozenset()
    ssh_user: str | None = None
    ssh_key: str | None = None
    ssh_config: str | None = None
    known_hosts: str | None = None
    host_key_policy: HostKeyPolicy = "strict"
    connect_timeout: float = 10.0
    sudo: bool = True
    sudo_password: str | None = field(default=None, repr=False)  # never printed
    sudo_mode: SudoMode = "commands"
    probe_timeout: float = 3.0
    json_path: Path | None = None
    operator: str = ""
    waivers: tuple[Waiver, ...] = ()
    max_parallel: int = 32
    inventory: Inventory | None = None


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
    devices = []
    for text in option.portspec_devices:
        try:
            devices.append(parse_device(text))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    dests: dict[str, tuple[str, ...]] = {}
    for key, host in _pairs(option.portspec_dests, "--dest"):
        if not (is_ip(host) or is_hostname(host)):
            raise pytest.UsageError(f"--dest {key}={host}: {host!r} is not a valid host name or address")
        dests[key] = (*dests.get(key, ()), host)
    site_allow = set()
    for value in option.portspec_site_allow:
        match = re.fullmatch(r"(\d+)/(tcp|udp)", value)
        if not match:
            raise pytest.UsageError(f"--site-allow {value!r}: expected PORT/PROTO such as 8443/tcp")
        site_allow.add((match.group(2), _port(match.group(1), "--site-allow")))
    password = None
    if option.portspec_sudo_password_env:
        password = os.environ.get(option.portspec_sudo_password_env)
        if password is None:
            raise pytest.UsageError(f"--sudo-password-env: ${option.portspec_sudo_password_env} is not set")
    policy = option.portspec_host_key_policy or config.getini("portspec_host_key_policy")
    if policy not in ("strict", "accept-new", "ignore"):
        raise pytest.UsageError(f"portspec_host_key_policy {policy!r}: expected strict, accept-new or ignore")
    sudo_mode = option.portspec_sudo_mode or config.getini("portspec_sudo_mode")
    if sudo_mode not in SUDO_MODES:
        raise pytest.UsageError(f"portspec_sudo_mode {sudo_mode!r}: expected commands or shell")
    json_path = Path(option.portspec_json) if option.portspec_json else None
    spec_dirs = tuple(Path(p) for p in option.portspec_spec_dirs) + tuple(config.getini("portspec_spec_dirs"))
    return Settings(
        devices=tuple(devices),
        spec_dirs=spec_dirs,
        enable=tuple(option.portspec_enable),
        disable=tuple(option.portspec_disable),
        firmware=option.portspec_firmware,
        role=option.portspec_role,
        ports={k: _port(v, f"--port {k}") for k, v in _pairs(option.portspec_ports, "--port")},
        dests=dests,
        site_allow=frozenset(site_allow),
        ssh_user=option.portspec_ssh_user or config.getini("portspec_ssh_user") or None,
        ssh_key=option.portspec_ssh_key,
        ssh_config=getattr(option, "ssh_config", None) or config.getini("portspec_ssh_config") or None,
        known_hosts=os.path.expanduser(option.portspec_known_hosts or config.getini("portspec_known_hosts")),
        host_key_policy=cast(HostKeyPolicy, policy),
        connect_timeout=_positive(
            _given(option.portspec_connect_timeout, config, "portspec_connect_timeout"), "--connect-timeout"
        ),
        sudo=not option.portspec_no_sudo,
        sudo_password=password,
        sudo_mode=cast(SudoMode, sudo_mode),
        probe_timeout=_positive(
            _given(option.portspec_probe_timeout, config, "portspec_probe_timeout"), "--probe-timeout"
        ),
        json_path=json_path,
        operator=option.portspec_operator or getpass.getuser(),
        inventory=_inventory(option.portspec_inventory or config.getini("portspec_inventory"), spec_dirs),
        max_parallel=_count(
            _given(option.portspec_max_parallel, config, "portspec_max_parallel"), "--max-parallel"
        ),
        waivers=_waivers(option.portspec_accept or config.getini("portspec_accept")),
    )


def _count(value: object, flag: str) -> int:
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise pytest.UsageError(f"{flag}: {value!r} is not a number of devices from 1 to 256")
    return int(text)


def _inventory(path: str, spec_dirs: tuple[Path, ...]) -> Inventory | None:
    if not path:
        return None
    if not Path(path).is_file():
        raise pytest.UsageError(f"--inventory {path}: no such file")
    from pytest_portspec.spec.inventory import load_inventory

    try:
        return load_inventory(Path(path), spec_dirs)
    except SpecError as exc:
        raise pytest.UsageError(f"--inventory {path}: invalid inventory:\n{exc}") from None


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
