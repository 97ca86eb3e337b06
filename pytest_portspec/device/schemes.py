"""Which transport reaches a device, chosen by the scheme of its host (`--device SPEC@HOST`):

    lab, lab:NAME   the emulated appliance (portspec lab up) over SSH, with the lab's key and known_hosts
    bundle:PATH     offline evidence: a capture made on the device by `portspec capture-script`
    anything else   scheme "ssh": SSH to that host, address or ssh_config alias, with the run's options

A host is of scheme X when it is X or starts with "X:". Adding a transport is its module and one
`register("X", factory)` line below; the factory builds it from a Target and imports its module
when called (the plugin loads no transport library until a device is reached). A test's conftest
may register its own factory for "ssh" (every ordinary host) to put a FakeTransport in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_portspec.device.contract import Transport
    from pytest_portspec.engine.settings import Settings

LAB_HOST = "lab"
SSH = "ssh"  # the scheme of every host without one of its own


@dataclass(frozen=True)
class Target:
    """What a transport is built from: the device's label (its errors name it), the host as given
    and the port, the run's options, and for the lab the running appliance's state (lab/resolve.py)."""

    label: str
    host: str
    port: int | None
    settings: Settings
    lab: Mapping[str, Any] | None = field(default=None, repr=False)


Factory = Callable[[Target], "Transport"]
_SCHEMES: dict[str, Factory] = {}


def register(scheme: str, factory: Factory) -> None:
    """Hosts `SCHEME` and `SCHEME:...` are reached by what `factory` builds."""
    _SCHEMES[scheme] = factory


def scheme_of(host: str) -> str | None:
    """The registered scheme a host names, None for an ordinary host (reached by scheme "ssh")."""
    name = host.partition(":")[0]  # an IPv6 address's first group is no registered name
    return name if name in _SCHEMES else None


def is_lab_host(host: str) -> bool:
    """`lab` or `lab:NAME`: the emulated appliance, not a host of that name (`lab.example.com`)."""
    return host.partition(":")[0] == LAB_HOST


def transport_for(target: Target) -> Transport:
    return _SCHEMES[scheme_of(target.host) or SSH](target)


def _ssh(target: Target) -> Transport:
    from pytest_portspec.device.ssh import SSHSettings, SSHTransport

    s = target.settings
    settings = SSHSettings(
        host=target.host,
        port=target.port,
        user=s.ssh_user,
        key=s.ssh_key,
        ssh_config=s.ssh_config,
        known_hosts=s.known_hosts,
        host_key_policy=s.host_key_policy,
        connect_timeout=s.connect_timeout,
        proxy_jump=s.ssh_proxy_jump,
        inbound_from_jump=s.inbound_from == "jump",
        probe_timeout=s.probe_timeout,
        config_may_set=s.ssh_config_may_set,
    )
    return SSHTransport(target.label, settings)


def _lab(target: Target) -> Transport:
    """The appliance's own key and known_hosts, strict: the lab wrote both when it started it."""
    from pytest_portspec.device.ssh import SSHSettings, SSHTransport

    if target.lab is None:
        raise ValueError(f"{target.label}: an emulated appliance's transport needs its lab state")
    lab = target.lab
    settings = SSHSettings(
        host=lab["management_address"],
        port=int(lab["ssh_port"]),
        user=lab["ssh_user"],
        key=lab["private_key"],
        known_hosts=lab["known_hosts"],
        host_key_policy="strict",
        connect_timeout=target.settings.connect_timeout,
        allow_agent=False,
    )
    return SSHTransport(target.label, settings)


def _fake(target: Target) -> Transport:
    """`fake:NAME`: the fake device a conftest served under that name (device/fake.py)."""
    from pytest_portspec.device.fake import served

    return served(target.host.partition(":")[2])


def _bundle(target: Target) -> Transport:
    """`bundle:PATH`: the capture file (device/bundle.py), read at the first command."""
    from pytest_portspec.device.bundle import BundleTransport

    return BundleTransport(target.label, target.host.partition(":")[2])


register(SSH, _ssh)
register(LAB_HOST, _lab)
register("fake", _fake)
register("bundle", _bundle)
