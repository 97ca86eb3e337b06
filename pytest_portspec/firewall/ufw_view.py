"""Does a device's ufw permit some traffic? First-match semantics over the parsed state (pure).

    decide(state, Packet(direction="in", proto="tcp", port=502)) -> UfwVerdict

Order, as ufw's chains evaluate it: ufw inactive (everything passes) -> the implicit
accepts of ufw's before.rules (loopback; DHCP client replies; mDNS/UPnP multicast) ->
the user rules of the packet's family (v4 or v6) in order, first match wins -> the
default policy of the direction. A rule that only covers part of the traffic asked
about (restricted to some sources/destinations or to one interface, when the packet
does not say which) does not decide; it is reported in `partial` and evaluation goes on.

What a Packet's unset fields mean, and so when a rule is only `partial`: see `ufw_match.py`.

IPv6: a v6 packet meets only the v6 rules. When the state says ufw does not manage IPv6
(`IPV6=no`), ufw's init script sets ip6tables to DROP everything but loopback: the verdict
is not permitted, decided_by "default", with a reason that says so.

Inactive ufw: permitted, decided_by "inactive" — ufw lets everything through; the caller
reports the inactive firewall itself as the failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pytest_portspec.firewall.ufw_match import Packet, check_packet, describe_packet, match_rule
from pytest_portspec.parse.ufw import ANY_V4, ANY_V6, UfwRule, UfwState
from pytest_portspec.spec.model import PortRange

# Packet and describe_packet live in ufw_match.py; importers keep using this module.
__all__ = ["BEFORE_RULES", "IPV6_OFF_RULES", "Packet", "UfwVerdict", "decide", "describe_packet"]


@dataclass(frozen=True)
class UfwVerdict:
    permitted: bool
    # the deciding user rule; None when ufw is inactive, a before.rules accept or the default decided
    rule: UfwRule | None
    decided_by: Literal["inactive", "before-rules", "rule", "default"]
    reason: str  # one sentence for the report: "rule 22/tcp ALLOW IN Anywhere", "default deny (incoming)"
    partial: tuple[UfwRule, ...] = ()  # earlier matching rules that only cover part of the traffic
    limited: bool = False  # permitted by a LIMIT rule (rate-limited)


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


def _loopback(chain_in: str, chain_out: str, source: str) -> tuple[UfwRule, UfwRule]:
    """The accepts of everything crossing lo, in and out."""
    return (
        _before(f"-A {chain_in} -i lo -j ACCEPT", f"{source}: loopback", "in", interface="lo"),
        _before(f"-A {chain_out} -o lo -j ACCEPT", f"{source}: loopback", "out", interface="lo"),
    )


def _multicast(v6: bool, group: str, port: int, service: str) -> UfwRule:
    """An accept of inbound UDP to a multicast group (mDNS, UPnP discovery)."""
    chain, source = ("ufw6-before-input", "before6.rules") if v6 else ("ufw-before-input", "before.rules")
    return _before(
        f"-A {chain} -p udp -d {group} --dport {port} -j ACCEPT",
        f"{source}: {service} multicast",
        "in",
        proto="udp",
        dport=port,
        dst=group,
    )


# The accepts of a stock before.rules / before6.rules (ufw 0.36) that can concern a new TCP or
# UDP flow, in their order; position 0 marks them as not being user rules.
BEFORE_RULES: dict[bool, tuple[UfwRule, ...]] = {
    False: (
        *_loopback("ufw-before-input", "ufw-before-output", "before.rules"),
        _before(
            "-A ufw-before-input -p udp --sport 67 --dport 68 -j ACCEPT",
            "before.rules: DHCP client",
            "in",
            proto="udp",
            dport=68,
            sport=67,
        ),
        _multicast(False, "224.0.0.251", 5353, "mDNS"),
        _multicast(False, "239.255.255.250", 1900, "UPnP"),
    ),
    True: (
        *_loopback("ufw6-before-input", "ufw6-before-output", "before6.rules"),
        _before(
            "-A ufw6-before-input -p udp -s fe80::/10 --sport 547 -d fe80::/10 --dport 546 -j ACCEPT",
            "before6.rules: DHCPv6 client",
            "in",
            proto="udp",
            dport=546,
            sport=547,
            src="fe80::/10",
            dst="fe80::/10",
        ),
        _multicast(True, "ff02::fb", 5353, "mDNS"),
        _multicast(True, "ff02::f", 1900, "UPnP"),
    ),
}

# With IPV6=no (and ufw active), ufw-init loads only this into ip6tables, under DROP policies.
IPV6_OFF_RULES: tuple[UfwRule, ...] = _loopback("INPUT", "OUTPUT", "ufw-init with IPV6=no")


def decide(state: UfwState, packet: Packet) -> UfwVerdict:
    check_packet(packet)
    what = describe_packet(packet)
    if not state.active:
        return UfwVerdict(
            True, None, "inactive", f"{what}: ufw is inactive, so it filters nothing and this traffic passes"
        )
    if packet.v6 and not state.ipv6:
        return _ipv6_unmanaged(packet, what)
    partial: list[UfwRule] = []
    before = _first_full(BEFORE_RULES[packet.v6], packet, partial)
    if before is not None:
        reason = f"{what}: always accepted by {_rule_name(before)}"
        return UfwVerdict(True, None, "before-rules", _with_partial(reason, partial, packet), tuple(partial))
    rule = _first_full(state.family(packet.v6), packet, partial)
    if rule is not None:
        reason = f"{what}: {_ACTION_WORDS[rule.action]} by {_rule_name(rule)}"
        return UfwVerdict(
            rule.action in ("allow", "limit"),
            rule,
            "rule",
            _with_partial(reason, partial, packet),
            tuple(partial),
            limited=rule.action == "limit",
        )
    return _default(state, packet, what, partial)


def _first_full(rules: Iterable[UfwRule], packet: Packet, partial: list[UfwRule]) -> UfwRule | None:
    """First match wins: the first rule covering the whole packet; those covering part go to `partial`."""
    for rule in rules:
        found, _ = match_rule(rule, packet)
        if found == "full":
            return rule
        if found == "partial":
            partial.append(rule)
    return None


def _ipv6_unmanaged(packet: Packet, what: str) -> UfwVerdict:
    rule = _first_full(IPV6_OFF_RULES, packet, [])
    if rule is not None:
        return UfwVerdict(True, None, "before-rules", f"{what}: accepted by ufw-init ({rule.text})")
    return UfwVerdict(
        False,
        None,
        "default",
        f"{what}: ufw does not manage IPv6 here (IPV6=no, or no IPv6 rules listed), and with IPV6=no "
        f"ufw's init drops all IPv6 traffic except on loopback",
    )


def _default(state: UfwState, packet: Packet, what: str, partial: list[UfwRule]) -> UfwVerdict:
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


def _rule_name(rule: UfwRule) -> str:
    if rule.position == 0:
        return f"ufw's {rule.comment} ({rule.text})"  # "ufw's before.rules: loopback (-A ...)"
    return f"IPv{6 if rule.v6 else 4} rule {rule.position} '{rule.describe()}'"


def _with_partial(reason: str, partial: list[UfwRule], packet: Packet) -> str:
    if not partial:
        return reason
    parts = [
        f"{_rule_name(r)}, which covers only traffic {' '.join(match_rule(r, packet)[1])}" for r in partial
    ]
    return f"{reason}; not decided by {'; '.join(parts)}"
