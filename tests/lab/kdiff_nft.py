"""Native nftables tables of a kernel differential rule set (once the model reads them: NFT_READER)."""

from __future__ import annotations

from kdiff_addresses import LINKS
from kdiff_rules import Dice, Direction, RuleSet


def nft_rules(dice: Dice, rules: RuleSet) -> None:
    """A native table (inet, ip or ip6) with a hooked input chain (sometimes policy drop), named sets,
    a verdict map, a user chain, an output chain; sometimes a netdev ingress chain on one link."""
    lines = rules.nft
    family = dice.pick(("inet", "inet", "ip", "ip6"))
    table = f"{family} kdiff"
    versions = (4, 6) if family == "inet" else (4,) if family == "ip" else (6,)
    lines.append(f"add table {table}")
    names = _named_sets(dice, lines, table, versions)
    _input_chain(dice, lines, table, versions, names)
    if dice.chance(0.4):
        lines.append(f"add chain {table} output {{ type filter hook output priority 0; policy accept; }}")
        for _ in range(dice.rng.randint(1, 3)):
            lines.append(f"add rule {table} output ct state new " + _nft_rule(dice, "out", versions, {}, 0.2))
    if dice.chance(0.1):
        _ingress_chain(dice, lines)


def _named_sets(dice: Dice, lines: list[str], table: str, versions: tuple[int, ...]) -> dict[str, str]:
    """The table's sets and verdict map: kind -> "@name"."""
    names: dict[str, str] = {}
    if dice.chance(0.4):
        version = dice.pick(versions)
        kind = "ipv6_addr" if version == 6 else "ipv4_addr"
        lines.append(f"add set {table} nets {{ type {kind}; flags interval; auto-merge; }}")
        nets = sorted({dice.net(version) for _ in range(dice.rng.randint(1, 3))})
        lines.append(f"add element {table} nets {{ {', '.join(nets)} }}")
        names[f"nets{version}"] = "@nets"
    if dice.chance(0.3):
        lines.append(f"add set {table} ports {{ type inet_service; flags interval; auto-merge; }}")
        ports = sorted({str(dice.port()) for _ in range(2)} | {dice.port_range().replace(":", "-")})
        lines.append(f"add element {table} ports {{ {', '.join(ports)} }}")
        names["ports"] = "@ports"
    if dice.chance(0.2) and 4 in versions:
        lines.append(f"add set {table} pairs {{ type ipv4_addr . inet_service; flags interval; }}")
        pairs = {f"{dice.net(4)} . {port}" for port in {dice.port() for _ in range(2)}}  # no two overlap
        lines.append(f"add element {table} pairs {{ {', '.join(sorted(pairs))} }}")
        names["pairs"] = "@pairs"
    if dice.chance(0.2):
        lines.append(f"add map {table} verdicts {{ type inet_service : verdict; }}")
        items = {dice.port(): dice.pick(("accept", "drop", "drop")) for _ in range(3)}
        lines.append(
            f"add element {table} verdicts {{ {', '.join(f'{p} : {v}' for p, v in items.items())} }}"
        )
        names["vmap"] = "@verdicts"
    return names


def _input_chain(
    dice: Dice, lines: list[str], table: str, versions: tuple[int, ...], names: dict[str, str]
) -> None:
    priority = dice.pick((-10, -10, 10, -200, "filter - 5", "filter + 5"))
    policy = "drop" if dice.chance(0.25) else "accept"
    lines.append(
        f"add chain {table} input {{ type filter hook input priority {priority}; policy {policy}; }}"
    )
    if policy == "drop":
        lines.append(f"add rule {table} input ct state established,related accept")
        lines.append(f"add rule {table} input iifname lo accept")
    accept = 0.6 if policy == "drop" else 0.25
    if dice.chance(0.3):
        lines.append(f"add chain {table} sub")
        for _ in range(dice.rng.randint(1, 3)):
            lines.append(f"add rule {table} sub " + _nft_rule(dice, "in", versions, names, accept, sub=True))
        jump = dice.pick(("jump sub", "jump sub", "goto sub"))
        entry = _nft_rule(dice, "in", versions, {}, 0, verdict=jump)
        lines.append(f"add rule {table} input {entry}")
    for _ in range(dice.rng.randint(1, 5)):
        lines.append(f"add rule {table} input " + _nft_rule(dice, "in", versions, names, accept))


def _ingress_chain(dice: Dice, lines: list[str]) -> None:
    link = dice.pick(LINKS)
    lines.append("add table netdev kdiffdev")
    lines.append(
        f'add chain netdev kdiffdev ingress {{ type filter hook ingress device "{link.iface}" '
        "priority 0; policy accept; }"
    )
    version = dice.pick((4, 6))
    lines.append(
        f"add rule netdev kdiffdev ingress {'ip6' if version == 6 else 'ip'} saddr {dice.net(version)} "
        f"{dice.pick(('tcp', 'udp'))} dport {dice.port()} drop"
    )


def _nft_rule(
    dice: Dice,
    direction: Direction,
    versions: tuple[int, ...],
    names: dict[str, str],
    accept: float,
    sub: bool = False,
    verdict: str = "",
) -> str:
    parts, proto = _nft_matches(dice, direction, versions, names)
    if verdict:
        return " ".join([*parts, verdict])
    if "vmap" in names and proto and direction == "in" and dice.chance(0.3):
        return " ".join([*parts, f"{proto} dport vmap {names['vmap']}"])
    if sub and dice.chance(0.25):
        return " ".join([*parts, "return"])
    if dice.chance(accept):
        verdict = "accept"
    else:
        rejects = ["reject"] + (["reject with tcp reset"] if proto == "tcp" else [])
        rejects.append("reject with icmpx type admin-prohibited" if len(versions) > 1 else "reject")
        verdict = dice.pick(("drop", "drop", *rejects))
    return " ".join([*parts, verdict])


def _nft_matches(
    dice: Dice, direction: Direction, versions: tuple[int, ...], names: dict[str, str]
) -> tuple[list[str], str | None]:
    """Random conditions of an nft rule: (words of each, protocol)."""
    parts: list[str] = []
    version = dice.pick((*versions, 0)) if len(versions) > 1 else versions[0] if dice.chance(0.8) else 0
    proto = dice.pick(("tcp", "udp", None))
    if version:
        proto = _nft_address(dice, parts, version, direction, names, proto)
    elif len(versions) > 1 and dice.chance(0.2):
        parts.append(f"meta nfproto {dice.pick(('ipv4', 'ipv6'))}")
    if proto and not any("@pairs" in p for p in parts):
        _nft_ports(dice, parts, proto, names)
    if dice.chance(0.2):
        word = "iifname" if direction == "in" else "oifname"
        names_ = dice.pick(('"eth7"', '"ens8"', '"ens*"', '{ "eth7", "ens8" }'))
        parts.append(f"{word} {names_}")
    if direction == "in" and dice.chance(0.12):
        parts.append(dice.pick(("fib daddr type local", "fib daddr type != local", "fib daddr type unicast",
                                "fib saddr type unicast", "fib saddr type local")))  # fmt: skip
    if direction == "in" and dice.chance(0.1):
        parts.append("ct state new")
    return parts, proto


def _nft_address(
    dice: Dice, parts: list[str], version: int, direction: Direction, names: dict[str, str], proto: str | None
) -> str | None:
    """The remote address condition; the protocol, which a set of address . port pairs may settle."""
    side = "saddr" if direction == "in" else "daddr"
    fam = "ip6" if version == 6 else "ip"
    neg = "!= " if dice.chance(0.2) else ""
    roll = dice.rng.random()
    if f"nets{version}" in names and roll < 0.35:
        parts.append(f"{fam} {side} {neg}{names[f'nets{version}']}")
    elif "pairs" in names and version == 4 and direction == "in" and roll < 0.5:
        proto = proto or "tcp"
        parts.append(f"ip saddr . {proto} dport @pairs")
    elif roll < 0.65:
        nets = {dice.net(version) for _ in range(2)}
        parts.append(f"{fam} {side} {neg}{{ {', '.join(sorted(nets))} }}")
    else:
        parts.append(f"{fam} {side} {neg}{dice.net(version)}")
    return proto


def _nft_ports(dice: Dice, parts: list[str], proto: str, names: dict[str, str]) -> None:
    roll = dice.rng.random()
    if "ports" in names and roll < 0.2:
        parts.append(f"{proto} dport @ports")
    elif roll < 0.5:
        parts.append(f"{proto} dport {'!= ' if dice.chance(0.15) else ''}{dice.port()}")
    elif roll < 0.7:
        lo, hi = dice.port_range().split(":")
        parts.append(f"{proto} dport {lo}-{hi}")
    elif roll < 0.8:
        parts.append(f"meta l4proto {proto} th dport {dice.port()}")
    elif roll < 0.9:
        ports = sorted({dice.port() for _ in range(3)})
        parts.append(f"{proto} dport {{ {', '.join(map(str, ports))} }}")
    else:
        parts.append(f"{proto} dport < {dice.pick((1024, 6000, 7003))}")
    if dice.chance(0.1):
        parts.append(f"{proto} sport 53")
