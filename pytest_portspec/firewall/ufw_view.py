"""Does a device's ufw permit some traffic? First-match semantics over the parsed state (pure).

    decide(state, Packet(direction="in", proto="tcp", port=502)) -> UfwVerdict

Order, as ufw's chains evaluate it: ufw inactive (everything passes) -> the implicit
accepts of ufw's before.rules (loopback; DHCP client replies; mDNS/UPnP multicast) ->
the user rules of the packet's family (v4 or v6) in order, first match wins -> the
default policy of the direction. A rule that only covers part of the traffic asked
about (restricted to some sources/destinations or to one interface, when the packet
does not say which) does not decide; it is reported in `partial` and evaluation goes on.

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

IPv6: a v6 packet meets only the v6 rules. When the state says ufw does not manage IPv6
(`IPV6=no`), ufw's init script sets ip6tables to DROP everything but loopback: the verdict
is not permitted, decided_by "default", with a reason that says so.

Inactive ufw: permitted, decided_by "inactive" — ufw lets everything through; the caller
reports the inactive firewall itself as the failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import netaddr

from pytest_portspec.parse.ufw import ANY_V4, ANY_V6, UfwRule, UfwState, format_ports
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


@dataclass(frozen=True)
class UfwVerdict:
    permitted: bool
    # the deciding user rule; None when ufw is inactive, a before.rules accept or the default decided
    rule: UfwRule | None
    decided_by: Literal["inactive", "before-rules", "rule", "default"]
    reason: str  # one sentence for the report: "rule 22/tcp ALLOW IN Anywhere", "default deny (incoming)"
    partial: tuple[UfwRule, ...] = ()  # earlier matching rules that only cover part of the traffic
    limited: bool = False  # permitted by a LIMIT rule (rate-limited)


Match = Literal["full", "partial", "none"]

LOOPBACK = {False: netaddr.IPNetwork("127.0.0.0/8"), True: netaddr.IPNetwork("::1/128")}
MULTICAST = {False: netaddr.IPNetwork("224.0.0.0/4"), True: netaddr.IPNetwork("ff00::/8")}


def _before(
    text: str,
    comment: str,
    direction: Literal["in", "out"],
    *,
    proto: Literal["tcp", "udp", "any"] = "any",
    dport: int | None = None,
    sport: int | None = None,
    src: str | None = None,
    dst: str | None = None,
    interface: str | None = None,
) -> UfwRule:
    v6 = text.startswith("-A ufw6-") or comment.startswith("ufw-init")
    anywhere = ANY_V6 if v6 else ANY_V4
    return UfwRule(
        position=0,
        action="allow",
        direction=direction,
        proto=proto,
        dports=(PortRange(dport, dport),) if dport else (),
        sports=(PortRange(sport, sport),) if sport else (),
        src=src or anywhere,
        dst=dst or anywhere,
        interface=interface,
        v6=v6,
        comment=comment,
        text=text,
    )


_V4_IN = "-A ufw-before-input -p udp"
_V6_IN = "-A ufw6-before-input -p udp"

# The accepts of a stock before.rules / before6.rules (ufw 0.36) that can concern a new TCP or
# UDP flow, in their order; position 0 marks them as not being user rules.
BEFORE_RULES: dict[bool, tuple[UfwRule, ...]] = {
    False: (
        _before("-A ufw-before-input -i lo -j ACCEPT", "before.rules: loopback", "in", interface="lo"),
        _before("-A ufw-before-output -o lo -j ACCEPT", "before.rules: loopback", "out", interface="lo"),
        _before(
            f"{_V4_IN} --sport 67 --dport 68 -j ACCEPT",
            "before.rules: DHCP client",
            "in",
            proto="udp",
            dport=68,
            sport=67,
        ),
        _before(
            f"{_V4_IN} -d 224.0.0.251 --dport 5353 -j ACCEPT",
            "before.rules: mDNS multicast",
            "in",
            proto="udp",
            dport=5353,
            dst="224.0.0.251",
        ),
        _before(
            f"{_V4_IN} -d 239.255.255.250 --dport 1900 -j ACCEPT",
            "before.rules: UPnP multicast",
            "in",
            proto="udp",
            dport=1900,
            dst="239.255.255.250",
        ),
    ),
    True: (
        _before("-A ufw6-before-input -i lo -j ACCEPT", "before6.rules: loopback", "in", interface="lo"),
        _before("-A ufw6-before-output -o lo -j ACCEPT", "before6.rules: loopback", "out", interface="lo"),
        _before(
            f"{_V6_IN} -s fe80::/10 --sport 547 -d fe80::/10 --dport 546 -j ACCEPT",
            "before6.rules: DHCPv6 client",
            "in",
            proto="udp",
            dport=546,
            sport=547,
            src="fe80::/10",
            dst="fe80::/10",
        ),
        _before(
            f"{_V6_IN} -d ff02::fb --dport 5353 -j ACCEPT",
            "before6.rules: mDNS multicast",
            "in",
            proto="udp",
            dport=5353,
            dst="ff02::fb",
        ),
        _before(
            f"{_V6_IN} -d ff02::f --dport 1900 -j ACCEPT",
            "before6.rules: UPnP multicast",
            "in",
            proto="udp",
            dport=1900,
            dst="ff02::f",
        ),
    ),
}

# With IPV6=no (and ufw active), ufw-init loads only this into ip6tables, under DROP policies.
IPV6_OFF_RULES: tuple[UfwRule, ...] = (
    _before("-A INPUT -i lo -j ACCEPT", "ufw-init with IPV6=no: loopback", "in", interface="lo"),
    _before("-A OUTPUT -o lo -j ACCEPT", "ufw-init with IPV6=no: loopback", "out", interface="lo"),
)


def decide(state: UfwState, packet: Packet) -> UfwVerdict:
    _check_packet(packet)
    what = describe_packet(packet)
    if not state.active:
        return UfwVerdict(
            True, None, "inactive", f"{what}: ufw is inactive, so it filters nothing and this traffic passes"
        )
    partial: list[UfwRule] = []
    if packet.v6 and not state.ipv6:
        for rule in IPV6_OFF_RULES:
            if _match(rule, packet)[0] == "full":
                return UfwVerdict(True, None, "before-rules", f"{what}: accepted by ufw-init ({rule.text})")
        return UfwVerdict(
            False,
            None,
            "default",
            f"{what}: ufw does not manage IPv6 here (IPV6=no, or no IPv6 rules listed), and with IPV6=no "
            f"ufw's init drops all IPv6 traffic except on loopback",
        )
    for rule in BEFORE_RULES[packet.v6]:
        if rule.direction != packet.direction:
            continue
        found, _ = _match(rule, packet)
        if found == "full":
            reason = f"{what}: always accepted by {_rule_name(rule)}"
            return UfwVerdict(
                True, None, "before-rules", _with_partial(reason, partial, packet), tuple(partial)
            )
        if found == "partial":
            partial.append(rule)
    for rule in state.family(packet.v6):
        if rule.direction != packet.direction:
            continue
        found, _ = _match(rule, packet)
        if found == "partial":
            partial.append(rule)
        if found != "full":
            continue
        permitted = rule.action in ("allow", "limit")
        reason = f"{what}: {_ACTION_WORDS[rule.action]} by {_rule_name(rule)}"
        return UfwVerdict(
            permitted,
            rule,
            "rule",
            _with_partial(reason, partial, packet),
            tuple(partial),
            limited=rule.action == "limit",
        )
    policy = state.default_in if packet.direction == "in" else state.default_out
    word = "incoming" if packet.direction == "in" else "outgoing"
    if policy == "disabled":
        raise ValueError(f"ufw is active but its default {word} policy is unknown ('disabled')")
    effect = {"allow": "allowed", "deny": "dropped", "reject": "rejected"}[policy]
    reason = f"{what}: no rule decides, so ufw's default {policy} ({word}) applies: {effect}"
    return UfwVerdict(
        policy == "allow", None, "default", _with_partial(reason, partial, packet), tuple(partial)
    )


_ACTION_WORDS = {
    "allow": "allowed",
    "limit": "allowed, rate-limited (a source's 6th new connection within 30 s is rejected),",
    "deny": "denied (dropped)",
    "reject": "rejected",
}


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


def _rule_name(rule: UfwRule) -> str:
    if rule.position == 0:
        return f"ufw's {rule.comment} ({rule.text})"  # "ufw's before.rules: loopback (-A ...)"
    return f"IPv{6 if rule.v6 else 4} rule {rule.position} '{rule.describe()}'"


def _with_partial(reason: str, partial: list[UfwRule], packet: Packet) -> str:
    if not partial:
        return reason
    parts = [f"{_rule_name(r)}, which covers only traffic {' '.join(_match(r, packet)[1])}" for r in partial]
    return f"{reason}; not decided by {'; '.join(parts)}"


def _check_packet(packet: Packet) -> None:
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


def _match(rule: UfwRule, packet: Packet) -> tuple[Match, list[str]]:
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
