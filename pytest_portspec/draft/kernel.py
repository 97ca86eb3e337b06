"""Rows for what the kernel lets in beyond every other drafted row (pure): a raw iptables or nft
accept, a DNAT, a rule ufw does not list. Asked of the kernel model as the default-policy check asks
it (firewall/questions.opened: every remote, every interface but loopback's own traffic, both
families), outside the ports the listener and ufw rows already name; one row per deciding rule.
ufw's stock accepts (a DHCP client's replies) are left out as that check leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_portspec.checks.context import Facts
from pytest_portspec.checks.defaults import STOCK_UFW
from pytest_portspec.draft.rows import Drafted, observed
from pytest_portspec.firewall.evaluate import Decided
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.questions import describe, opened
from pytest_portspec.firewall.ruleset import Family, Rule
from pytest_portspec.firewall.space import DPORT, L4

PROTOS: tuple[L4, ...] = ("tcp", "udp")
MAX_RANGES = 16  # ranges listed in one row; a rule opening more is one row of its whole span


def kernel_rows(facts: Facts, drafted: Iterable[Drafted]) -> list[Drafted]:
    model = facts.kernel
    if model is None:
        return []
    rows = []
    drafted = list(drafted)
    for proto in PROTOS:
        sure, _, why = opened(model, "in", proto, _documented(drafted, proto))
        if why is not None:
            continue
        by_rule: dict[str, list[tuple[Family, Decided]]] = {}
        for family, part in sure:
            if not _stock(part) and part.box[DPORT]:
                by_rule.setdefault(part.decider(), []).append((family, part))
        for parts in by_rule.values():
            ports = Intervals()
            for _, part in parts:
                ports = ports | part.box[DPORT]
            ports = ports - Intervals.of((0, 0))  # port 0 is no port a spec can name
            if ports:
                lines = [f"kernel: {line}" for line in describe(model, "in", proto, parts)]
                rows.append(_row(proto, ports, lines))
    return rows


def _row(proto: L4, ports: Intervals, lines: list[str]) -> Drafted:
    spans = list(ports)
    if len(spans) > MAX_RANGES:
        spans = [(spans[0][0], spans[-1][1])]
    values: list[object] = [lo if lo == hi else f"{lo}-{hi}" for lo, hi in spans]
    label = str(values[0]) if len(values) == 1 else f"{spans[0][0]}-{spans[-1][1]}"
    return Drafted(
        ("in", "external", spans[0][0], proto),
        {
            "id": f"kernel-{label}-{proto}",
            "service": "let in by a kernel rule outside ufw's rules and the listeners",
            "direction": "in",
            "proto": proto,
            "ports": values[0] if len(values) == 1 else values,
            "action": "allow",
            "listener": "permitted",
            "citation": observed(*lines),
        },
    )


def _documented(drafted: list[Drafted], proto: str) -> Intervals:
    """The ports of the drafted inbound external rows of this protocol."""
    found = Intervals()
    for d in drafted:
        row = d.data
        if d.order[:2] != ("in", "external") or row["proto"] not in (proto, "both"):
            continue
        ports = row["ports"]
        for value in ports if isinstance(ports, list) else [ports]:
            lo, _, hi = str(value).partition("-")
            found = found | Intervals.of((int(lo), int(hi or lo)))
    return found


def _stock(part: Decided) -> bool:
    step = part.step
    return isinstance(step, Rule) and step.text in STOCK_UFW
