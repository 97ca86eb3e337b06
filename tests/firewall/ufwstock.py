"""What the kernel holds after `ufw enable`, made from ufw's own files (`from ufwstock import ...`).

ufw's start (`src/ufw-init-functions`, ufw_start) loads, with `iptables-restore -n` for each
family: its primary chains and the jumps of INPUT/OUTPUT/FORWARD into them (before-logging,
before, after, after-logging, reject, track), the reject and track rules of its default
policies, the logging-deny/-allow and skip-to-policy chains, before.rules, after.rules, the
user chains and user.rules, the jumps of ufw-before-* into ufw-user-*, and last the built-in
chains' policies. `ufw_start` does the same with text and prints the result the way
iptables-save prints it (`-A` lines in canonical order: -s -d -i -o -p, then the matches with
the protocol's implicit match made explicit, then the target; addresses with a prefix length,
ICMP type names as numbers, REJECT's default --reject-with, limit rates in iptables' units),
so it can be compared with a real capture line for line.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import netaddr

PUBLIC = Path(__file__).resolve().parent.parent / "data" / "kernel" / "public"
UFW = PUBLIC / "ufw"
LAB = Path(__file__).resolve().parent.parent / "data" / "kernel" / "lab"
PROJECT_UFW = Path(__file__).resolve().parent.parent / "data" / "ufw"

BUILTINS = ("INPUT", "FORWARD", "OUTPUT")
PRIMARY = (
    "before-logging-input", "before-logging-output", "before-logging-forward",
    "before-input", "before-output", "before-forward",
    "after-input", "after-output", "after-forward",
    "after-logging-input", "after-logging-output", "after-logging-forward",
    "reject-input", "reject-output", "reject-forward",
    "track-input", "track-output", "track-forward",
)  # fmt: skip
HOOKED = ("before-logging", "before", "after", "after-logging", "reject", "track")
USER = (
    "user-input", "user-output", "user-forward", "user-logging-input", "user-logging-output",
    "user-logging-forward", "user-limit", "user-limit-accept",
)  # fmt: skip


def stock(name: str) -> str:
    """One of ufw's stock files (before.rules, after6.rules, user.rules, ufw.defaults, ...)."""
    return (UFW / name).read_text(encoding="utf-8")


def stock_defaults() -> dict[str, str]:
    """ufw.defaults: DEFAULT_INPUT_POLICY="DROP", ... -> {"input": "DROP", ...}."""
    found = re.findall(r'^DEFAULT_(INPUT|OUTPUT|FORWARD)_POLICY="(\w+)"', stock("ufw.defaults"), re.M)
    return {name.lower(): value for name, value in found}


# ---------------------------------------------------------------------------------------------
# iptables-restore -n, for the filter table


@dataclass
class Table:
    """The filter table as iptables-restore -n leaves it: chains in creation order, policies."""

    family: int
    policies: dict[str, str] = field(default_factory=lambda: dict.fromkeys(BUILTINS, "ACCEPT"))
    chains: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in BUILTINS})

    def restore(self, text: str) -> None:
        """One iptables-restore -n input: a declared user chain is created or flushed, a
        built-in chain's declaration sets its policy, `-A`/`-I` add canonical rules."""
        table = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                table = line[1:]
            elif line == "COMMIT":
                table = None
            elif table != "filter":
                raise ValueError(f"ufwstock reads the filter table only: {line!r}")
            elif line.startswith(":"):
                name, policy = line[1:].split()[:2]
                if name in BUILTINS:
                    self.policies[name] = policy
                else:
                    self.chains[name] = []  # created, or flushed (-n keeps other chains)
            else:
                command, chain, text_rule = canonical(line, self.family)
                if chain not in self.chains:
                    raise ValueError(f"rule for chain {chain}, which does not exist: {line!r}")
                if command == "-I":
                    self.chains[chain].insert(0, text_rule)
                else:
                    self.chains[chain].append(text_rule)

    def save(self) -> str:
        """iptables-save's text of the table (built-in chains first, then the others by name)."""
        order = [*BUILTINS, *sorted(c for c in self.chains if c not in BUILTINS)]
        lines = ["*filter"]
        lines += [f":{c} {self.policies[c]} [0:0]" if c in BUILTINS else f":{c} - [0:0]" for c in order]
        lines += [rule for c in order for rule in self.chains[c]]
        return "\n".join([*lines, "COMMIT", ""])


def ufw_start(
    user_rules: str,
    *,
    v6: bool = False,
    input_policy: str | None = None,
    output_policy: str | None = None,
    forward_policy: str | None = None,
    before: str | None = None,
    after: str | None = None,
) -> str:
    """The iptables-save (v6: ip6tables-save) text of the filter table after ufw's start with
    this user.rules (user6.rules); policies as ufw.conf spells them (DROP, ACCEPT, REJECT; the
    stock ufw.defaults when None); before/after: the stock before(6).rules / after(6).rules."""
    defaults = stock_defaults()
    policy = {
        "input": input_policy or defaults["input"],
        "output": output_policy or defaults["output"],
        "forward": forward_policy or defaults["forward"],
    }
    kind = "6" if v6 else ""
    p = f"ufw{kind}"
    table = Table(6 if v6 else 4)
    primary = [f":{p}-{name} - [0:0]" for name in PRIMARY]
    for hook in ("input", "output", "forward"):
        primary += [f"-A {hook.upper()} -j {p}-{stage}-{hook}" for stage in HOOKED]
    table.restore(_commit(primary))
    for hook in ("input", "output", "forward"):
        if policy[hook] == "REJECT":
            table.restore(_commit([f"-A {p}-reject-{hook} -j REJECT"]))
    for hook in ("input", "output", "forward"):
        if policy[hook] == "ACCEPT":
            table.restore(
                _commit(
                    [
                        f"-A {p}-track-{hook} -p {proto} -m conntrack --ctstate NEW -j ACCEPT"
                        for proto in ("tcp", "udp")
                    ]
                )
            )
    table.restore(_commit([f":{p}-logging-deny - [0:0]", f":{p}-logging-allow - [0:0]"]))
    skips = [f":{p}-skip-to-policy-{hook} - [0:0]" for hook in ("input", "output", "forward")]
    skips += [f"-A {p}-skip-to-policy-{hook} -j {policy[hook]}" for hook in ("input", "output", "forward")]
    table.restore(_commit(skips))
    table.restore(before if before is not None else stock(f"before{kind}.rules"))
    table.restore(after if after is not None else stock(f"after{kind}.rules"))
    table.restore(_commit([f":{p}-{name} - [0:0]" for name in USER]))
    table.restore(user_rules)
    table.restore(
        _commit([f"-A {p}-before-{hook} -j {p}-user-{hook}" for hook in ("input", "output", "forward")])
    )
    table.restore(
        _commit(
            [
                f":{hook.upper()} {'DROP' if policy[hook] == 'REJECT' else policy[hook]} [0:0]"
                for hook in ("input", "forward", "output")
            ]
        )
    )
    return table.save()


def user_chains(user_rules: str, *, v6: bool = False) -> str:
    """The iptables-save text of ufw's user chains alone, after loading this user.rules (a few
    rules to read, where the whole start is not needed)."""
    p = "ufw6" if v6 else "ufw"
    table = Table(6 if v6 else 4)
    table.restore(_commit([f":{p}-{name} - [0:0]" for name in USER]))
    table.restore(user_rules)
    return table.save()


def _commit(lines: Iterable[str]) -> str:
    return "\n".join(["*filter", *lines, "COMMIT", ""])


# ---------------------------------------------------------------------------------------------
# a rule as iptables-save prints it

# how many values each option takes, per match module (None: values until the next option)
_MATCH_OPTIONS: dict[str, dict[str, int]] = {
    "tcp": {"--dport": 1, "--destination-port": 1, "--sport": 1, "--source-port": 1, "--syn": 0,
            "--tcp-flags": 2},
    "udp": {"--dport": 1, "--destination-port": 1, "--sport": 1, "--source-port": 1},
    "icmp": {"--icmp-type": 1},
    "icmp6": {"--icmpv6-type": 1},
    "multiport": {"--dports": 1, "--destination-ports": 1, "--sports": 1, "--source-ports": 1, "--ports": 1},
    "conntrack": {"--ctstate": 1},
    "state": {"--state": 1},
    "limit": {"--limit": 1, "--limit-burst": 1},
    "recent": {"--set": 0, "--update": 0, "--rcheck": 0, "--remove": 0, "--seconds": 1, "--hitcount": 1,
               "--name": 1, "--mask": 1, "--rsource": 0, "--rdest": 0, "--rttl": 0, "--reap": 0},
    "comment": {"--comment": 1},
    "addrtype": {"--src-type": 1, "--dst-type": 1},
    "hl": {"--hl-eq": 1, "--hl-lt": 1, "--hl-gt": 1},
    "rt": {"--rt-type": 1},
}  # fmt: skip
_TARGET_OPTIONS: dict[str, dict[str, int]] = {
    "LOG": {"--log-prefix": 1, "--log-level": 1, "--log-tcp-sequence": 0, "--log-tcp-options": 0,
            "--log-ip-options": 0, "--log-uid": 0},
    "REJECT": {"--reject-with": 1},
}  # fmt: skip
_IMPLICIT = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmp6"}
_PROTOCOL_NAMES = {
    "icmpv6": "ipv6-icmp",
    "icmp6": "ipv6-icmp",
    "6": "tcp",
    "17": "udp",
    "1": "icmp",
    "58": "ipv6-icmp",
}
_ICMP = {
    "echo-reply": "0", "destination-unreachable": "3", "source-quench": "4", "redirect": "5",
    "echo-request": "8", "router-advertisement": "9", "router-solicitation": "10", "time-exceeded": "11",
    "parameter-problem": "12", "timestamp-request": "13", "timestamp-reply": "14",
}  # fmt: skip
_ICMP6 = {
    "destination-unreachable": "1", "packet-too-big": "2", "time-exceeded": "3", "parameter-problem": "4",
    "echo-request": "128", "echo-reply": "129", "router-solicitation": "133", "router-advertisement": "134",
    "neighbour-solicitation": "135", "neighbor-solicitation": "135", "neighbour-advertisement": "136",
    "neighbor-advertisement": "136", "redirect": "137",
}  # fmt: skip
_RATE_UNITS = {"s": "sec", "sec": "sec", "second": "sec", "m": "min", "min": "min", "minute": "min",
               "h": "hour", "hour": "hour", "d": "day", "day": "day"}  # fmt: skip
_BASIC = {"-s": "-s", "--source": "-s", "-d": "-d", "--destination": "-d", "-i": "-i", "--in-interface": "-i",
          "-o": "-o", "--out-interface": "-o", "-p": "-p", "--protocol": "-p"}  # fmt: skip
_NO_QUOTES = re.compile(r"^[A-Za-z0-9_.:/,=+@-]+$")


@dataclass
class _Part:
    name: str  # module or target name
    options: list[tuple[bool, str, list[str]]] = field(default_factory=list)


def canonical(line: str, family: int) -> tuple[str, str, str]:
    """An iptables-restore rule line (`-A CHAIN ...` / `-I CHAIN ...`) -> (command, chain, the
    `-A CHAIN ...` line iptables-save prints for it)."""
    words = shlex.split(line)
    command, chain, rest = words[0], words[1], words[2:]
    if command not in ("-A", "-I"):
        raise ValueError(f"ufwstock reads -A and -I lines only: {line!r}")
    if command == "-I" and rest and rest[0].isdigit():
        raise ValueError(f"ufwstock inserts at the head of a chain only: {line!r}")
    basics: dict[str, tuple[bool, str]] = {}
    matches: list[_Part] = []
    target: _Part | None = None
    implicit: str | None = None
    negate = False
    pos = 0

    def values(count: int | None) -> list[str]:
        nonlocal pos
        if count is None:
            found = []
            while pos < len(rest) and not rest[pos].startswith("-") and rest[pos] != "!":
                found.append(rest[pos])
                pos += 1
            return found
        found = rest[pos : pos + count]
        pos += count
        return found

    while pos < len(rest):
        word = rest[pos]
        pos += 1
        if word == "!":
            negate = True
            continue
        if word in _BASIC:
            value = rest[pos]
            pos += 1
            if _BASIC[word] == "-p":
                value = _PROTOCOL_NAMES.get(value.lower(), value.lower())
                implicit = _IMPLICIT.get(value)
            basics[_BASIC[word]] = (negate, value)
        elif word in ("-m", "--match"):
            matches.append(_Part(rest[pos]))
            pos += 1
        elif word in ("-j", "--jump"):
            target = _Part(rest[pos])
            pos += 1
        else:
            owner = _owner(word, target, matches, implicit)
            if owner is None:
                raise ValueError(f"ufwstock cannot tell which match {word} belongs to: {line!r}")
            if owner not in matches and owner is not target:
                matches.append(owner)
            table = _TARGET_OPTIONS if owner is target else _MATCH_OPTIONS
            owner.options.append((negate, word, values(table.get(owner.name, {}).get(word))))
        negate = False
    out = [f"-A {chain}"]
    for option in ("-s", "-d", "-i", "-o", "-p"):
        if option in basics:
            negated, value = basics[option]
            if option in ("-s", "-d"):
                value = _network(value)
            out.append(("! " if negated else "") + f"{option} {value}")
    for match in matches:
        out.append(f"-m {match.name}")
        out += _match_options(match, family)
    if target is not None:
        out.append(f"-j {target.name}")
        options = list(target.options)
        if target.name == "REJECT" and not options:
            default = "icmp-port-unreachable" if family == 4 else "icmp6-port-unreachable"
            options.append((False, "--reject-with", [default]))
        out += [_option(o) for o in options]
    return command, chain, " ".join(out)


def _network(text: str) -> str:
    """An address as iptables-save prints it: masked, with a prefix length, or with a dotted
    mask when the mask is not contiguous (`192.168.0.2/255.255.0.2`)."""
    address, _, mask = text.partition("/")
    if "." in mask:
        bits = int(netaddr.IPAddress(mask))
        length = bin(bits).count("1")
        if bits != (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF:
            return f"{netaddr.IPAddress(int(netaddr.IPAddress(address)) & bits)}/{mask}"
        text = f"{address}/{length}"
    return str(netaddr.IPNetwork(text).cidr)


def _owner(option: str, target: _Part | None, matches: list[_Part], implicit: str | None) -> _Part | None:
    if target is not None and option in _TARGET_OPTIONS.get(target.name, {}):
        return target
    for match in reversed(matches):
        if option in _MATCH_OPTIONS.get(match.name, {}):
            return match
    if implicit is not None and option in _MATCH_OPTIONS[implicit]:
        found = next((m for m in matches if m.name == implicit), None)
        return found or _Part(implicit)
    return None


def _match_options(match: _Part, family: int) -> list[str]:
    options = list(match.options)
    if match.name in ("tcp", "udp"):  # printed source port first
        side = {"--sport": 0, "--source-port": 0, "--dport": 1, "--destination-port": 1}
        options.sort(key=lambda o: side.get(o[1], 2))
    elif match.name in ("icmp", "icmp6"):
        names = _ICMP if match.name == "icmp" else _ICMP6
        options = [(n, o, [names.get(v[0], v[0])]) for n, o, v in options]
    elif match.name == "limit":
        options = [(n, o, [_rate(v[0])] if o == "--limit" else v) for n, o, v in options]
        options = [o for o in options if not (o[1] == "--limit-burst" and o[2] == ["5"])]
    elif match.name == "recent":
        options = _recent(options, family)
    return [_option(o) for o in options]


def _rate(text: str) -> str:
    number, _, unit = text.partition("/")
    return f"{number}/{_RATE_UNITS.get(unit, unit)}"


def _recent(options: list[tuple[bool, str, list[str]]], family: int) -> list[tuple[bool, str, list[str]]]:
    """iptables-save prints recent's defaults: --name DEFAULT, the full mask, --rsource."""
    names = {o for _, o, _ in options}
    order = ["--set", "--rcheck", "--update", "--remove", "--seconds", "--reap", "--hitcount", "--rttl",
             "--name", "--mask", "--rsource", "--rdest"]  # fmt: skip
    if "--name" not in names:
        options.append((False, "--name", ["DEFAULT"]))
    if "--mask" not in names:
        options.append((False, "--mask", ["255.255.255.255" if family == 4 else "ffff:" * 7 + "ffff"]))
    if not names & {"--rsource", "--rdest"}:
        options.append((False, "--rsource", []))
    return sorted(options, key=lambda o: order.index(o[1]) if o[1] in order else len(order))


def _option(option: tuple[bool, str, list[str]]) -> str:
    negate, name, values = option
    shown = [
        v if _NO_QUOTES.match(v) else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
    ]
    return " ".join([*(["!"] if negate else []), name, *shown])


# ---------------------------------------------------------------------------------------------
# user.rules texts


def keep_tuples(user_rules: str, keep: Callable[[str], bool]) -> str:
    """A user.rules text with only the `### tuple ###` blocks whose tuple line `keep` accepts
    (the lines outside tuple blocks stay: chain declarations, logging, rate limiting)."""
    out: list[str] = []
    keeping = True
    for line in user_rules.splitlines():
        if line.startswith("### tuple ###"):
            keeping = keep(line)
        elif line.startswith("###") or not line.strip():
            keeping = True
        if keeping:
            out.append(line)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Command:
    number: int
    command: str  # "allow 53", "limit daytime/tcp" (without --dry-run)
    rules: tuple[str, ...]  # the R lines (tuple comments and -A lines) ufw wrote for it


def transcript(name: str) -> dict[int, Command]:
    """ufw's functional-test transcript (tests/data/kernel/public/ufw/transcripts/NAME):
    command number -> the command and the user.rules lines ufw wrote for it."""
    found: dict[int, Command] = {}
    current: tuple[int, str] | None = None
    rules: list[str] = []
    for line in [*(UFW / "transcripts" / name).read_text(encoding="utf-8").splitlines(), "## end"]:
        if line.startswith("## "):
            if current is not None:
                found[current[0]] = Command(current[0], current[1], tuple(rules))
            head = re.match(r"## (\d+): (?:--dry-run )?(.*) \(rc=-?\d+\)$", line)
            current = (int(head.group(1)), head.group(2)) if head else None
            rules = []
        elif line.startswith("R "):
            rules.append(line[2:])
    return found


def user_rules(rule_lines: Iterable[str], *, v6: bool = False) -> str:
    """A user.rules (user6.rules) text holding these lines, with ufw's chains and its stock
    rate-limiting rules (conf/user.rules)."""
    p = "ufw6" if v6 else "ufw"
    heads = [f":{p}-{name} - [0:0]" for name in USER]
    tail = [line for line in stock(f"user{'6' if v6 else ''}.rules").splitlines() if line.startswith("-A ")]
    return "\n".join(
        ["*filter", *heads, "### RULES ###", *rule_lines, "### END RULES ###", *tail, "COMMIT", ""]
    )
