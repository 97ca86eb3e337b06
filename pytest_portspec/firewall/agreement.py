"""Where ufw's view and the kernel disagree (pure).

    disagreements(ufw_state, {False: user.rules, True: user6.rules}, model) -> [Finding]

The verdicts come from the kernel; ufw's files and `ufw status` are the operator's view of it.
When the two differ (ufw reports inactive while the kernel filters, a hand edit, a rule outside
ufw's chains, a Docker or fail2ban chain, a tuple comment that says deny over an ACCEPT line,
a chain policy changed with `iptables -P`), the report shows it as a finding of its own with
both sides quoted, so a reviewer sees why the verdict is not what `ufw status` suggests.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_portspec.firewall.evaluate import Decided
from pytest_portspec.firewall.iptables import read_options
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.questions import describe
from pytest_portspec.firewall.ruleset import Chain, Family, Rule, Ruleset
from pytest_portspec.firewall.space import DPORT, L4, Direction
from pytest_portspec.firewall.ufw_view import Packet, decide
from pytest_portspec.parse.ufw import UfwState

MAX_FINDINGS = 12
_TARGETS = {"allow": "accept", "limit": "accept", "deny": "drop", "reject": "reject"}
_FAMILIES: tuple[Family, ...] = (4, 6)
_FLOWS: tuple[tuple[Direction, L4], ...] = (("in", "tcp"), ("in", "udp"), ("out", "tcp"), ("out", "udp"))


@dataclass(frozen=True)
class Finding:
    what: str  # one sentence
    ufw: str  # ufw's side, quoted
    kernel: str  # the kernel's side, quoted

    def as_dict(self) -> dict[str, str]:
        return {"finding": self.what, "ufw": self.ufw, "kernel": self.kernel}


def disagreements(
    ufw: UfwState | None, user_rules: dict[bool, str | None], model: KernelModel
) -> list[Finding]:
    found: list[Finding] = []
    for family in _FAMILIES:
        ruleset = model.rulesets.get(family)
        if ruleset is None:
            continue
        found += _activity(ufw, ruleset)
        found += _outside_ufw(ruleset)
        v6 = family == 6
        text = user_rules.get(v6)
        if ufw is not None and ufw.active and text:
            found += _user_chains(text, ruleset, v6)
            found += _tuples(text, v6)
    if ufw is not None and ufw.active:
        found += _ports(ufw, model)
    return list(dict.fromkeys(found))[:MAX_FINDINGS]


def _prefix(ruleset: Ruleset) -> str:
    return "ufw6" if ruleset.family == 6 else "ufw"


def _activity(ufw: UfwState | None, ruleset: Ruleset) -> list[Finding]:
    entry = ruleset.chains.get(("filter", "INPUT"))
    jumps = entry is not None and any(
        r.target.chain == f"{_prefix(ruleset)}-before-input" for r in entry.rules
    )
    family = f"IPv{ruleset.family}"
    if ufw is not None and ufw.active and not jumps:
        return [
            Finding(
                f"ufw reports active, but the kernel's {family} INPUT chain does not pass through ufw's "
                "chains",
                "Status: active",
                _chain_text(entry),
            )
        ]
    if ufw is not None and not ufw.active and jumps:
        return [
            Finding(
                f"ufw reports inactive, but ufw's chains still filter {family} in the kernel",
                "Status: inactive",
                _chain_text(entry),
            )
        ]
    return []


def _chain_text(chain: Chain | None) -> str:
    if chain is None:
        return "no filter INPUT chain"
    lines = [f":{chain.name} {(chain.policy or '-').upper()}"] + [r.text for r in chain.rules[:4]]
    return " | ".join(lines)


def _outside_ufw(ruleset: Ruleset) -> list[Finding]:
    """Rules that decide something and are not ufw's: raw rules in the built-in chains, other
    tables, other programs' chains (Docker, fail2ban), native nftables tables."""
    prefix = _prefix(ruleset)
    found: list[Finding] = []
    for chain in ruleset.chains.values():
        mine = chain.table == "filter" and chain.name.startswith(prefix)
        if mine or chain.hook in ("forward",):
            continue
        foreign = [r for r in chain.rules if r.target.kind != "continue" and not _ufw_jump(r, prefix)]
        if chain.hook is not None and chain.policy == "accept" and chain.table != "filter" and not foreign:
            continue
        if foreign:
            found.append(
                Finding(
                    f"{len(foreign)} rule(s) outside ufw in {chain.label} decide traffic",
                    "ufw does not list them",
                    " | ".join(r.text for r in foreign[:3]),
                )
            )
    return found


def _ufw_jump(rule: Rule, prefix: str) -> bool:
    return rule.target.kind == "jump" and (rule.target.chain or "").startswith(prefix) and not rule.conds


def _user_chains(text: str, ruleset: Ruleset, v6: bool) -> list[Finding]:
    """The user chains in the kernel hold exactly the `-A` lines of user.rules (ufw loads them)."""
    name = "user6.rules" if v6 else "user.rules"
    found = []
    for chain_name in (f"{_prefix(ruleset)}-user-input", f"{_prefix(ruleset)}-user-output"):
        wanted = [line for line in text.splitlines() if line.startswith(f"-A {chain_name} ")]
        chain = ruleset.chains.get(("filter", chain_name))
        live = list(chain.rules) if chain is not None else []
        for index in range(max(len(wanted), len(live))):
            mine = wanted[index] if index < len(wanted) else None
            theirs = live[index] if index < len(live) else None
            if mine is None or theirs is None or not _same(mine, theirs, ruleset):
                found.append(
                    Finding(
                        f"{chain_name} in the kernel differs from /etc/ufw/{name} at rule {index + 1}",
                        mine or "(no such rule)",
                        theirs.text if theirs else "(no such rule)",
                    )
                )
                break
    return found


def _same(line: str, rule: Rule, ruleset: Ruleset) -> bool:
    import shlex

    chains = {name for table, name in ruleset.chains if table == "filter"}
    try:
        conds, target = read_options(shlex.split(line)[2:], ruleset.family, chains)
    except ValueError:
        return False
    return (
        set(conds) == set(rule.conds)
        and target.kind == rule.target.kind
        and target.chain == rule.target.chain
    )


def _tuples(text: str, v6: bool) -> list[Finding]:
    """A tuple comment (what `ufw status` lists) whose own -A line does something else."""
    found = []
    tuple_line: str | None = None
    for line in text.splitlines():
        if line.startswith("### tuple ###"):
            tuple_line = line
        elif line.startswith("-A ") and tuple_line is not None:
            action = tuple_line.split()[3].split("_")[0]
            target = line.rsplit("-j ", 1)[-1].split()[0].upper()
            kind = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject"}.get(target)
            if kind is not None and _TARGETS.get(action) != kind:
                found.append(
                    Finding(
                        f"a rule of /etc/ufw/{'user6' if v6 else 'user'}.rules says {action} in its "
                        f"tuple but {target} in the rule the kernel loads",
                        tuple_line,
                        line,
                    )
                )
            tuple_line = None
    return found


def _ports(ufw: UfwState, model: KernelModel) -> list[Finding]:
    """Ports where ufw's view (from anywhere) and the kernel (from any address) decide differently."""
    found: list[Finding] = []
    for family in _FAMILIES:
        if not model.has_family(family) or (family == 6 and not ufw.ipv6):
            continue
        for direction, proto in _FLOWS:
            decided = model.decided(family, direction, proto)
            if isinstance(decided, str):
                continue
            found += _port_mismatches(ufw, model, family, direction, proto, decided)
    return found


def _port_mismatches(
    ufw: UfwState, model: KernelModel, family: Family, direction: Direction, proto: L4, decided: list[Decided]
) -> list[Finding]:
    edges = {0, 65535}
    for part in decided:
        for lo, hi in part.box[DPORT]:
            edges |= {lo, hi + 1 if hi < 65535 else hi}
    for rule in ufw.rules:
        for r in rule.dports:
            edges |= {r.lo, r.hi + 1 if r.hi < 65535 else r.hi}
    found: list[Finding] = []
    for port in sorted(edges):
        if port == 0:
            continue
        view = decide(ufw, Packet(direction, proto, port, v6=family == 6))
        if view.partial:
            continue  # ufw itself says "some of it": no clear view to hold the kernel against
        opened = [
            p for p in decided if port in p.box[DPORT] and p.outcome in ("accept", "forward") and p.definite
        ]
        if bool(opened) != view.permitted:
            kernel = describe(model, direction, proto, [(family, p) for p in opened][:1]) if opened else []
            found.append(
                Finding(
                    f"ufw's view and the kernel disagree on {direction}bound {port}/{proto} (IPv{family})",
                    view.reason,
                    kernel[0] if kernel else f"no new {direction}bound flow gets through",
                )
            )
            if len(found) >= 3:
                break
    return found
