"""A ufw rule against one packet: does it cover it fully, partly, or not at all (pure).

    match_rule(rule, Packet(direction="in", proto="tcp", port=22)) -> ("partial", ["from 198.18.0.0/24"])

What a Packet's unset fields mean, and so when a rule is only `partial`:

- `remote` None: any remote address except loopback ones (a packet from 127.0.0.0/8 or ::1
  on a non-loopback interface is a martian the kernel drops). A rule restricted to some
  remote addresses is partial; one restricted to loopback sources does not match at all.
  `remote` may also be a network: a rule covering all of it matches, one covering part of it
  is partial.
- `local` None: any of the device's own addresses. A rule restricted to a device-side
  address (`to 198.18.1.2` on an in rule, `from ...` on an out rule) is partial. Multicast
  groups are device-side addresses too: the mDNS and UPnP accepts of before.rules decide only
  when `local` is 224.0.0.251 / 239.255.255.250 (ff02::fb / ff02::f); unicast 5353/udp is
  not accepted by them.
- `interface` None: any non-loopback interface. A rule `on eth0` is partial, a rule `on lo`
  does not match. A loopback `remote` or `local` means the packet crosses lo.
- `sport` None: any source port. A rule restricted to source ports (`1024:65535/tcp` in the
  From column, before.rules' DHCP `--sport 67`) is partial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import netaddr

from pytest_portspec.parse.ufw import UfwRule, format_ports
from pytest_portspec.spec.model import PortRange


@dataclass(frozen=True)
class Packet:
    direction: Literal["in", "out"]
    proto: Literal["tcp", "udp"]
    port: int  # destination port
    remote: str | None = None  # source address (in) or destination address (out); None = anyone
    interface: str | None = None  # interface it crosses; None = any non-loopback interface
    v6: bool = False
    sport: int | None = None  # source port, when known (DHCP replies: 67 -> 68)
    local: str | None = None  # the device's own address: destination (in) or source (out); None = any


Match = Literal["full", "partial", "none"]

LOOPBACK = {False: netaddr.IPNetwork("127.0.0.0/8"), True: netaddr.IPNetwork("::1/128")}
MULTICAST = {False: netaddr.IPNetwork("224.0.0.0/4"), True: netaddr.IPNetwork("ff00::/8")}


def describe_packet(packet: Packet) -> str:
    """'inbound 22/tcp from 198.18.1.1 port 40123 to 198.18.1.2 on eth0', 'outbound 443/tcp (IPv6)'."""
    source, destination = (
        (packet.remote, packet.local) if packet.direction == "in" else (packet.local, packet.remote)
    )
    text = f"{packet.direction}bound {packet.port}/{packet.proto}"
    origin = ([source] if source else []) + ([f"port {packet.sport}"] if packet.sport is not None else [])
    if origin:
        text += " from " + " ".join(origin)
    if destination:
        text += f" to {destination}"
    if packet.interface:
        text += f" on {packet.interface}"
    return text + (" (IPv6)" if packet.v6 else "")


def check_packet(packet: Packet) -> None:
    if packet.direction not in ("in", "out") or packet.proto not in ("tcp", "udp"):
        raise ValueError(
            f"packet direction/proto must be in|out and tcp|udp: {packet.direction}/{packet.proto}"
        )
    if not 1 <= packet.port <= 65535 or (packet.sport is not None and not 1 <= packet.sport <= 65535):
        raise ValueError(f"packet ports must be 1-65535: {packet.port}, source {packet.sport}")
    for name in ("remote", "local"):
        text = getattr(packet, name)
        if text is None:
            continue
        network = _network(text, f"packet {name}")
        if (network.version == 6) != packet.v6:
            family = "IPv6" if packet.v6 else "IPv4"
            raise ValueError(f"packet {name} {text!r} is not {family} (v6={packet.v6})")
        if name == "remote" and packet.direction == "in" and network in MULTICAST[packet.v6]:
            raise ValueError(
                f"packet remote {text!r} is a multicast group, which is never a source: "
                f"pass it as local= (the destination of an inbound packet)"
            )


def _network(text: str, what: str) -> netaddr.IPNetwork:
    try:
        return netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValueError(f"bad {what} address {text!r}") from None


def _crosses_loopback(packet: Packet) -> bool:
    for text in (packet.remote, packet.local):
        if text is not None and _network(text, "packet") in LOOPBACK[packet.v6]:
            return True
    return False


def _interface_matches(rule_iface: str, iface: str) -> bool:
    """iptables' -i/-o: a name ending in '+' matches every interface starting with the rest."""
    if rule_iface.endswith("+"):
        return iface.startswith(rule_iface[:-1])
    return rule_iface == iface


def _address_match(rule_addr: str, packet_addr: str | None, remote: bool, v6: bool) -> Match:
    rule_net = netaddr.IPNetwork(rule_addr)
    if rule_net.prefixlen == 0:
        return "full"
    if packet_addr is None:
        if remote and rule_net in LOOPBACK[v6]:
            return "none"  # "anyone" on a non-loopback interface excludes loopback sources (martians)
        return "partial"
    net = netaddr.IPNetwork(packet_addr)
    if net in rule_net:
        return "full"
    if net.last < rule_net.first or net.first > rule_net.last:
        return "none"
    return "partial"


def _in_ports(port: int, ranges: tuple[PortRange, ...]) -> bool:
    return any(r.lo <= port <= r.hi for r in ranges)


def match_rule(rule: UfwRule, packet: Packet) -> tuple[Match, list[str]]:
    """Does the rule cover the packet: fully, partly (with what it is restricted to), or not?"""
    if rule.direction != packet.direction or rule.v6 != packet.v6:
        return "none", []
    if rule.proto != "any" and rule.proto != packet.proto:
        return "none", []
    if rule.dports and not _in_ports(packet.port, rule.dports):
        return "none", []
    only: list[str] = []
    remote_addr, local_addr = (rule.src, rule.dst) if packet.direction == "in" else (rule.dst, rule.src)
    for addr, given, is_remote in ((remote_addr, packet.remote, True), (local_addr, packet.local, False)):
        found = _address_match(addr, given, is_remote, packet.v6)
        if found == "none":
            return "none", []
        if found == "partial":
            word = "from" if is_remote == (packet.direction == "in") else "to"
            only.append(f"{word} {addr}")
    iface = packet.interface or ("lo" if _crosses_loopback(packet) else None)
    if rule.interface:
        if iface is None:
            if rule.interface == "lo":
                return "none", []  # None = any non-loopback interface
            only.append(f"on {rule.interface}")
        elif not _interface_matches(rule.interface, iface):
            return "none", []
    if rule.sports:
        if packet.sport is None:
            only.append(f"from source ports {format_ports(rule.sports)}")
        elif not _in_ports(packet.sport, rule.sports):
            return "none", []
    return ("partial" if only else "full"), only
