"""The settings of a run, as the engine takes them (no pytest: the plugin's options become these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pytest_portspec.device.address import DeviceRequest, HostKeyPolicy
from pytest_portspec.device.privilege import SudoMode
from pytest_portspec.scan.model import ScanOptions

if TYPE_CHECKING:  # loaded only when given
    from pytest_portspec.engine.waivers import Waiver
    from pytest_portspec.spec.inventory import Inventory

InboundFrom = Literal["tester", "jump"]


@dataclass(frozen=True)
class Settings:
    """What a run checks and how: the devices, the decisions of conditional rows, how to reach devices.

    The pytest plugin builds it from the command line and ini file (plugin/options.py, which
    validates every value); a script builds it itself (every field has a default).
    """

    devices: tuple[DeviceRequest, ...] = ()
    spec_dirs: tuple[Path, ...] = ()  # looked in before the packaged specs
    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    firmware: str | None = None
    role: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    dests: dict[str, tuple[str, ...]] = field(default_factory=dict)
    site_allow: frozenset[tuple[str, int]] = frozenset()
    cluster_nets: tuple[str, ...] = ()  # --cluster-net: the only sources of cluster-only ports
    management_nets: tuple[str, ...] = ()  # --management-net: may reach cluster-only ports too
    ssh_user: str | None = None
    ssh_key: str | None = None
    ssh_config: str | None = None
    known_hosts: str | None = None
    ssh_proxy_jump: str | None = None  # OpenSSH ProxyJump: [user@]host[:port][,...]
    inbound_from: InboundFrom = "tester"  # where inbound probes leave from (device/jump_inbound.py)
    ssh_config_may_set: frozenset[str] = frozenset()  # known_hosts, host_key_policy: left at defaults
    host_key_policy: HostKeyPolicy = "strict"
    connect_timeout: float = 10.0
    sudo: bool = True
    sudo_password: str | None = field(default=None, repr=False)  # never printed
    sudo_mode: SudoMode = "commands"
    probe_timeout: float = 3.0
    scan: ScanOptions | None = None  # --scan: also scan each device from the tester (scan/)
    json_path: Path | None = None
    sarif_path: Path | None = None  # the failures as SARIF 2.1.0 (report/sarif.py)
    operator: str = ""
    waivers: tuple[Waiver, ...] = ()
    max_parallel: int = 32
    inventory: Inventory | None = None
