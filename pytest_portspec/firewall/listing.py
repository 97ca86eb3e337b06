"""`iptables -S` / `ip6tables -S` listings -> Ruleset (pure).

    parse_listing(text, family, table="filter", source="iptables -S") -> Ruleset

A listing is one table (`iptables -S -t nat`), or one chain of it (`iptables -S DOCKER`):
`-P CHAIN POLICY` for the built-in chains, `-N CHAIN` for the others, then `-A CHAIN ...` rules;
`iptables -S -v` adds counters (`-c PACKETS BYTES`), iptables-nft may print `# Warning: ...`
comments. The listing is rewritten as the iptables-save text of that one table (`*TABLE`, the
`:CHAIN POLICY [packets:bytes]` lines, the rules, `COMMIT`) and read by `parse_save`, so both
formats mean the same thing. Errors (RulesetError) and every rule's `where` name the line of the
listing, not of the rewritten text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection

from pytest_portspec.errors import RulesetError
from pytest_portspec.firewall.iptables import BUILTIN, parse_save
from pytest_portspec.firewall.ruleset import Chain, Family, Rule, Ruleset

_COUNTERS = re.compile(r"(?:^|\s)(?:-c|--set-counters)\s+(\d+)\s+(\d+)(?=\s|$)")
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'")
_LINE = re.compile(r"\bline (\d+)\b")
_POLICIES = ("ACCEPT", "DROP")


def parse_listing(text: str, family: Family, table: str = "filter", source: str = "iptables -S") -> Ruleset:
    """The chains of one table from its `iptables -S` listing. Raises RulesetError naming the
    listing's line for a line that is not `-P`, `-N` or `-A` (nor a comment), a policy of a
    chain that is not built in, a chain declared twice, and whatever `parse_save` refuses."""
    if table not in BUILTIN:
        raise RulesetError(source, "", f"unknown table {table!r} (one of {', '.join(BUILTIN)})")
    builtin = BUILTIN[table]
    declared: dict[str, int] = {}
    heads: list[tuple[int, str]] = []  # (listing line, save line): the chain lines
    rules: list[tuple[int, str]] = []
    last = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        last = number
        where = f"line {number}, table {table}"
        if line.split()[0] in ("-A", "--append"):
            rules.append((number, _without_counters(line)[1]))
            continue
        chain, head = _chain_head(line, builtin, table, source, where)
        _declare(declared, chain, number, source, where)
        heads.append((number, head))
    origin = [0, *(n for n, _ in heads), *(n for n, _ in rules), last]  # save line i+1 -> listing line
    save = "\n".join([f"*{table}", *(s for _, s in heads), *(s for _, s in rules), "COMMIT"]) + "\n"
    return _parse_relined(save, family, source, origin)


def _chain_head(line: str, builtin: Collection[str], table: str, source: str, where: str) -> tuple[str, str]:
    """A `-P` or `-N` line of the listing as (its chain, the iptables-save line declaring it)."""
    words = line.split()
    if words[0] in ("-P", "--policy"):
        counters, rest = _without_counters(line)
        words = rest.split()
        if len(words) != 3 or words[2] not in _POLICIES:
            raise RulesetError(source, where, f"cannot read the policy line {line[:80]!r}")
        chain = words[1]
        if chain not in builtin:
            raise RulesetError(
                source, where, f"-P for chain {chain}, which is not a built-in chain of table {table}"
            )
        return chain, f":{chain} {words[2]} [{counters[0]}:{counters[1]}]"
    if words[0] in ("-N", "--new-chain", "--new"):
        if len(words) != 2:
            raise RulesetError(source, where, f"cannot read the chain line {line[:80]!r}")
        chain = words[1]
        if chain in builtin:
            raise RulesetError(source, where, f"-N for {chain}, a built-in chain of table {table}")
        return chain, f":{chain} - [0:0]"
    raise RulesetError(source, where, f"expected -P, -N or -A, found {line[:80]!r}")


def _parse_relined(save: str, family: Family, source: str, origin: list[int]) -> Ruleset:
    """`parse_save` of the rewritten text, its errors and rules naming the listing's lines."""
    try:
        ruleset = parse_save(save, family, source)
    except RulesetError as exc:
        message = str(exc).removeprefix(f"{exc.source}: {exc.where}: " if exc.where else f"{exc.source}: ")
        raise RulesetError(exc.source, _relined(exc.where, origin), message) from None
    return Ruleset(
        ruleset.family,
        {key: _chain_relined(chain, origin) for key, chain in ruleset.chains.items()},
        ruleset.sets,
        ruleset.sources,
        ruleset.problems,
    )


def _declare(declared: dict[str, int], chain: str, number: int, source: str, where: str) -> None:
    if chain in declared:
        raise RulesetError(source, where, f"chain {chain} is declared twice (line {declared[chain]} too)")
    declared[chain] = number


def _without_counters(line: str) -> tuple[tuple[str, str], str]:
    """The counters `-c PACKETS BYTES` of a line (outside quoted strings) and the line without them."""
    found = ("0", "0")
    out: list[str] = []
    start = 0
    for quoted in [*_QUOTED.finditer(line), None]:
        end = quoted.start() if quoted else len(line)
        plain = line[start:end]
        match = _COUNTERS.search(plain)
        if match:
            found = (match.group(1), match.group(2))
            plain = plain[: match.start()] + " " + plain[match.end() :].lstrip()
        out.append(plain)
        if quoted:
            out.append(quoted.group(0))
            start = quoted.end()
    return found, "".join(out).strip()


def _relined(text: str, origin: list[int]) -> str:
    def swap(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return f"line {origin[index]}" if 0 <= index < len(origin) else match.group(0)

    return _LINE.sub(swap, text)


def _chain_relined(chain: Chain, origin: list[int]) -> Chain:
    rules: tuple[Rule, ...] = tuple(
        dataclasses.replace(r, where=_relined(r.where, origin)) for r in chain.rules
    )
    return dataclasses.replace(chain, rules=rules, where=_relined(chain.where, origin))
