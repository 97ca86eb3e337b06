"""What the checks know besides the policy: the device's facts and the user's declarations (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_portspec.addresses import check_ip, is_ip
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw import UfwState
from pytest_portspec.probe.outbound import ProbeResult
from pytest_portspec.scan.model import ScanFacts


@dataclass(frozen=True)
class Declarations:
    """Site facts given on the command line (later: the inventory)."""

    ports: Mapping[str, int] = field(default_factory=dict)  # --port ROWID=PORT for configurable rows
    destinations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # --dest KEY=HOST
    origins: Mapping[str, str] = field(default_factory=dict)  # where a destination came from, if not --dest
    site_allow: frozenset[tuple[str, int]] = frozenset()  # --site-allow PORT/PROTO
    management_port: int = 22  # the SSH port this run connects through
    tester_address: str | None = None  # where the tester's connection comes from, as the device sees it
    cluster_nets: tuple[str, ...] = ()  # --cluster-net CIDR: the only sources of cluster-only ports
    # --management-net CIDR: may also reach cluster-only ports, once the cluster's network is known
    management_nets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    """What one snapshot of the device showed."""

    ufw: UfwState
    sockets: tuple[Socket, ...]
    resolvers: tuple[str, ...] = ()
    time_servers: tuple[str, ...] = ()
    outbound: Mapping[str, ProbeResult] = field(default_factory=dict)  # by probe id
    inbound: Mapping[str, ProbeResult] = field(default_factory=dict)
    outbound_error: str | None = None  # why no outbound probe could run on the device
    address: str = ""  # the device address the tester probes
    own_addresses: tuple[str, ...] = ()  # the device's own addresses (`ip addr`); () if unknown
    kernel: KernelModel | None = None  # what the kernel enforces; None when its ruleset could not be read
    kernel_error: str | None = None  # why not (one sentence naming the source and line)
    scan: ScanFacts | None = None  # the outside-in scan (--scan); None when none was asked for

    def not_own(self, address: str) -> bool:
        """Whether `address` is known not to be the device's (NAT, a port forward or a jump host in
        between): its own addresses were read and `address`, an IP, is not among them."""
        return bool(self.own_addresses) and is_ip(address) and check_ip(address) not in self.own_addresses
