"""`generate(seed, index)`: one reproducible rule set of the kernel differential, and its packets.

ufw commands are drawn here; the raw iptables/ip6tables commands in kdiff_iptables, the native
nftables tables in kdiff_nft, the packets in kdiff_packets (see kdiff_rules for the whole).
"""

from __future__ import annotations

from kdiff_addresses import UFW_IFACES
from kdiff_iptables import raw_rules
from kdiff_nft import nft_rules
from kdiff_packets import probes
from kdiff_rules import NFT_READER, Dice, RuleSet


def generate(seed: str, index: int) -> RuleSet:
    dice = Dice(seed, index)
    ipv6 = dice.chance(0.88)
    enabled = dice.chance(0.92)
    rules = RuleSet(index, seed, ipv6, enabled, [], [], [])
    rules.ufw.append(
        ["default", dice.pick(("deny",) * 5 + ("allow", "allow", "reject", "reject")), "incoming"]
    )
    rules.ufw.append(["default", dice.pick(("allow",) * 6 + ("deny", "deny", "reject")), "outgoing"])
    for _ in range(dice.rng.randint(2, 11)):
        rules.ufw.append(_ufw_rule(dice, ipv6))
    if dice.chance(0.1):
        rules.ufw.append(["logging", dice.pick(("off", "low", "medium", "high", "full"))])
    counts = _rules_ufw_puts_in_filter(enabled, ipv6)
    for _ in range(dice.rng.choice((0, 1, 2, 3, 3, 4, 5, 6, 8))):
        raw_rules(dice, rules, counts)
    if enabled and not ipv6:
        # ufw with IPV6=no drops every IPv6 packet, replies too: an accepting rule above must let its
        # connection's answers out, or a connection could not tell what happened to its SYN
        rules.shell.append("ip6tables -I OUTPUT 1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    if NFT_READER and dice.chance(0.4):
        nft_rules(dice, rules)
    rules.probes = probes(dice, rules)
    return rules


def _rules_ufw_puts_in_filter(enabled: bool, ipv6: bool) -> dict[tuple[int, str, str], int]:
    """How many rules INPUT and OUTPUT of the filter table hold before the raw commands: (version,
    table, chain) -> count, the positions an inserted rule can take."""
    counts: dict[tuple[int, str, str], int] = {}
    for version in (4, 6):
        base = 6 if enabled and (version == 4 or ipv6) else 0
        counts[(version, "filter", "INPUT")] = base + (1 if version == 6 and enabled and not ipv6 else 0)
        counts[(version, "filter", "OUTPUT")] = base + (1 if version == 6 and enabled and not ipv6 else 0)
    return counts


def _ufw_rule(dice: Dice, ipv6: bool) -> list[str]:
    action = dice.pick(("allow",) * 4 + ("deny",) * 3 + ("reject",) * 2)
    version = 6 if ipv6 and dice.chance(0.35) else 4
    proto = dice.pick(("tcp", "udp", "tcp", None))
    kind = dice.pick(("simple",) * 4 + ("from", "from-port", "from-port", "to-own", "on", "on", "sport",
                      "out", "out-to", "limit", "prepend", "to-any-own"))  # fmt: skip
    if kind in ("from", "prepend", "to-any-own", "limit"):
        return _ufw_rule_without_port(dice, kind, action, version)
    port, needs = dice.ports_arg()
    proto = proto or ("tcp" if needs else None)
    if kind == "simple":
        return [action, f"{port}/{proto}" if proto else port]
    return _ufw_rule_with_port(dice, kind, action, version, proto, port)


def _ufw_rule_without_port(dice: Dice, kind: str, action: str, version: int) -> list[str]:
    if kind == "from":
        return [action, "from", dice.net(version)]
    if kind == "prepend":
        rule = ["prepend", action, "from", dice.net(version)]
        if dice.chance(0.5):
            rule += ["to", "any", "port", str(dice.port())]
        return rule
    if kind == "to-any-own":
        return [action, "to", dice.own(version)]
    # limit
    limited = dice.port()
    dice.limited.add(limited)
    limit_from = ["from", dice.net(version)] if dice.chance(0.3) else []
    return ["limit", "proto", "tcp", *limit_from, "to", "any", "port", str(limited)]


def _ufw_rule_with_port(
    dice: Dice, kind: str, action: str, version: int, proto: str | None, port: str
) -> list[str]:
    with_proto = ["proto", proto] if proto else []
    source: str
    if kind == "from-port":
        return [action, *with_proto, "from", dice.net(version), "to", "any", "port", port]
    if kind == "to-own":
        source = dice.net(version) if dice.chance(0.4) else "any"
        return [action, *with_proto, "from", source, "to", dice.own(version), "port", port]
    if kind == "on":
        iface = dice.pick(UFW_IFACES)
        if dice.chance(0.25):
            return [action, "in", "on", iface]
        on_from = ["from", dice.net(version)] if dice.chance(0.3) else []
        return [action, "in", "on", iface, *with_proto, *on_from, "to", "any", "port", port]
    if kind == "sport":
        sport = dice.pick(("53", "123", "1000", "1024:65535", "53,67"))
        if sport in ("1024:65535", "53,67") and not proto:
            proto = "udp"
            with_proto = ["proto", "udp"]
        source = dice.net(version) if dice.chance(0.4) else "any"
        dest = ["to", "any", "port", port] if dice.chance(0.6) else ["to", "any"]
        return [action, *with_proto, "from", source, "port", sport, *dest]
    if kind == "out":
        return [action, "out", f"{port}/{proto}" if proto else port]
    # out-to
    on = ["on", dice.pick(("eth7", "ens8", "ens+"))] if dice.chance(0.35) else []
    return [action, "out", *on, *with_proto, "to", dice.net(version), "port", port]
