"""The options of an iptables rule -> conditions (pure).

Understood exactly: -s/-d/-i/-o/-p/-f (with `!`), tcp/udp ports, --syn/--tcp-flags, multiport,
conntrack (states, original/reply addresses and ports, direction), state, addrtype, iprange,
set (ipset, against captured members), icmp/icmp6 types, pkttype, mark/connmark, comment, and
IPv6 rt/frag headers. Rate matches (limit, hashlimit, recent, connlimit) are `Rate`: decided for
a quiet source, with the other branch under load. Anything else (u32, string, owner, length,
statistic, policy, rpfilter, an option of a known module this model does not read) is `Unknown`
with the rule's words: an undecided region, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_portspec.firewall.ruleset import (
    Addr,
    Cond,
    Family,
    Iface,
    OnlyProto,
    Proto,
    Unknown,
)
from pytest_portspec.firewall.values import (
    MaskTooSparse,
    ValueProblem,
    addresses,
    protocol,
)
from pytest_portspec.firewall.xt_modules import ARITY, READERS, Option


class MatchReader:
    """The words of one rule, read left to right; `!` negates the option after it."""

    def __init__(self, words: list[str], family: Family) -> None:
        self.words, self.family, self.pos = words, family, 0

    def more(self) -> bool:
        return self.pos < len(self.words)

    def peek(self) -> str | None:
        return self.words[self.pos] if self.more() else None

    def option(self) -> tuple[bool, str]:
        negate = self.peek() == "!"
        if negate:
            self.pos += 1
        word = self.peek()
        if word is None or not word.startswith("-"):
            raise ValueProblem(f"expected an option, found {word!r}")
        self.pos += 1
        if self.peek() == "!" and word not in ("-j", "-g", "-m", "--jump", "--goto", "--match"):
            negate, self.pos = True, self.pos + 1  # old iptables: '-s ! 10.0.0.0/8'
        return negate, word

    def value(self, option: str) -> str:
        word = self.peek()
        if word is None:
            raise ValueProblem(f"{option} needs a value")
        self.pos += 1
        return word

    def values_until_option(self) -> list[str]:
        found = []
        while self.more() and not self.peek_is_option():
            found.append(self.value(""))
        return found

    def peek_is_option(self) -> bool:
        word = self.peek() or ""
        if word == "!":
            nxt = self.words[self.pos + 1] if self.pos + 1 < len(self.words) else ""
            return nxt.startswith("-")
        return word.startswith("-") and not word[1:2].isdigit()

    def rest_of_target(self) -> list[str]:
        """The target's options: up to a match written after it (iptables-restore input such as
        ufw's user.rules may say `-j RETURN -m limit ...`; iptables-save prints the target last)."""
        end = self.pos
        while end < len(self.words) and self.words[end] not in ("-m", "--match"):
            end += 1
        rest, self.pos = self.words[self.pos : end], end
        return rest


def _addr(side: str) -> Callable[[MatchReader, bool], Cond]:
    def read(reader: MatchReader, negate: bool) -> Cond:
        text = reader.value(side)
        try:
            values = addresses(text.split(","), reader.family)
        except MaskTooSparse as exc:
            return Unknown(f"{side} {text} ({exc})")
        return Addr("src" if side == "-s" else "dst", values, negate)

    return read


def _iface(side: str) -> Callable[[MatchReader, bool], Cond]:
    def read(reader: MatchReader, negate: bool) -> Cond:
        return Iface("in" if side == "-i" else "out", (reader.value(side),), negate)

    return read


def _proto(reader: MatchReader, negate: bool) -> Cond:
    name = protocol(reader.value("-p"))
    if name in ("all", "0"):
        return Proto(frozenset(), negate=not negate)  # "all": matches every protocol
    return Proto(frozenset({name}), negate)


def _fragment(reader: MatchReader, negate: bool) -> Cond:
    # a new flow's first packet is never a second or later fragment
    return OnlyProto(
        frozenset({"*"}) if negate else frozenset(), "! -f" if negate else "-f (a later fragment)"
    )


BASIC: dict[str, Callable[[MatchReader, bool], Cond]] = {
    "-s": _addr("-s"),
    "--source": _addr("-s"),
    "--src": _addr("-s"),
    "-d": _addr("-d"),
    "--destination": _addr("-d"),
    "--dst": _addr("-d"),
    "-i": _iface("-i"),
    "--in-interface": _iface("-i"),
    "-o": _iface("-o"),
    "--out-interface": _iface("-o"),
    "-p": _proto,
    "--protocol": _proto,
    "-f": _fragment,
    "--fragment": _fragment,
}


def read_module(reader: MatchReader, module: str) -> list[Cond]:
    """The options of `-m MODULE` (until the next option that is not the module's)."""
    arity = ARITY.get(module, {})
    options: list[Option] = []
    while reader.peek_is_option():
        start = reader.pos
        negate, option = reader.option()
        if option in arity:
            options.append((negate, option, [reader.value(option) for _ in range(arity[option])]))
        elif module not in ARITY and option.startswith("--"):
            options.append((negate, option, reader.values_until_option()))
        else:
            reader.pos = start  # a basic option, -m, -j: not this module's
            break
    words = " ".join(("! " if n else "") + " ".join([o, *v]) for n, o, v in options)
    if module not in READERS:
        return [Unknown(f"-m {module} {words}".strip())]
    return READERS[module](options, reader.family, f"-m {module} {words}".strip())
