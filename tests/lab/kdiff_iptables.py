"""Raw iptables/ip6tables commands of a kernel differential rule set, around ufw's chains.

Inserted above, between and after ufw's rules, user chains with RETURN/jump/goto, multiport,
iprange, `!`, conntrack, addrtype, policies, halves of the address space, rules that add up,
raw/mangle/security tables, OUTPUT, and a few the model cannot decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kdiff_addresses import FIXED_SPORTS, HALVES, IPT_IFACES, PAIRS, V4_RANGES, V6_RANGES
from kdiff_rules import Dice, RuleSet

Counts = dict[tuple[int, str, str], int]  # (version, table, chain) -> rules in it so far


def raw_rules(dice: Dice, rules: RuleSet, counts: Counts) -> None:
    """One or a few commands of one kind, added to the rule set's shell commands."""
    version = 6 if dice.chance(0.35) else 4
    ufw_chains = rules.ufw_enabled and (version == 4 or rules.ipv6)
    kind = dice.pick(("input",) * 6 + ("ufw-chain", "policy", "half", "add-up", "add-up", "user-chain",
                      "user-chain", "output", "output", "tables", "tables", "odd"))  # fmt: skip
    if kind == "ufw-chain" and not ufw_chains:
        kind = "input"
    _KINDS[kind](_Raw(dice, rules.shell, counts, version))


@dataclass
class _Raw:
    """The commands of one kind being drawn: with which dice, into which list, for which IP version."""

    dice: Dice
    out: list[str]
    counts: Counts
    version: int

    @property
    def tool(self) -> str:
        return "ip6tables" if self.version == 6 else "iptables"

    @property
    def ufw6(self) -> str:
        return "ufw6" if self.version == 6 else "ufw"


def _input(raw: _Raw) -> None:
    dice, version = raw.dice, raw.version
    words, proto = _matches(dice, version, "INPUT")
    raw.out.append(
        " ".join(
            [raw.tool, *_where(dice, raw.counts, version, "INPUT"), *words, *_target(dice, version, proto)]
        )
    )


def _ufw_chain(raw: _Raw) -> None:
    dice, version = raw.dice, raw.version
    chain = dice.pick((f"{raw.ufw6}-user-input", f"{raw.ufw6}-before-input", f"{raw.ufw6}-after-input"))
    words, proto = _matches(dice, version, chain)
    raw.out.append(" ".join([raw.tool, "-I", chain, "1", *words, *_target(dice, version, proto)]))


def _policy(raw: _Raw) -> None:
    raw.out.append(f"{raw.tool} -P INPUT {raw.dice.pick(('ACCEPT', 'ACCEPT', 'DROP'))}")


def _half(raw: _Raw) -> None:
    dice, version = raw.dice, raw.version
    half = dice.pick(HALVES[version])
    words = ["-p", dice.pick(("tcp", "udp")), "--dport", str(dice.port())] if dice.chance(0.5) else []
    target = dice.pick((["-j", "DROP"], ["-j", "REJECT"]))
    raw.out.append(
        " ".join([raw.tool, *_where(dice, raw.counts, version, "INPUT"), "-s", half, *words, *target])
    )


def _add_up(raw: _Raw) -> None:
    dice, version = raw.dice, raw.version
    proto = dice.pick(("tcp", "udp"))
    port = str(dice.port()) if dice.chance(0.7) else dice.port_range()
    target = _target(dice, version, proto, accept=0.6)
    where = ["-I", "INPUT", "1"] if dice.chance(0.7) else ["-A", "INPUT"]
    for part in dice.pick(PAIRS[version]):
        raw.out.append(" ".join([raw.tool, *where, "-s", part, "-p", proto, "--dport", port, *target]))
    raw.counts[(version, "filter", "INPUT")] += 2


def _user_chain(raw: _Raw) -> None:
    dice, version, tool, out = raw.dice, raw.version, raw.tool, raw.out
    dice.chains += 1
    name = f"KD{dice.chains}"
    out.append(f"{tool} -N {name}")
    for _ in range(dice.rng.randint(1, 4)):
        roll = dice.rng.random()
        if roll < 0.3:
            out.append(f"{tool} -A {name} -s {dice.net(version)} -j RETURN")
        elif roll < 0.4 and dice.chains > 1:
            previous = f"KD{dice.rng.randint(1, dice.chains - 1)}"
            if f"{tool} -N {previous}" in out:
                out.append(f"{tool} -A {name} -p {dice.pick(('tcp', 'udp'))} -j {previous}")
        else:
            words, proto = _matches(dice, version, name)
            out.append(" ".join([tool, "-A", name, *words, *_target(dice, version, proto)]))
    jump = dice.pick(("-j", "-j", "-g"))
    words, _ = _matches(dice, version, "INPUT") if dice.chance(0.6) else ([], None)
    out.append(" ".join([tool, *_where(dice, raw.counts, version, "INPUT"), *words, jump, name]))


def _output(raw: _Raw) -> None:
    dice, version = raw.dice, raw.version
    words, proto = _matches(dice, version, "OUTPUT")
    # NEW only: the answers of inbound connections (and REJECT's own answers) must get out
    state = ["-m", "conntrack", "--ctstate", "NEW"] if "NEW" not in words else []
    target = _target(dice, version, proto, accept=0.25)
    raw.out.append(
        " ".join([raw.tool, *_where(dice, raw.counts, version, "OUTPUT"), *words, *state, *target])
    )


def _other_table(raw: _Raw) -> None:
    dice, version = raw.dice, raw.version
    table, chain = dice.pick(
        (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("mangle", "INPUT"), ("mangle", "OUTPUT"),
         ("security", "INPUT"))
    )  # fmt: skip
    words, _ = _matches(dice, version, chain, table)
    if chain == "OUTPUT" and "NEW" not in words:
        words += ["-m", "conntrack", "--ctstate", "NEW"]
    target = dice.pick((["-j", "DROP"], ["-j", "DROP"], ["-j", "ACCEPT"]))
    where = _where(dice, raw.counts, version, chain, table)
    raw.out.append(" ".join([raw.tool, "-t", table, *where, *words, *target]))


def _odd(raw: _Raw) -> None:
    """What the model cannot decide (unknown), or decides for a quiet source (rates)."""
    dice, version, tool, out = raw.dice, raw.version, raw.tool, raw.out
    port = str(dice.port())
    choice = dice.rng.randint(0, 4)
    if choice == 0:
        out.append(
            f"{tool} -I INPUT -p tcp --dport {port} -m statistic --mode random --probability 0.5 -j DROP"
        )
    elif choice == 1:
        out.append(f"{tool} -t mangle -I PREROUTING -p udp --dport {port} -j MARK --set-mark 7")
        out.append(f"{tool} -I INPUT -m mark --mark 7 -j DROP")
    elif choice == 2:
        out.append(
            f"{tool} -I INPUT -p tcp --dport {port} -m limit --limit 1000/sec --limit-burst 2000 -j ACCEPT"
        )
    elif choice == 3:
        out.append(
            f"{tool} -I INPUT -p udp --dport {port} -m hashlimit --hashlimit-upto 1000/sec "
            f"--hashlimit-burst 2000 --hashlimit-name kd{version}{port} -j ACCEPT"
        )
    else:
        out.append(f"{tool} -I OUTPUT -p tcp --dport {port} -m owner --uid-owner 4242 -j DROP")
    raw.counts[(version, "filter", "OUTPUT" if choice == 4 else "INPUT")] += 1


_KINDS: dict[str, Callable[[_Raw], None]] = {
    "input": _input,
    "ufw-chain": _ufw_chain,
    "policy": _policy,
    "half": _half,
    "add-up": _add_up,
    "user-chain": _user_chain,
    "output": _output,
    "tables": _other_table,
    "odd": _odd,
}


def _matches(dice: Dice, version: int, chain: str, table: str = "filter") -> tuple[list[str], str | None]:
    """Random conditions of an iptables rule: (words, protocol)."""
    proto = dice.pick(("tcp", "udp", "tcp", None))
    inbound = chain in ("INPUT", "PREROUTING") or chain.startswith(("KD", "ufw"))
    words = _protocol_words(dice, proto)
    words += _address_words(dice, version, inbound)
    words += _other_words(dice, chain, table, inbound)
    return words, proto


def _protocol_words(dice: Dice, proto: str | None) -> list[str]:
    words: list[str] = []
    if proto:
        words += ["-p", proto]
        roll = dice.rng.random()
        if roll < 0.42:
            words += ["--dport", str(dice.port())]
        elif roll < 0.56:
            words += ["--dport", dice.port_range()]
        elif roll < 0.7:
            words += ["-m", "multiport", "--dports", dice.port_list()]
        elif roll < 0.75:
            words += ["-m", "multiport", "--ports", f"{dice.pick(FIXED_SPORTS)},{dice.port()}"]  # either end
        elif roll < 0.85:
            words += ["--sport", dice.pick(("53", "1024:65535", "123", "0:1023"))]
        if proto == "tcp" and dice.chance(0.1):
            words += dice.pick((["--syn"], ["--tcp-flags", "SYN,ACK", "SYN"], ["!", "--syn"]))
    elif dice.chance(0.1):
        words += ["!", "-p", dice.pick(("tcp", "udp"))]
    return words


def _address_words(dice: Dice, version: int, inbound: bool) -> list[str]:
    words: list[str] = []
    remote = "-s" if inbound else "-d"
    roll = dice.rng.random()
    if roll < 0.3:
        words += [remote, dice.net(version)]
    elif roll < 0.4:
        words += ["!", remote, dice.net(version)]
    elif roll < 0.5:
        side = "--src-range" if inbound else "--dst-range"
        neg = ["!"] if dice.chance(0.3) else []
        words += ["-m", "iprange", *neg, side, dice.pick(V6_RANGES if version == 6 else V4_RANGES)]
    if dice.chance(0.15):
        words += (
            ["!", "-d", dice.own(version)]
            if inbound and dice.chance(0.3)
            else ["-d" if inbound else "-s", dice.own(version)]
        )
    return words


def _other_words(dice: Dice, chain: str, table: str, inbound: bool) -> list[str]:
    words: list[str] = []
    if dice.chance(0.25):
        flag = "-i" if inbound else "-o"
        if chain == "OUTPUT" or chain == "POSTROUTING":
            flag = "-o"
        words += (["!"] if dice.chance(0.25) else []) + [flag, dice.pick(IPT_IFACES)]
    if table != "raw" and dice.chance(0.25):
        words += dice.pick((["-m", "conntrack", "--ctstate", "NEW"], ["-m", "state", "--state", "NEW"],
                            ["-m", "conntrack", "--ctstate", "NEW,ESTABLISHED"]))  # fmt: skip
    if dice.chance(0.15):
        side, neg, kind = dice.pick(
            (("--dst-type", [], "LOCAL"), ("--src-type", [], "LOCAL"), ("--src-type", ["!"], "LOCAL"),
             ("--dst-type", [], "UNICAST"))
        )  # fmt: skip
        words += ["-m", "addrtype", *neg, side, kind]
    if dice.chance(0.08):
        words += ["-m", "comment", "--comment", '"kernel diff"']
    if dice.chance(0.04):
        words += ["-m", "pkttype", "--pkt-type", dice.pick(("unicast", "broadcast"))]
    return words


def _target(dice: Dice, version: int, proto: str | None, accept: float = 0.4) -> list[str]:
    roll = dice.rng.random()
    if roll < accept:
        return ["-j", "ACCEPT"]
    if roll < accept + (1 - accept) * 0.55:
        return ["-j", "DROP"]
    options: list[list[str]] = [[]] + ([["--reject-with", "tcp-reset"]] if proto == "tcp" else [])
    options.append(["--reject-with", "icmp6-adm-prohibited" if version == 6 else "icmp-host-prohibited"])
    return ["-j", "REJECT", *dice.pick(options)]


def _where(dice: Dice, counts: Counts, version: int, chain: str, table: str = "filter") -> list[str]:
    key = (version, table, chain)
    count = counts.get(key, 0)
    roll = dice.rng.random()
    counts[key] = count + 1
    if roll < 0.45 or count == 0:
        return ["-I", chain] if roll < 0.3 or count == 0 else ["-I", chain, "1"]
    if roll < 0.7:
        return ["-A", chain]
    return ["-I", chain, str(dice.rng.randint(1, count + 1))]
