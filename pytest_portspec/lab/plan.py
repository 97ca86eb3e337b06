"""What an emulated appliance is made of, derived from a spec's effective policy (pure).

    plan_appliance(policy, index) -> AppliancePlan

The plan says which ufw commands make the vendor's documented policy, which sockets the
vendor's services hold (with their process names), and what the simulated internet
must answer. Drifts (drifts.py) then change a plan the way things go wrong in the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import netaddr

from pytest_portspec.spec.model import PortRange, Proto
from pytest_portspec.spec.policy import EffectivePolicy, Expectation

LAB_NET = netaddr.IPNetwork("198.18.0.0/15")
LAB_NET6 = netaddr.IPNetwork("2001:2::/48")  # the IPv6 benchmarking block: the lab's IPv6 addresses
LAB_DOMAIN = "portspec.lab"
MAX_APPLIANCES = 120  # uplinks use 198.19.1-120.0/24; 198.19.128.0/17 holds the internet hosts
MAX_RANGE_LISTENERS = 16  # a wider documented range gets one listener, on its first port
MANAGEMENT_PORT = 22
# the sources of cluster-only ports: every site segment (segment.py: 198.18.251-254.0/24), as a
# real cluster's rules name its network; IPv4 only, as the segments are
CLUSTER_NET = "198.18.248.0/21"


def in_lab(address: str) -> str:
    """Every address the lab uses is checked against 198.18.0.0/15 (2001:2::/48) before use."""
    ip = netaddr.IPAddress(address)
    if ip not in (LAB_NET6 if ip.version == 6 else LAB_NET):
        raise ValueError(f"{address} is outside the lab network {LAB_NET6 if ip.version == 6 else LAB_NET}")
    return address


@dataclass(frozen=True)
class Addresses:
    """Addresses of appliance number `index` (1..MAX_APPLIANCES)."""

    index: int

    @property
    def host(self) -> str:
        return in_lab(f"198.18.{self.index}.1")

    @property
    def management(self) -> str:
        return in_lab(f"198.18.{self.index}.2")

    @property
    def host6(self) -> str:
        """The host's IPv6 end of the management link: an appliance has both families, as most do."""
        return in_lab(f"2001:2:0:{self.index:x}::1")

    @property
    def management6(self) -> str:
        return in_lab(f"2001:2:0:{self.index:x}::2")

    @property
    def gateway(self) -> str:
        """The internet side of the appliance's uplink: its router, resolver and site firewall."""
        return in_lab(f"198.19.{self.index}.1")

    @property
    def uplink(self) -> str:
        return in_lab(f"198.19.{self.index}.2")


def service_address(number: int) -> str:
    """Address of the number-th simulated internet host (0-based) in 198.19.128.0/17."""
    if not 0 <= number < 127 * 254:
        raise ValueError("the lab internet is full")
    return in_lab(f"198.19.{128 + number // 254}.{number % 254 + 1}")


@dataclass(frozen=True)
class Listener:
    process: str
    proto: Proto
    address: str  # "::" is a dual-stack socket (IPV6_V6ONLY off): IPv4 and IPv6, `ss` shows `*:PORT`
    port: int  # 0: an ephemeral port (the document gives none)
    reply: str = ""  # "junk": a UDP datagram gets bytes that are no reply of the port's protocol

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"process": self.process, "proto": self.proto, "address": self.address}
        return found | {"port": self.port} | ({"reply": self.reply} if self.reply else {})


@dataclass(frozen=True)
class NatForward:
    """A port forward (DNAT) in the appliance's own namespace, to its management address's TO port.

    kind: `docker` (iptables, as Docker publishes a port), `docker-local` (published on
    127.0.0.1 only: not reachable from outside) or `nft` (an nftables table of its own)."""

    kind: str
    proto: Proto
    port: int
    to: int


@dataclass(frozen=True)
class AppliancePlan:
    spec: str
    profile: str
    ufw_commands: tuple[tuple[str, ...], ...]
    ufw_enabled: bool
    listeners: tuple[Listener, ...]
    hosts: tuple[str, ...]  # names the lab DNS resolves for this appliance
    configured: dict[str, str]  # configured destination -> the lab host standing in for it
    internet_ports: tuple[tuple[Proto, int], ...]
    site_blocks: tuple[tuple[Proto, int], ...] = ()
    dns_failures: tuple[str, ...] = ()
    sudo_password: bool = False  # sudo asks the lab user for a password
    ufw_missing: bool = False  # ufw is not on the appliance's PATH
    dynamic_firewall: bool = False  # the vendor's firewall closes a stopped service's ports
    path_blocks: tuple[tuple[str, Proto, int], ...] = ()  # (peer node, proto, port) the site drops
    forwards: tuple[tuple[Proto, int, int], ...] = ()  # (proto, port, to port): nat REDIRECTs ufw never shows
    nat_forwards: tuple[NatForward, ...] = ()  # DNATs to the management address (Docker, nft)
    management: str = ""  # the appliance's management address (the nat forwards' destination)
    # (proto, port) served from a namespace of its own, reached by a tc redirect on eth0 (lab/hidden.py)
    hidden_listeners: tuple[tuple[Proto, int], ...] = ()
    drifts: tuple[str, ...] = field(default=())


def plan_appliance(policy: EffectivePolicy, index: int) -> AppliancePlan:
    addresses = Addresses(index)
    expectations = [e for e in policy.rows if e.applies and not e.row.manual]
    configured = _configured_hosts(expectations)
    hosts = sorted(
        {d.value for e in _outbound(expectations) for d in e.side.destinations if d.kind == "host"}
    )
    return AppliancePlan(
        spec=policy.spec.name,
        profile=policy.profile.name,
        ufw_commands=tuple(_ufw_commands(policy, expectations, addresses)),
        ufw_enabled=True,
        listeners=tuple(_listeners(policy, expectations)),
        hosts=tuple(sorted({*hosts, *(h for k, h in configured.items() if k != "dns")})),
        configured=configured,
        internet_ports=tuple(
            sorted({(e.side.proto, p) for e in _outbound(expectations) for p in _used_ports(e)})
        ),
        dynamic_firewall=policy.spec.default.dynamic is not None,
        management=addresses.management,
    )


def _outbound(expectations: list[Expectation]) -> list[Expectation]:
    return [e for e in expectations if e.side.direction == "out" and e.action == "allow"]


def _configured_hosts(expectations: list[Expectation]) -> dict[str, str]:
    keys = {d.value for e in expectations for d in e.side.destinations if d.kind == "configured"}
    return {key: f"{key}.{LAB_DOMAIN}" for key in sorted(keys)}


def _used_ports(e: Expectation) -> list[int]:
    """The ports a clean appliance really uses for a row."""
    if e.row.configurable:  # a configurable port lies somewhere in the range: the first is its default
        return [e.row.ports[0].lo] if e.row.ports else []
    ports: list[int] = []
    for r in e.row.ports:
        ports += [r.lo] if r.hi - r.lo >= MAX_RANGE_LISTENERS else list(range(r.lo, r.hi + 1))
    return ports


def _ufw_default(action: str, direction: str) -> str:
    if action == "unspecified":  # the document says nothing: deny inbound, allow outbound
        return "deny" if direction == "in" else "allow"
    return "allow" if action == "allow" else "deny"


def _ufw_commands(
    policy: EffectivePolicy, expectations: list[Expectation], addresses: Addresses
) -> list[tuple[str, ...]]:
    default_in = _ufw_default(policy.default_in, "in")
    default_out = _ufw_default(policy.default_out, "out")
    commands: list[tuple[str, ...]] = [
        ("default", default_in, "incoming"),
        ("default", default_out, "outgoing"),
        ("default", "deny", "routed"),
        ("allow", "in", "on", "lo"),
        ("allow", "out", "on", "lo"),
        ("deny", "in", "from", "127.0.0.0/8"),
        (
            "allow",
            "in",
            "on",
            "eth0",
            "from",
            addresses.host,
            "to",
            "any",
            "port",
            str(MANAGEMENT_PORT),
            "proto",
            "tcp",
            "comment",
            "portspec-lab management access",
        ),
    ]
    defaults = {"in": default_in, "out": default_out}
    for e in expectations:
        if e.row.scope == "loopback" or not e.row.ports:
            continue
        if e.action == "allow":
            ports = _port_ranges(_used_ports(e)) if e.row.configurable else e.row.ports
            commands.append(_rule("allow", e, ports, CLUSTER_NET if e.cluster_ports else "any"))
        elif e.action == "block" and defaults[e.side.direction] == "allow" and e.blocked_ports:
            commands.append(_rule("deny", e, e.blocked_ports))
    return list(dict.fromkeys(commands))


def _port_ranges(ports: list[int]) -> tuple[PortRange, ...]:
    return tuple(PortRange(p, p) for p in ports)


def _rule(action: str, e: Expectation, ports: tuple[PortRange, ...], source: str = "any") -> tuple[str, ...]:
    """`ufw allow in proto tcp [from NET] to any port P`: a cluster-only row from the cluster only."""
    spec = ",".join(str(p.lo) if p.lo == p.hi else f"{p.lo}:{p.hi}" for p in ports)
    origin = ("from", source) if source != "any" else ()
    return (action, e.side.direction, "proto", e.side.proto, *origin, "to", "any", "port", spec)


def _listeners(policy: EffectivePolicy, expectations: list[Expectation]) -> list[Listener]:
    found: dict[tuple[str, int, str], Listener] = {}
    for e in expectations:
        if e.side.direction != "in" or e.listener == "forbidden":
            continue
        loopback = e.row.scope == "loopback"
        if not loopback and e.action != "allow":
            continue
        # a row that names no process gets one named after the row: `stop:ROW-ID` stops just it
        process = e.row.process[0] if e.row.process else e.row.id
        address = "127.0.0.1" if loopback else "0.0.0.0"
        for port in _used_ports(e) or [0]:
            if (e.side.proto, port) == ("tcp", MANAGEMENT_PORT) and not loopback:
                continue  # the real sshd serves it
            key = (e.side.proto, port, address) if port else (e.side.proto, 0, process)
            found.setdefault(key, Listener(process[:15], e.side.proto, address, port))
    return sorted(found.values(), key=lambda item: (item.process, item.proto, item.port))
